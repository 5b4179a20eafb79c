-- The open pipeline at every period boundary of the grains being computed, per dimension member,
-- computed once for all grains from events and running sums (never one row per open deal and
-- boundary). The definitions are those of kpis/pipeline.sql (docs/kpis.md, KPI 3):
--   a deal is open at t when created_at < t and (it is not closed, or close_date >= date(t));
--   its weight at t is amount x probability of the stage of the latest stage_history row with
--   entered_at < t; with no such row, of its current stage if it is still open; else it has none.
-- Input: kpi_boundaries(t), every t_start and t_end of the grains' periods (kpis.py).
-- Output: pipe_all(t, dimension, member, open_count, open_amount, open_amount_n,
--                  weighted_amount, weighted_n), one row per boundary and member with a deal open.
--
-- How: every boundary t is a UTC midnight (a period start, a period end or the --as-of day), so
-- for an instant x, x < t <=> t is after the midnight of date(x). Numbering the boundaries 1..B
-- in time order, after(d) = the first boundary index after day d's midnight (B + 1 = never). Then
--   open at index i      <=> after(created_date) <= i < after(close_date)   (no end when not closed;
--                            never without created_at, or when closed without close_date)
--   history row j counts <=> after(date(entered_at_j)) <= i < after(date(entered_at_j+1))
-- Each deal adds +1 / +amount at the index it opens and takes them back at the index it stops
-- being open; each stage segment (a history row, or the time before the first one) intersected
-- with the open window adds +amount x probability (and +1 to its n) at its start and takes it back
-- at its end. Per member, the running sum of these deltas over the indexes is the pipeline at
-- every boundary. Sums of exact decimals, so equal to summing the open deals directly.

CREATE OR REPLACE TEMP TABLE boundaries AS
SELECT CAST(row_number() OVER (ORDER BY t) AS INTEGER) AS bi, t
FROM (SELECT DISTINCT t FROM kpi_boundaries);

-- after(d) for the days from the day before the first boundary to the last boundary's day;
-- a day outside is clamped to them (giving 1 before, B + 1 after): see clamp_day.
CREATE OR REPLACE TEMP TABLE boundary_span AS
SELECT CAST(min(t) AS DATE) - 1 AS first_day, CAST(max(t) AS DATE) AS last_day,
       CAST(count(*) AS INTEGER) + 1 AS never
FROM boundaries;

CREATE OR REPLACE TEMP TABLE boundary_after AS
SELECT CAST(g.d AS DATE) AS day, coalesce(b.bi, 0) + 1 AS bi
FROM boundary_span s,
     generate_series(CAST(s.first_day AS TIMESTAMP), CAST(s.last_day AS TIMESTAMP), INTERVAL 1 DAY) g(d)
ASOF LEFT JOIN boundaries b ON CAST(CAST(g.d AS DATE) AS TIMESTAMPTZ) >= b.t;

CREATE OR REPLACE TEMP MACRO clamp_day(day, first_day, last_day) AS least(greatest(day, first_day), last_day);

-- The deals ever open at a boundary: open at the indexes [open_from, open_to).
CREATE OR REPLACE TEMP TABLE open_windows AS
SELECT *
FROM (
    SELECT d.source, d.deal_id, d.pipeline, d.stage, d.is_closed, d.amount,
           d.partner, d.owner, d.team, d.unit, d.channel,
           c.bi AS open_from,
           CASE WHEN d.is_closed THEN e.bi ELSE s.never END AS open_to,
           s.never
    FROM f_deals d
    CROSS JOIN boundary_span s
    JOIN boundary_after c ON c.day = clamp_day(d.created_date, s.first_day, s.last_day)
    LEFT JOIN boundary_after e ON e.day = clamp_day(d.close_date, s.first_day, s.last_day)
    WHERE d.created_date IS NOT NULL AND (NOT d.is_closed OR d.close_date IS NOT NULL)
)
WHERE open_from < open_to;

-- Stage segments [seg_from, seg_to) of the open deals: one per history row (the stage of the
-- latest row entered before the boundary; rows entered at the same instant are ordered by stage)
-- and the segment before the first row (the current stage if the deal is still open).
CREATE OR REPLACE TEMP TABLE weighted_segments AS
WITH history AS (
    SELECT w.*, h.stage AS segment_stage, a.bi AS seg_from,
           lead(a.bi, 1, w.never) OVER (
               PARTITION BY h.source, h.deal_id ORDER BY h.entered_at, h.stage) AS seg_to
    FROM stage_history h
    JOIN open_windows w ON w.source = h.source AND w.deal_id = h.deal_id
    CROSS JOIN boundary_span s
    JOIN boundary_after a ON a.day = clamp_day(CAST(h.entered_at AS DATE), s.first_day, s.last_day)
),
segments AS (
    SELECT * FROM history
    UNION ALL BY NAME
    SELECT w.*, CASE WHEN NOT w.is_closed THEN w.stage END AS segment_stage, 1 AS seg_from,
           coalesce(f.first_from, w.never) AS seg_to
    FROM open_windows w
    LEFT JOIN (SELECT source, deal_id, min(seg_from) AS first_from FROM history GROUP BY ALL) f
      ON f.source = w.source AND f.deal_id = w.deal_id
)
SELECT g.partner, g.owner, g.team, g.unit, g.channel, g.never,
       greatest(g.seg_from, g.open_from) AS seg_from,
       least(g.seg_to, g.open_to) AS seg_to,
       g.amount * st.probability AS weighted
FROM segments g
JOIN stages st ON st.source = g.source AND st.pipeline = g.pipeline AND st.stage = g.segment_stage
WHERE greatest(g.seg_from, g.open_from) < least(g.seg_to, g.open_to)
  AND g.amount * st.probability IS NOT NULL;

-- The deltas per boundary index and member, then their running sums.
CREATE OR REPLACE TEMP TABLE pipe_all AS
WITH events AS (
    SELECT partner, owner, team, unit, channel, open_from AS bi, 1 AS d_count,
           amount AS d_amount, CAST(amount IS NOT NULL AS INTEGER) AS d_amount_n,
           NULL AS d_weighted, 0 AS d_weighted_n
    FROM open_windows
    UNION ALL
    SELECT partner, owner, team, unit, channel, open_to, -1,
           -amount, -CAST(amount IS NOT NULL AS INTEGER), NULL, 0
    FROM open_windows WHERE open_to < never
    UNION ALL
    SELECT partner, owner, team, unit, channel, seg_from, 0, NULL, 0, weighted, 1
    FROM weighted_segments
    UNION ALL
    SELECT partner, owner, team, unit, channel, seg_to, 0, NULL, 0, -weighted, -1
    FROM weighted_segments WHERE seg_to < never
),
steps AS (
    SELECT bi,
           dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
           member_of(GROUPING(partner, owner, team, unit, channel),
                     partner, owner, team, unit, channel) AS member,
           sum(d_count) AS d_count, sum(d_amount) AS d_amount, sum(d_amount_n) AS d_amount_n,
           sum(d_weighted) AS d_weighted, sum(d_weighted_n) AS d_weighted_n
    FROM events
    GROUP BY GROUPING SETS ((bi), (bi, partner), (bi, owner), (bi, team), (bi, unit), (bi, channel))
),
running AS (
    SELECT dimension, member, bi,
           lead(bi, 1, (SELECT never FROM boundary_span)) OVER member_w AS next_bi,
           CAST(sum(d_count) OVER member_w AS BIGINT) AS open_count,
           coalesce(sum(d_amount) OVER member_w, 0) AS open_amount,
           CAST(sum(d_amount_n) OVER member_w AS BIGINT) AS open_amount_n,
           coalesce(sum(d_weighted) OVER member_w, 0) AS weighted_amount,
           CAST(sum(d_weighted_n) OVER member_w AS BIGINT) AS weighted_n
    FROM steps
    WINDOW member_w AS (PARTITION BY dimension, member ORDER BY bi)
)
SELECT b.t, r.dimension, r.member, r.open_count, r.open_amount, r.open_amount_n,
       r.weighted_amount, r.weighted_n
FROM (SELECT *, unnest(range(bi, next_bi)) AS i FROM running WHERE open_count > 0) r
JOIN boundaries b ON b.bi = r.i;
