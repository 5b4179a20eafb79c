-- The periods of every grain being computed. Periods run from the first to the last period
-- holding any creation or close date (deals, and leads' creations); each period is
-- [period_start, period_end), and its pipeline is measured at t_end = least(period_end, the cut).
-- Quarters and years start on the fiscal year's first month (kpi_params.fiscal_offset).
-- step: periods
-- reads: f_deals, f_leads, kpi_params, kpi_grains
-- creates: periods_all
-- scratch: period_bounds
--   periods_all(grain, period_start, period_end, t_start, t_end, is_first)

CREATE OR REPLACE TEMP TABLE period_bounds AS
SELECT min(d) AS first_day, max(d) AS last_day
FROM (
    SELECT created_date AS d FROM f_deals
    UNION ALL SELECT close_date FROM f_deals WHERE closed_by_cut
    UNION ALL SELECT created_date FROM f_leads
) days;

CREATE OR REPLACE TEMP TABLE periods_all AS
WITH starts AS (
    SELECT DISTINCT g.grain, g.months,
           period_start_of(s.month_start, g.months, p.fiscal_offset) AS period_start
    FROM period_bounds b
    CROSS JOIN month_series(b.first_day, b.last_day) s
    CROSS JOIN kpi_grains g
    CROSS JOIN kpi_params p
    WHERE b.first_day IS NOT NULL
),
periods AS (
    SELECT grain, period_start, add_months(period_start, months) AS period_end
    FROM starts
)
SELECT s.grain, s.period_start, s.period_end,
       utc_midnight(s.period_start) AS t_start,
       least(utc_midnight(s.period_end), p.t_cut) AS t_end,
       s.period_start = min(s.period_start) OVER (PARTITION BY s.grain) AS is_first
FROM periods s
CROSS JOIN kpi_params p
WHERE utc_midnight(s.period_start) < p.t_cut;

DROP TABLE period_bounds;
