-- KPI 6, deal velocity.
--   sales_cycle_days = mean of (close_date - date(created_at)) in days over won deals closed in P
--                      with a known created_at and close_date >= that date (others are skipped
--                      and counted in a warning); n = deals averaged; NULL when none
--   sales_velocity   = deals_created x win_rate x average_deal_size / sales_cycle_days, in
--                      reporting currency per day; NULL when a factor is NULL or the cycle is 0;
--                      n = deals_created. (The sales velocity equation: opportunities x win rate
--                      x deal size / sales cycle length.)
-- Runs in two steps: the cycle with the base families, the velocity after them (from kpi_filled).
INSERT INTO kpi_rows
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)),
       member_of(GROUPING(partner, owner, team, unit, channel), partner, owner, team, unit, channel),
       'sales_cycle_days',
       CAST(avg(close_date - created_date) AS DECIMAL(38, 10)),
       count(*)
FROM (
    SELECT *, period_of(close_date) AS period_start
    FROM f_deals
    WHERE closed_by_cut AND is_won AND created_date IS NOT NULL AND close_date >= created_date
)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));
