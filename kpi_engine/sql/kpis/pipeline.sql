-- KPI 3, opportunity pipeline (reporting currency), measured at the instant t = period end
-- (or --as-of when earlier). A deal is open at t when created_at < t and (it is not closed, or
-- close_date >= date(t)).
--   pipeline_open_count      = deals open at t                         (n = the count)
--   pipeline_open_amount     = their amounts (NULL / no-rate skipped)  (n = deals with an amount)
--   pipeline_weighted_amount = sum of amount x probability of the stage the deal was in at t:
--                              the latest stage_history row with entered_at < t (its stage in
--                              the pipeline the row names, else the deal's); with no such row,
--                              the current stage if the deal is still open today (a closed deal
--                              dated today or later is: open until that day; a won one weighs
--                              amount x its stage's probability, 1.0), else the deal is left
--                              out (and not counted in n); NULL (unknown, not 0) when deals with
--                              an amount are open at t and none has a stage known at t (n = 0)
--   pipeline_created_amount  = amounts of deals created in P           (n = deals with an amount)
-- The open pipeline at every period boundary is computed once for all grains, by events and
-- running sums over the boundaries, in steps/open_pipeline.sql (pipe_all); pipe_at keeps this
-- grain's boundaries: (t, mid, open_count, open_amount, open_amount_n, weighted_amount,
-- weighted_n) for every member with a deal open at t. pipeline_created_amount is summed per
-- month in steps/attribution.sql (att_created).
-- pipeline_change is derived (pipeline_change.sql) from pipe_at; members.sql reads it too.
-- step: pipeline
-- scope: grain
-- reads: pipe_all, periods, att_created
-- creates: pipe_at, fam_pipeline_end, fam_pipeline_created
CREATE OR REPLACE TEMP TABLE pipe_at AS
SELECT a.*
FROM pipe_all a
WHERE a.t IN (SELECT t_end FROM periods UNION SELECT t_start FROM periods);

CREATE OR REPLACE TEMP TABLE fam_pipeline_end AS
SELECT p.period_start, a.mid,
       open_count AS pipeline_open_count, open_count AS pipeline_open_count_n,
       open_amount AS pipeline_open_amount, open_amount_n AS pipeline_open_amount_n,
       CASE WHEN weighted_n > 0 OR open_amount_n = 0 THEN weighted_amount END
           AS pipeline_weighted_amount,
       weighted_n AS pipeline_weighted_amount_n
FROM pipe_at a
JOIN periods p ON p.t_end = a.t;

CREATE OR REPLACE TEMP TABLE fam_pipeline_created AS
SELECT period_start, mid,
       coalesce(created_amount, 0) AS pipeline_created_amount,
       created_amount_n AS pipeline_created_amount_n
FROM att_created;
