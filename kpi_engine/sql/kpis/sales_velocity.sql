-- KPI 6 (cont.), deal velocity (see velocity.sql for sales_cycle_days):
--   sales_velocity = deals_created x win_rate x average_deal_size / sales_cycle_days, in
--                    reporting currency per day; NULL when a factor is NULL or the cycle is 0;
--                    n = deals_created. (The sales velocity equation: opportunities x win rate
--                    x deal size / sales cycle length.) Computed in DOUBLE, stored to 10 places.
CREATE OR REPLACE TEMP TABLE fam_sales_velocity AS
SELECT period_start, dimension, member,
       kv(CASE WHEN sales_cycle_days.value <> 0
               THEN CAST(deals_created.value AS DOUBLE) * CAST(win_rate.value AS DOUBLE)
                    * CAST(average_deal_size.value AS DOUBLE)
                    / CAST(sales_cycle_days.value AS DOUBLE) END,
          deals_created.n) AS sales_velocity
FROM kpi_wide;
