-- KPI 7, quality score (0..100), for every dimension except overall. Among the members of a
-- dimension with at least kpis.quality_score.min_closed_deals closed deals in P (the missing-value
-- members 'none' / 'unknown' are not ranked):
--   quality_score = round(100 x sum_i w_i x cume_dist(metric_i), 2), where cume_dist(x) is the share
--                   of those members whose value is <= x (NULL values rank lowest) and the metrics
--                   and weights come from kpis.quality_score.weights (default won_amount 0.5,
--                   deals_won 0.5); NULL below the minimum; n = the member's deals_closed
--   quality_score_change = quality_score(P) - quality_score(previous period); NULL when either
--                   is NULL; n as quality_score.
-- Reads kpi_base, quality_weights(metric, weight) and kpi_params.min_closed_deals.
-- step: quality_score
-- scope: grain
-- reads: kpi_base, dim_members, kpi_params, quality_weights
-- creates: fam_quality
-- scratch: qualified, quality_metrics, quality
-- the members ranked, and their metrics, one row per (member, metric): settings.QUALITY_METRICS
CREATE OR REPLACE TEMP TABLE qualified AS
SELECT w.period_start, w.mid, m.dimension, w.won_amount, w.deals_won, w.win_rate,
       w.average_deal_size, w.deal_success_rate, w.deals_created, w.pipeline_open_amount
FROM kpi_base w
JOIN dim_members m ON m.mid = w.mid
CROSS JOIN kpi_params p
WHERE m.dimension <> 'overall' AND m.member NOT IN ('none', 'unknown')
  AND w.deals_closed_n >= p.min_closed_deals;

CREATE OR REPLACE TEMP TABLE quality_metrics AS
SELECT period_start, dimension, mid, 'won_amount' AS metric, CAST(won_amount AS DECIMAL(38, 10)) AS value FROM qualified
UNION ALL
SELECT period_start, dimension, mid, 'deals_won' AS metric, CAST(deals_won AS DECIMAL(38, 10)) AS value FROM qualified
UNION ALL
SELECT period_start, dimension, mid, 'win_rate' AS metric, CAST(win_rate AS DECIMAL(38, 10)) AS value FROM qualified
UNION ALL
SELECT period_start, dimension, mid, 'average_deal_size' AS metric, CAST(average_deal_size AS DECIMAL(38, 10)) AS value FROM qualified
UNION ALL
SELECT period_start, dimension, mid, 'deal_success_rate' AS metric, CAST(deal_success_rate AS DECIMAL(38, 10)) AS value FROM qualified
UNION ALL
SELECT period_start, dimension, mid, 'deals_created' AS metric, CAST(deals_created AS DECIMAL(38, 10)) AS value FROM qualified
UNION ALL
SELECT period_start, dimension, mid, 'pipeline_open_amount' AS metric, CAST(pipeline_open_amount AS DECIMAL(38, 10)) AS value FROM qualified;

CREATE OR REPLACE TEMP TABLE quality AS
WITH ranked AS (
    SELECT m.period_start, m.mid, q.weight,
           cume_dist() OVER (PARTITION BY m.period_start, m.dimension, m.metric
                             ORDER BY m.value ASC NULLS FIRST) AS cd
    FROM quality_metrics m JOIN quality_weights q ON q.metric = m.metric
)
SELECT period_start, mid, round(100 * sum(weight * cd), 2) AS score
FROM ranked
GROUP BY period_start, mid;

CREATE OR REPLACE TEMP TABLE fam_quality AS
SELECT w.period_start, w.mid,
       q.score AS quality_score, w.deals_closed_n AS quality_score_n,
       q.score - prev.score AS quality_score_change, w.deals_closed_n AS quality_score_change_n
FROM kpi_base w
LEFT JOIN quality q ON q.period_start = w.period_start AND q.mid = w.mid
LEFT JOIN quality prev
  ON prev.mid = w.mid
 AND prev.period_start = period_of(add_months(w.period_start, -1))
WHERE w.mid <> 0;

DROP TABLE qualified;
DROP TABLE quality_metrics;
DROP TABLE quality;
