-- KPI 7, quality score (0..100), for every dimension except overall. Among the members of a
-- dimension with at least kpis.quality_score.min_closed_deals closed deals in P (the missing-value
-- members 'none' / 'unknown' are not ranked):
--   quality_score = round(100 x sum_i w_i x cume_dist(metric_i), 2), where cume_dist(x) is the share
--                   of those members whose value is <= x (NULL values rank lowest) and the metrics
--                   and weights come from kpis.quality_score.weights (default won_amount 0.5,
--                   deals_won 0.5); NULL below the minimum; n = the member's deals_closed
--   quality_score_change = quality_score(P) - quality_score(previous period); NULL when either
--                   is NULL; n as quality_score.
-- Reads kpi_filled and quality_weights(metric, weight); kpi_params.min_closed_deals.
CREATE OR REPLACE TEMP TABLE quality AS
WITH ranked AS (
    SELECT c.period_start, c.dimension, c.member, c.n AS closed_n, q.weight,
           cume_dist() OVER (PARTITION BY c.period_start, c.dimension, q.metric
                             ORDER BY v.value ASC NULLS FIRST) AS cd
    FROM kpi_filled c
    JOIN kpi_filled v USING (period_start, dimension, member)
    JOIN quality_weights q ON q.metric = v.kpi
    CROSS JOIN kpi_params p
    WHERE c.kpi = 'deals_closed' AND c.dimension <> 'overall'
      AND c.member NOT IN ('none', 'unknown') AND c.n >= p.min_closed_deals
)
SELECT period_start, dimension, member,
       round(100 * sum(weight * cd), 2) AS score
FROM ranked
GROUP BY period_start, dimension, member;

INSERT INTO kpi_rows
SELECT c.period_start, c.dimension, c.member, 'quality_score', q.score, c.n
FROM kpi_filled c
LEFT JOIN quality q USING (period_start, dimension, member)
WHERE c.kpi = 'deals_closed' AND c.dimension <> 'overall'
UNION ALL
SELECT c.period_start, c.dimension, c.member, 'quality_score_change', q.score - prev.score, c.n
FROM kpi_filled c
LEFT JOIN quality q USING (period_start, dimension, member)
LEFT JOIN quality prev
  ON prev.dimension = c.dimension AND prev.member = c.member
 AND prev.period_start = period_of(CAST(c.period_start - INTERVAL 1 DAY AS DATE))
WHERE c.kpi = 'deals_closed' AND c.dimension <> 'overall';
