-- KPI 6, deal velocity.
--   sales_cycle_days = mean of (close_date - date(created_at)) in days over won deals closed in P
--                      with a known created_at and close_date >= that date (others are skipped
--                      and counted in a warning); n = deals averaged; NULL when none
--   sales_velocity   = see sales_velocity.sql
CREATE OR REPLACE TEMP TABLE fam_cycle AS
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
       member_of(GROUPING(partner, owner, team, unit, channel),
                 partner, owner, team, unit, channel) AS member,
       kv(avg(close_date - created_date), count(*)) AS sales_cycle_days,
       -- the exact total, for sales_velocity (not a KPI row of its own)
       sum(close_date - created_date) AS cycle_days_total
FROM (
    SELECT *, period_of(close_date) AS period_start
    FROM f_deals
    WHERE closed_by_cut AND is_won AND created_date IS NOT NULL AND close_date >= created_date
)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));
