-- Every member of a period gets every KPI: a KPI with no row takes its empty value
-- (0 for counts and money sums, NULL for averages and rates) with n = 0.
CREATE OR REPLACE TEMP TABLE kpi_filled AS
SELECT m.period_start, m.dimension, m.member, c.kpi,
       CASE WHEN r.kpi IS NULL THEN c.empty_value ELSE r.value END AS value,
       coalesce(r.n, 0) AS n
FROM members m
CROSS JOIN kpi_catalog c
LEFT JOIN kpi_rows r
  ON r.period_start = m.period_start AND r.dimension = m.dimension
 AND r.member = m.member AND r.kpi = c.kpi
WHERE c.for_overall OR m.dimension <> 'overall';
-- Run after the base families (derived families read it) and again at the end (the result).
