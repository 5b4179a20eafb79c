-- KPI 1, average deal size (reporting currency).
--   won_amount        = sum of amounts of won deals with close_date in P; NULL amounts (and
--                       amounts in a currency with no known rate) are skipped; n = deals summed;
--                       0 over nothing
--   average_deal_size = won_amount / n  (NULL when n = 0). Seed example: $200 and $400 -> 300
--   median_deal_size  = median of the same amounts (mean of the middle two for an even n)
-- step: deal_size
-- scope: grain
-- reads: f_deals
-- creates: fam_won_amount
CREATE OR REPLACE TEMP TABLE fam_won_amount AS
SELECT period_start, coalesce(p_id, o_id, t_id, u_id, c_id, 0) AS mid,
       sum(amount) AS won_amount, count(amount) AS won_amount_n,
       sum(amount) / count(amount) AS average_deal_size, count(amount) AS average_deal_size_n,
       median(amount) AS median_deal_size, count(amount) AS median_deal_size_n
FROM (
    SELECT *, period_of(close_date) AS period_start
    FROM f_deals WHERE closed_by_cut AND is_won AND amount IS NOT NULL
) d
GROUP BY GROUPING SETS ((period_start), (period_start, p_id), (period_start, o_id),
                        (period_start, t_id), (period_start, u_id), (period_start, c_id));
