-- KPI 3, opportunity pipeline (reporting currency), measured at the instant t = period end
-- (or --as-of when earlier). A deal is open at t when created_at < t and (it is not closed, or
-- close_date >= date(t)).
--   pipeline_open_count      = deals open at t                         (n = the count)
--   pipeline_open_amount     = their amounts (NULL / no-rate skipped)  (n = deals with an amount)
--   pipeline_weighted_amount = sum of amount x probability of the stage the deal was in at t:
--                              the latest stage_history row with entered_at < t; with no such row,
--                              the current stage if the deal is still open, else the deal is left
--                              out (and not counted in n)
--   pipeline_created_amount  = amounts of deals created in P           (n = deals with an amount)
-- pipeline_change is derived (pipeline_change.sql) from pipe_at.
CREATE OR REPLACE TEMP TABLE pipe_at AS
WITH staged AS (
    SELECT o.*, h.stage AS history_stage
    FROM open_at o
    ASOF LEFT JOIN stage_history h
      ON h.source = o.source AND h.deal_id = o.deal_id AND o.t > h.entered_at
),
weighted AS (
    SELECT s.*, st.probability
    FROM staged s
    LEFT JOIN stages st
      ON st.source = s.source AND st.pipeline = s.pipeline
     AND st.stage = CASE WHEN s.history_stage IS NOT NULL THEN s.history_stage
                         WHEN NOT s.is_closed THEN s.stage END
)
SELECT t,
       dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
       member_of(GROUPING(partner, owner, team, unit, channel),
                 partner, owner, team, unit, channel) AS member,
       count(*) AS open_count,
       coalesce(sum(amount), 0) AS open_amount,
       count(amount) AS open_amount_n,
       coalesce(sum(amount * probability), 0) AS weighted_amount,
       count(amount * probability) AS weighted_n
FROM weighted
GROUP BY GROUPING SETS ((t), (t, partner), (t, owner), (t, team), (t, unit), (t, channel));

CREATE OR REPLACE TEMP TABLE fam_pipeline_end AS
SELECT p.period_start, a.dimension, a.member,
       kv(open_count, open_count) AS pipeline_open_count,
       kv(open_amount, open_amount_n) AS pipeline_open_amount,
       kv(weighted_amount, weighted_n) AS pipeline_weighted_amount
FROM pipe_at a
JOIN periods p ON p.t_end = a.t;

CREATE OR REPLACE TEMP TABLE fam_pipeline_created AS
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
       member_of(GROUPING(partner, owner, team, unit, channel),
                 partner, owner, team, unit, channel) AS member,
       kv(coalesce(sum(amount), 0), count(amount)) AS pipeline_created_amount
FROM (SELECT *, period_of(created_date) AS period_start FROM f_deals WHERE created_date IS NOT NULL)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));
