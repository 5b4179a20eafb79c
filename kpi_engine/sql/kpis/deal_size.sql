-- KPI 1, average deal size (reporting currency).
--   won_amount        = sum of amounts of won deals with close_date in P; NULL amounts (and
--                       amounts in a currency with no known rate) are skipped; n = deals summed;
--                       0 over nothing
--   average_deal_size = won_amount / n  (NULL when n = 0). Seed example: $200 and $400 -> 300
--   median_deal_size  = median of the same amounts (mean of the middle two for an even n)
CREATE OR REPLACE TEMP TABLE fam_won_amount AS
SELECT period_start, member_id(p_id, o_id, t_id, u_id, c_id) AS mid,
       kv(sum(amount), count(amount)) AS won_amount,
       kv(sum(amount) / count(amount), count(amount)) AS average_deal_size,
       kv(median(amount), count(amount)) AS median_deal_size
FROM (
    SELECT *, period_of(close_date) AS period_start
    FROM f_deals WHERE closed_by_cut AND is_won AND amount IS NOT NULL
)
GROUP BY GROUPING SETS ((period_start), (period_start, p_id), (period_start, o_id),
                        (period_start, t_id), (period_start, u_id), (period_start, c_id));
