-- The result of one grain: kpi_wide plus the derived KPIs, one row per (member, KPI) in
-- kpi_result(period_start, period_end, as_of, dimension, member, member_name, kpi, value, n).
-- quality_score and quality_score_change have no overall rows. A view: kpis.py inserts it into
-- kpi_values straight away (6.5M rows at 1M deals; no temp table in between).
CREATE OR REPLACE TEMP VIEW kpi_result AS
SELECT period_start, period_end, as_of, dimension, member, member_name, kpi,
       v.value AS value, v.n AS n
FROM (
    UNPIVOT (
        SELECT w.period_start, p.period_end, CAST(p.t_end AS DATE) AS as_of,
               m.dimension, m.member, m.member_name,
               COLUMNS(w.* EXCLUDE (period_start, mid, cycle_days_total)),
               pc.pipeline_change, sv.sales_velocity, cs.won_amount_share,
               coalesce(q.quality_score, kv(NULL, 0)) AS quality_score,
               coalesce(q.quality_score_change, kv(NULL, 0)) AS quality_score_change
        FROM kpi_wide w
        JOIN fam_pipeline_change pc USING (period_start, mid)
        JOIN fam_sales_velocity sv USING (period_start, mid)
        JOIN fam_channel_share cs USING (period_start, mid)
        LEFT JOIN fam_quality q USING (period_start, mid)
        JOIN periods p ON p.period_start = w.period_start
        JOIN dim_members m ON m.mid = w.mid
    ) ON COLUMNS(* EXCLUDE (period_start, period_end, as_of, dimension, member, member_name))
    INTO NAME kpi VALUE v
)
WHERE dimension <> 'overall' OR kpi NOT IN ('quality_score', 'quality_score_change');
