-- The open pipeline at every period boundary of the grains being computed, per dimension member,
-- computed once for all grains from events and running sums (never one row per open deal and
-- boundary). The definitions are those of kpis/pipeline.sql (docs/kpis.md, KPI 3):
--   a deal is open at t when created_at < t and (it is not closed, or close_date >= date(t));
--   its weight at t is amount x probability of the stage of the latest stage_history row with
--   entered_at < t (the stage of the pipeline the row names, else of the deal's pipeline); with no such row, of its current stage if it is still open today (not
--   closed, or closed with close_date >= today, kpi_params.compute_date: open until then); else
--   it has none.
-- step: open_pipeline
-- reads: f_deals, periods_all, stage_history, stages, kpi_params
-- creates: pipe_all
-- scratch: boundaries, boundary_span, boundary_after, open_windows, stage_ranks, deal_events,
--          pipe_step_sets, pipe_runs
-- The boundaries are every t_start and t_end of the grains' periods (periods_all).
-- Output: pipe_all(t, mid, open_count, open_amount, open_amount_n, weighted_amount, weighted_n),
--         one row per boundary and member (dim_members) with a deal open.
--
-- How: every boundary t is a UTC midnight (a period start, a period end or the --as-of day), so
-- for an instant x, x < t <=> t is after the midnight of date(x). Numbering the boundaries 1..B
-- in time order, after(d) = the first boundary index after day d's midnight (B + 1 = never). Then
--   open at index i      <=> after(created_date) <= i < after(close_date)   (no end when not closed;
--                            never without created_at, or when closed without close_date)
--   history row j counts <=> after(date(entered_at_j)) <= i < after(date(entered_at_j+1))
-- Each deal adds +1 / +amount / +amount x probability at the index it opens, changes its
-- weighted amount at each index inside its window where the stage in force changes, and takes
-- what it added back at the index it stops being open (deal_events). Per member, the running sum
-- of these changes over the indexes is the pipeline at every boundary (pipe_all). Sums of exact
-- decimals, so equal to summing the open deals at each boundary directly.

CREATE OR REPLACE TEMP TABLE boundaries AS
SELECT CAST(row_number() OVER (ORDER BY t) AS INTEGER) AS bi, t
FROM (SELECT t_end AS t FROM periods_all UNION SELECT t_start FROM periods_all) b;

-- after(d) for the days from the day before the first boundary to the last boundary's day;
-- a day outside is clamped to them (giving 1 before, B + 1 after).
CREATE OR REPLACE TEMP TABLE boundary_span AS
SELECT utc_day(min(t)) - 1 AS first_day, utc_day(max(t)) AS last_day,
       CAST(count(*) AS INTEGER) + 1 AS never
FROM boundaries;

CREATE OR REPLACE TEMP TABLE boundary_after AS
SELECT a.day, a.bi
FROM boundary_span s
CROSS JOIN day_index('boundaries', s.first_day, s.last_day) a;

-- The deals ever open at a boundary: open at the indexes [open_from, open_to); wid numbers them.
CREATE OR REPLACE TEMP TABLE open_windows AS
SELECT *
FROM (
    SELECT d.deal_key AS wid, d.source, d.deal_id, d.pipeline, d.stage, d.is_closed, d.close_date,
           d.amount,
           d.p_id, d.o_id, d.t_id, d.u_id, d.c_id,
           c.bi AS open_from,
           CASE WHEN d.is_closed THEN e.bi ELSE s.never END AS open_to
    FROM f_deals d
    CROSS JOIN boundary_span s
    JOIN boundary_after c ON c.day = least(greatest(d.created_date, s.first_day), s.last_day)
    LEFT JOIN boundary_after e ON e.day = least(greatest(d.close_date, s.first_day), s.last_day)
    WHERE d.created_date IS NOT NULL AND (NOT d.is_closed OR d.close_date IS NOT NULL)
) w
WHERE open_from < open_to;

-- Per open deal, its changes at boundary indexes (deal_events). The stage in force from index i
-- on: the latest history row entered before boundary i (of rows entered at the same instant, the
-- one the CRM entered last: the greatest crm_order, case C-15; rows without one first, by stage
-- name); before the first row (index 0 here), the current stage if the deal is still open today
-- (a closed deal dated today or later too: kpi_params.compute_date), else none. Sorting each
-- deal's rows (index 0, then by entered_at, crm_order and stage name)
-- makes segments: the last row of an index is in force from it (stage_from) up to the next
-- row's index (stage_to; never after the last). Each segment that overlaps the deal's open
-- window [open_from, open_to) adds its weighted amount where the overlap starts and takes it
-- back where it ends; the segment holding open_from also adds +1 / +amount there, and the one
-- holding open_to - 1 takes them back at open_to (when that is a boundary). Stage names are
-- sorted as numbers (stage_ranks: rank by name) to keep the sort on integers.
-- A row's stage belongs to the pipeline it names (stage_history.pipeline: the deal's pipeline
-- when the stage was entered; HubSpot stage ids are per pipeline) or, without one, to the deal's
-- current pipeline; stage_ranks numbers the (stage, pipeline) pairs (pipe '' = none named).
CREATE OR REPLACE TEMP TABLE stage_ranks AS
SELECT stage, pipe, CAST(row_number() OVER (ORDER BY stage, pipe) AS INTEGER) AS rnk
FROM (SELECT DISTINCT stage, coalesce(pipeline, '') AS pipe FROM stage_history) h;

CREATE OR REPLACE TEMP TABLE deal_events AS
WITH history AS (
    SELECT w.wid, a.bi AS stage_from, instant_key(h.entered_at) AS at_us, h.crm_order, r.rnk
    FROM stage_history h
    JOIN open_windows w ON w.source = h.source AND w.deal_id = h.deal_id
    JOIN stage_ranks r ON r.stage = h.stage AND r.pipe = coalesce(h.pipeline, '')
    CROSS JOIN boundary_span s
    JOIN boundary_after a ON a.day = least(greatest(utc_day(h.entered_at), s.first_day), s.last_day)
    WHERE a.bi < w.open_to
    UNION ALL
    SELECT wid, 0, NULL, NULL, NULL FROM open_windows
),
segments AS (
    SELECT wid, stage_from, rnk, next_from
    FROM (
        SELECT wid, stage_from, rnk,
               lead(stage_from) OVER (PARTITION BY wid ORDER BY stage_from, at_us NULLS FIRST, crm_order NULLS FIRST, rnk)
                   AS next_from
        FROM history
    ) h
    WHERE next_from IS NULL OR next_from > stage_from
),
weighted AS (
    SELECT w.p_id, w.o_id, w.t_id, w.u_id, w.c_id, w.open_from, w.open_to, w.amount,
           s.stage_from, coalesce(s.next_from, b.never) AS stage_to,
           w.amount * st.probability AS weighted
    FROM segments s
    JOIN open_windows w USING (wid)
    CROSS JOIN boundary_span b
    LEFT JOIN stage_ranks r ON r.rnk = s.rnk
    LEFT JOIN stages st
      ON st.source = w.source
     AND st.pipeline = CASE WHEN s.stage_from > 0 AND r.pipe <> '' THEN r.pipe ELSE w.pipeline END
     AND st.stage = CASE WHEN s.stage_from > 0 THEN r.stage
                         WHEN NOT w.is_closed OR w.close_date >= (SELECT compute_date FROM kpi_params)
                         THEN w.stage END
    WHERE greatest(s.stage_from, w.open_from) < least(coalesce(s.next_from, b.never), w.open_to)
)
SELECT p_id, o_id, t_id, u_id, c_id, greatest(stage_from, open_from) AS bi,
       CAST(stage_from <= open_from AS INTEGER) AS d_count,
       CASE WHEN stage_from <= open_from THEN amount END AS d_amount,
       CAST(stage_from <= open_from AND amount IS NOT NULL AS INTEGER) AS d_amount_n,
       coalesce(weighted, 0) AS d_weighted,
       CAST(weighted IS NOT NULL AS INTEGER) AS d_weighted_n
FROM weighted
UNION ALL
SELECT p_id, o_id, t_id, u_id, c_id, least(stage_to, open_to),
       -CAST(stage_to >= open_to AS INTEGER),
       CASE WHEN stage_to >= open_to THEN -amount END,
       -CAST(stage_to >= open_to AND amount IS NOT NULL AS INTEGER),
       -coalesce(weighted, 0),
       -CAST(weighted IS NOT NULL AS INTEGER)
FROM weighted, boundary_span b
WHERE least(stage_to, open_to) < b.never;

-- Per member and boundary index, the sum of the deals' changes; their running sums over the
-- indexes are the pipeline at every boundary.
-- (Grouped by partner, channel and (owner, team, unit); member_rollup sums the other groups.)
CREATE OR REPLACE TEMP TABLE pipe_step_sets AS
SELECT bi AS k, p_id, o_id, t_id, u_id, c_id,
       sum(d_count) AS d_count, sum(d_amount) AS d_amount, sum(d_amount_n) AS d_amount_n,
       sum(d_weighted) AS d_weighted, sum(d_weighted_n) AS d_weighted_n
FROM deal_events
GROUP BY GROUPING SETS ((bi, p_id), (bi, c_id), (bi, o_id, t_id, u_id));

CREATE OR REPLACE TEMP TABLE pipe_runs AS
WITH steps AS (
    SELECT k AS bi, mid, d_count, d_amount, d_amount_n, d_weighted, d_weighted_n
    FROM member_rollup('pipe_step_sets')
)
SELECT mid, bi,
       lead(bi) OVER member_w AS next_bi,
       CAST(sum(d_count) OVER member_w AS BIGINT) AS open_count,
       coalesce(sum(d_amount) OVER member_w, 0) AS open_amount,
       CAST(sum(d_amount_n) OVER member_w AS BIGINT) AS open_amount_n,
       sum(d_weighted) OVER member_w AS weighted_amount,
       CAST(sum(d_weighted_n) OVER member_w AS BIGINT) AS weighted_n
FROM steps
WINDOW member_w AS (PARTITION BY mid ORDER BY bi);

-- each run of indexes [bi, next_bi) with something open holds the same pipeline
CREATE OR REPLACE TEMP TABLE pipe_all AS
SELECT b.t, r.mid, r.open_count, r.open_amount, r.open_amount_n,
       r.weighted_amount, r.weighted_n
FROM boundary_span s
CROSS JOIN expand_runs('pipe_runs', s.never) r
JOIN boundaries b ON b.bi = r.i
WHERE r.open_count > 0;

DROP TABLE boundaries;
DROP TABLE boundary_span;
DROP TABLE boundary_after;
DROP TABLE open_windows;
DROP TABLE stage_ranks;
DROP TABLE deal_events;
DROP TABLE pipe_step_sets;
DROP TABLE pipe_runs;
