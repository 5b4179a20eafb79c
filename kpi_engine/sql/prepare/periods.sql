-- The periods of one grain. period_of(d) (a macro kpis.py defines for the grain and the fiscal
-- year's first month) gives the start of the period holding date d. Periods run from the first to
-- the last period holding any creation or close date (deals, and leads' creations); each period is
-- [period_start, period_end), and its pipeline is measured at t_end = least(period_end, the cut).

CREATE OR REPLACE TEMP TABLE periods AS
WITH bounds AS (
    SELECT min(d) AS first_day, max(d) AS last_day
    FROM (
        SELECT created_date AS d FROM f_deals
        UNION ALL SELECT close_date FROM f_deals WHERE closed_by_cut
        UNION ALL SELECT created_date FROM f_leads
    )
),
starts AS (
    SELECT period_of(CAST(s AS DATE)) AS period_start
    FROM bounds, generate_series(
        CAST(period_of(first_day) AS TIMESTAMP),
        CAST(period_of(last_day) AS TIMESTAMP),
        INTERVAL (period_months()) MONTH
    ) g(s)
    WHERE first_day IS NOT NULL
)
SELECT
    s.period_start,
    CAST(s.period_start + INTERVAL (period_months()) MONTH AS DATE) AS period_end,
    least(CAST(CAST(s.period_start + INTERVAL (period_months()) MONTH AS DATE) AS TIMESTAMPTZ), p.t_cut) AS t_end,
    CAST(s.period_start AS TIMESTAMPTZ) AS t_start,
    s.period_start = min(s.period_start) OVER () AS is_first
FROM starts s, kpi_params p
WHERE CAST(s.period_start AS TIMESTAMPTZ) < p.t_cut;
