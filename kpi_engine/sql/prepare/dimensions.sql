-- Macros shared by the KPI families.
-- Members are numbered in dim_members (facts.sql; overall = 0) and the facts carry each deal's
-- member numbers p_id, o_id, t_id, u_id, c_id (partner, owner, team, unit, channel). A family
-- aggregates with
--   GROUP BY GROUPING SETS ((period), (period, p_id), (period, o_id), (period, t_id),
--                          (period, u_id), (period, c_id))
-- and names each group with member_id(p_id, o_id, t_id, u_id, c_id): the one number the group
-- kept (the others are NULL in a grouping set), or 0 for the overall group.
CREATE OR REPLACE TEMP MACRO member_id(p, o, t, u, c) AS coalesce(p, o, t, u, c, 0);
-- The same groups for sums and counts from half the hashing over the deals: group the deals by
--   GROUPING SETS ((k, p_id), (k, c_id), (k, o_id, t_id, u_id))
-- (k: the period or boundary) into a table t, then member_rollup(t) gives one row per (k, mid)
-- with every other column of t summed: owners, teams and units from the (owner, team, unit)
-- groups (a deal has one of each), overall from the channel groups (every deal has a channel).
CREATE OR REPLACE TEMP MACRO member_rollup(t) AS TABLE
    SELECT k, CAST(member_id(p_id, NULL, NULL, NULL, c_id) AS INTEGER) AS mid,
           COLUMNS(* EXCLUDE (k, p_id, o_id, t_id, u_id, c_id))
    FROM query_table(t)
    WHERE o_id IS NULL
    UNION ALL BY NAME
    SELECT k, CAST(member_id(NULL, o_id, t_id, u_id, NULL) AS INTEGER) AS mid,
           sum(COLUMNS(* EXCLUDE (k, p_id, o_id, t_id, u_id, c_id)))
    FROM query_table(t)
    WHERE o_id IS NOT NULL
    GROUP BY GROUPING SETS ((k, o_id), (k, t_id), (k, u_id))
    UNION ALL BY NAME
    SELECT k, CAST(0 AS INTEGER) AS mid, sum(COLUMNS(* EXCLUDE (k, p_id, o_id, t_id, u_id, c_id)))
    FROM query_table(t)
    WHERE c_id IS NOT NULL
    GROUP BY k;
-- one KPI cell: its value (DECIMAL(38,10): money exact, ratios rounded to 10 places) and n
CREATE OR REPLACE TEMP MACRO kv(value, n) AS
    {'value': CAST(value AS DECIMAL(38, 10)), 'n': CAST(n AS BIGINT)};
-- the UTC date of an instant: CAST(ts AS DATE) in the store's UTC session, without the time
-- zone conversion's cost (about 10x) for finite instants
CREATE OR REPLACE TEMP MACRO utc_date(ts) AS
    CASE WHEN isfinite(ts) THEN CAST(make_timestamp(epoch_us(ts)) AS DATE) ELSE CAST(ts AS DATE) END;
