-- KPI 6, deal velocity.
--   sales_cycle_days = mean of (close_date - date(created_at)) in days over won deals closed in P
--                      with a known created_at and close_date >= that date (others are skipped
--                      and counted in a warning); n = deals averaged; NULL when none
--   sales_velocity   = see sales_velocity.sql
-- step: velocity
-- scope: grain
-- reads: f_deals
-- creates: fam_cycle
CREATE OR REPLACE TEMP TABLE fam_cycle AS
SELECT period_start, coalesce(p_id, o_id, t_id, u_id, c_id, 0) AS mid,
       avg(day_diff(created_date, close_date)) AS sales_cycle_days, count(*) AS sales_cycle_days_n,
       -- the exact total, for sales_velocity (not a KPI row of its own)
       sum(day_diff(created_date, close_date)) AS cycle_days_total
FROM (
    SELECT *, period_of(close_date) AS period_start
    FROM f_deals
    WHERE closed_by_cut AND is_won AND created_date IS NOT NULL AND close_date >= created_date
) d
GROUP BY GROUPING SETS ((period_start), (period_start, p_id), (period_start, o_id),
                        (period_start, t_id), (period_start, u_id), (period_start, c_id));
