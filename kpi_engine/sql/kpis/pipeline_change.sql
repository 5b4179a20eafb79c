-- KPI 3 (cont.), change against the previous period (reporting currency):
--   pipeline_change = pipeline_open_amount at the end of P - pipeline_open_amount at the start
--                     of P (= the end of the previous period); a member with nothing open at a
--                     boundary counts 0 there; NULL for the first period of the data.
--                     n = n of pipeline_open_amount(P).
CREATE OR REPLACE TEMP TABLE fam_pipeline_change AS
SELECT w.period_start, w.mid,
       kv(CASE WHEN NOT p.is_first
               THEN w.pipeline_open_amount.value - coalesce(s.open_amount, 0) END,
          w.pipeline_open_amount.n) AS pipeline_change
FROM kpi_wide w
JOIN periods p USING (period_start)
LEFT JOIN pipe_at s ON s.t = p.t_start AND s.mid = w.mid;
