-- KPI 6 (cont.), deal velocity (see velocity.sql for sales_cycle_days):
--   sales_velocity = deals_created x win_rate x average_deal_size / sales_cycle_days, in
--                    reporting currency per day; NULL when a factor is NULL or the cycle is 0;
--                    n = deals_created. (The sales velocity equation: opportunities x win rate
--                    x deal size / sales cycle length.) Computed in DOUBLE from the
--                    unrounded factors (counts, sums), stored to 10 places.
CREATE OR REPLACE TEMP TABLE fam_sales_velocity AS
SELECT period_start, mid,
       kv(CASE WHEN cycle_days_total <> 0 AND deals_closed.value <> 0 AND won_amount.n <> 0
               THEN CAST(deals_created.value AS DOUBLE)
                    * (CAST(deals_won.value AS DOUBLE) / CAST(deals_closed.value AS DOUBLE))
                    * (CAST(won_amount.value AS DOUBLE) / won_amount.n)
                    / (CAST(cycle_days_total AS DOUBLE) / sales_cycle_days.n) END,
          deals_created.n) AS sales_velocity
FROM kpi_wide;
