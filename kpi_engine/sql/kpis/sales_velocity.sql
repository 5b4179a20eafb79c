-- KPI 6 (cont.), deal velocity (see velocity.sql for sales_cycle_days):
--   sales_velocity = deals_created x win_rate x average_deal_size / sales_cycle_days, in
--                    reporting currency per day; NULL when a factor is NULL or the cycle is 0;
--                    n = deals_created. (The sales velocity equation: opportunities x win rate
--                    x deal size / sales cycle length.) Computed in DOUBLE from the
--                    unrounded factors (counts, sums), stored to 10 places.
-- step: sales_velocity
-- scope: grain
-- reads: kpi_base, fam_cycle
-- creates: fam_sales_velocity
CREATE OR REPLACE TEMP TABLE fam_sales_velocity AS
SELECT w.period_start, w.mid,
       CASE WHEN c.cycle_days_total <> 0 AND w.deals_closed <> 0 AND w.won_amount_n <> 0
            THEN CAST(w.deals_created AS DOUBLE)
                 * (CAST(w.deals_won AS DOUBLE) / CAST(w.deals_closed AS DOUBLE))
                 * (CAST(w.won_amount AS DOUBLE) / w.won_amount_n)
                 / (CAST(c.cycle_days_total AS DOUBLE) / w.sales_cycle_days_n) END AS sales_velocity,
       w.deals_created_n AS sales_velocity_n
FROM kpi_base w
LEFT JOIN fam_cycle c ON c.period_start = w.period_start AND c.mid = w.mid;
