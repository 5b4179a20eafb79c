-- The periods of the grain being computed (kpi_grain, set by kpis.py before each grain's steps).
-- step: grain_periods
-- scope: grain
-- reads: periods_all, kpi_grain
-- creates: periods
--   periods(period_start, period_end, t_start, t_end, is_first)
CREATE OR REPLACE TEMP TABLE periods AS
SELECT a.period_start, a.period_end, a.t_start, a.t_end, a.is_first
FROM periods_all a
JOIN kpi_grain g ON g.grain = a.grain;
