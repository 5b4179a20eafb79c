-- KPI 3 (cont.), change against the previous period (reporting currency):
--   pipeline_change = pipeline_open_amount at the end of P - pipeline_open_amount at the start
--                     of P (= the end of the previous period); a member with nothing open at a
--                     boundary counts 0 there; NULL for the first period of the data.
--                     n = n of pipeline_open_amount(P).
INSERT INTO kpi_rows
SELECT m.period_start, m.dimension, m.member, 'pipeline_change',
       CASE WHEN NOT p.is_first
            THEN coalesce(e.open_amount, 0) - coalesce(s.open_amount, 0) END,
       coalesce(e.open_amount_n, 0)
FROM members m
JOIN periods p ON p.period_start = m.period_start
LEFT JOIN pipe_at e ON e.t = p.t_end AND e.dimension = m.dimension AND e.member = m.member
LEFT JOIN pipe_at s ON s.t = p.t_start AND s.dimension = m.dimension AND s.member = m.member;
