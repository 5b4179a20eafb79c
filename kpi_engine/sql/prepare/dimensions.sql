-- Macros shared by the KPI families.
-- Members are numbered in dim_members (facts.sql; overall = 0) and the facts carry each deal's
-- member numbers p_id, o_id, t_id, u_id, c_id (partner, owner, team, unit, channel). A family
-- aggregates with
--   GROUP BY GROUPING SETS ((period), (period, p_id), (period, o_id), (period, t_id),
--                          (period, u_id), (period, c_id))
-- and names each group with member_id(p_id, o_id, t_id, u_id, c_id): the one number the group
-- kept (the others are NULL in a grouping set), or 0 for the overall group.
CREATE OR REPLACE TEMP MACRO member_id(p, o, t, u, c) AS coalesce(p, o, t, u, c, 0);
-- one KPI cell: its value (DECIMAL(38,10): money exact, ratios rounded to 10 places) and n
CREATE OR REPLACE TEMP MACRO kv(value, n) AS
    {'value': CAST(value AS DECIMAL(38, 10)), 'n': CAST(n AS BIGINT)};
-- the UTC date of an instant: CAST(ts AS DATE) in the store's UTC session, without the time
-- zone conversion's cost (about 10x) for finite instants
CREATE OR REPLACE TEMP MACRO utc_date(ts) AS
    CASE WHEN isfinite(ts) THEN CAST(make_timestamp(epoch_us(ts)) AS DATE) ELSE CAST(ts AS DATE) END;
