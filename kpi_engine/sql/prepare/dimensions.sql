-- Macros shared by the KPI families.
-- Every family aggregates with
--   GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
--                          (period_start, team), (period_start, unit), (period_start, channel))
-- and names each group with dim_of / member_of over GROUPING(partner, owner, team, unit, channel)
-- (a bit is 1 for a column aggregated away: partner alone -> 0b01111 = 15, ... overall -> 31).
CREATE OR REPLACE TEMP MACRO dim_of(g) AS
    CASE g WHEN 15 THEN 'partner' WHEN 23 THEN 'owner' WHEN 27 THEN 'team'
           WHEN 29 THEN 'unit' WHEN 30 THEN 'channel' ELSE 'overall' END;
CREATE OR REPLACE TEMP MACRO member_of(g, partner, owner, team, unit, channel) AS
    CASE g WHEN 15 THEN partner WHEN 23 THEN owner WHEN 27 THEN team
           WHEN 29 THEN unit WHEN 30 THEN channel ELSE 'all' END;
-- one KPI cell: its value (DECIMAL(38,10): money exact, ratios rounded to 10 places) and n
CREATE OR REPLACE TEMP MACRO kv(value, n) AS
    {'value': CAST(value AS DECIMAL(38, 10)), 'n': CAST(n AS BIGINT)};
