-- KPI 7, quality score (0..100), for every dimension except overall. Among the members of a
-- dimension with at least kpis.quality_score.min_closed_deals closed deals in P (the missing-value
-- members 'none' / 'unknown' are not ranked):
--   quality_score = round(100 x sum_i w_i x cume_dist(metric_i), 2), where cume_dist(x) is the share
--                   of those members whose value is <= x (NULL values rank lowest) and the metrics
--                   and weights come from kpis.quality_score.weights (default won_amount 0.5,
--                   deals_won 0.5); NULL below the minimum; n = the member's deals_closed
--   quality_score_change = quality_score(P) - quality_score(previous period); NULL when either
--                   is NULL; n as quality_score.
-- Reads kpi_wide, quality_weights(metric, weight) and kpi_params.min_closed_deals.
CREATE OR REPLACE TEMP TABLE quality AS
WITH qualified AS (
    SELECT w.*, m.dimension
    FROM kpi_wide w
    JOIN dim_members m USING (mid)
    CROSS JOIN kpi_params p
    WHERE m.dimension <> 'overall' AND m.member NOT IN ('none', 'unknown')
      AND w.deals_closed.n >= p.min_closed_deals
),
metrics AS (
    SELECT period_start, dimension, mid, m.metric, m.value
    FROM (
        SELECT period_start, dimension, mid, unnest([
            {'metric': 'won_amount', 'value': won_amount.value},
            {'metric': 'deals_won', 'value': deals_won.value},
            {'metric': 'win_rate', 'value': win_rate.value},
            {'metric': 'average_deal_size', 'value': average_deal_size.value},
            {'metric': 'deal_success_rate', 'value': deal_success_rate.value},
            {'metric': 'deals_created', 'value': deals_created.value},
            {'metric': 'pipeline_open_amount', 'value': pipeline_open_amount.value}
        ]) AS m
        FROM qualified
    )
),
ranked AS (
    SELECT m.period_start, m.mid, q.weight,
           cume_dist() OVER (PARTITION BY m.period_start, m.dimension, m.metric
                             ORDER BY m.value ASC NULLS FIRST) AS cd
    FROM metrics m JOIN quality_weights q ON q.metric = m.metric
)
SELECT period_start, mid, round(100 * sum(weight * cd), 2) AS score
FROM ranked
GROUP BY period_start, mid;

CREATE OR REPLACE TEMP TABLE fam_quality AS
SELECT w.period_start, w.mid,
       kv(q.score, w.deals_closed.n) AS quality_score,
       kv(q.score - prev.score, w.deals_closed.n) AS quality_score_change
FROM kpi_wide w
LEFT JOIN quality q USING (period_start, mid)
LEFT JOIN quality prev
  ON prev.mid = w.mid
 AND prev.period_start = period_of(CAST(w.period_start - INTERVAL 1 DAY AS DATE))
WHERE w.mid <> 0;
