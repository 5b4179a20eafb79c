-- The result of one grain: kpi_wide plus the derived KPIs, one row per (member, KPI) in
-- kpi_result(period_start, period_end, as_of, dimension, member, member_name, kpi, value, n).
-- quality_score and quality_score_change have no overall rows. A view: kpis.py inserts it into
-- kpi_values straight away (6.5M rows at 1M deals; no temp table in between). The derived
-- families hold the same (period_start, mid) rows as kpi_wide (fam_quality all but overall), so
-- each of these tables is named (periods and dim_members, small tables) and unpivoted on its
-- own, with no join between them.
CREATE OR REPLACE TEMP MACRO kpi_rows(t) AS TABLE
    SELECT period_start, period_end, as_of, dimension, member, member_name, kpi,
           v.value AS value, v.n AS n
    FROM (
        UNPIVOT (
            SELECT p.period_start, p.period_end, CAST(p.t_end AS DATE) AS as_of,
                   m.dimension, m.member, m.member_name,
                   COLUMNS(r.* EXCLUDE (period_start, mid))
            FROM query_table(t) r
            JOIN periods p ON p.period_start = r.period_start
            JOIN dim_members m ON m.mid = r.mid
        ) ON COLUMNS(* EXCLUDE (period_start, period_end, as_of, dimension, member, member_name))
        INTO NAME kpi VALUE v
    );

-- kpi_wide without its helper column (sales_velocity's exact cycle total)
CREATE OR REPLACE TEMP VIEW kpi_wide_kpis AS SELECT * EXCLUDE (cycle_days_total) FROM kpi_wide;

CREATE OR REPLACE TEMP VIEW kpi_result AS
SELECT * FROM kpi_rows('kpi_wide_kpis')
UNION ALL SELECT * FROM kpi_rows('fam_pipeline_change')
UNION ALL SELECT * FROM kpi_rows('fam_sales_velocity')
UNION ALL SELECT * FROM kpi_rows('fam_channel_share')
UNION ALL SELECT * FROM kpi_rows('fam_quality');
