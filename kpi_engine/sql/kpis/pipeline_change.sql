-- KPI 3 (cont.), change against the previous period (reporting currency):
--   pipeline_change = pipeline_open_amount at the end of P - pipeline_open_amount at the start
--                     of P (= the end of the previous period); a member with nothing open at a
--                     boundary counts 0 there; NULL for the first period of the data.
--                     n = n of pipeline_open_amount(P).
-- step: pipeline_change
-- scope: grain
-- reads: kpi_base, periods, pipe_at
-- creates: fam_pipeline_change
CREATE OR REPLACE TEMP TABLE fam_pipeline_change AS
SELECT w.period_start, w.mid,
       CASE WHEN NOT p.is_first
            THEN w.pipeline_open_amount - coalesce(s.open_amount, 0) END AS pipeline_change,
       w.pipeline_open_amount_n AS pipeline_change_n
FROM kpi_base w
JOIN periods p USING (period_start)
LEFT JOIN pipe_at s ON s.t = p.t_start AND s.mid = w.mid;
