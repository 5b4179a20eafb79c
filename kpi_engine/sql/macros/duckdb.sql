-- The one DuckDB-only layer of the KPI SQL: every DuckDB function, table function, ASOF join,
-- list or struct trick and query_table / COLUMNS macro the steps need is wrapped here, so the
-- step files (sql/steps/, sql/kpis/) are portable SQL around these names. Each other dialect
-- gives every macro its equivalent in sql/macros/<dialect>.sql (spark, snowflake, bigquery),
-- expanded into the steps' text by kpi_engine/dialects.py (`partnerkpi sql --dialect ...`).
-- kpis.py runs this file once per compute, and defines period_of once per grain (_grain_macros).

-- The calendar: utc_day (an instant's date) and utc_midnight (a date's first instant) are the
-- UTC ones here; with another reporting time zone kpis.py (_zone_macros) redefines both as
-- that zone's, and every step calling them buckets in it (case C-19).
-- the UTC date of an instant: CAST(ts AS DATE) in the store's UTC session, without the time
-- zone conversion's cost (about 10x) for finite instants
CREATE OR REPLACE TEMP MACRO utc_day(ts) AS
    CASE WHEN isfinite(ts) THEN CAST(make_timestamp(epoch_us(ts)) AS DATE) ELSE CAST(ts AS DATE) END;

-- the instant of d's midnight in UTC (the store's session time zone is UTC)
CREATE OR REPLACE TEMP MACRO utc_midnight(d) AS CAST(d AS TIMESTAMPTZ);

-- an instant as an integer (microseconds since 1970, UTC): a cheap sort key
CREATE OR REPLACE TEMP MACRO instant_key(ts) AS epoch_us(ts);

-- the store's deals, each with a unique integer deal_key (its row number in the table; Spark:
-- monotonically_increasing_id())
CREATE OR REPLACE TEMP MACRO keyed_deals() AS TABLE SELECT rowid AS deal_key, * FROM main.deals;

-- date bucketing: the first day of d's month; d + n months (n may be negative)
CREATE OR REPLACE TEMP MACRO month_of(d) AS CAST(date_trunc('month', d) AS DATE);
CREATE OR REPLACE TEMP MACRO add_months(d, n) AS CAST(d + to_months(CAST(n AS INTEGER)) AS DATE);

-- whole days from day a to day b (b - a; negative when b is earlier), an integer
CREATE OR REPLACE TEMP MACRO day_diff(a, b) AS CAST(b - a AS BIGINT);

-- the first day of the period of `months` months holding d, periods aligned on the fiscal
-- year's first month (fiscal_offset = fiscal_year_start_month - 1): absolute month index
-- i = year * 12 + month - 1; the period starts at floor((i - fiscal_offset) / months) * months + fiscal_offset
CREATE OR REPLACE TEMP MACRO period_start_of(d, months, fiscal_offset) AS
    make_date(
        CAST(((year(d) * 12 + month(d) - 1 - fiscal_offset) // months * months + fiscal_offset) // 12 AS BIGINT),
        CAST(((year(d) * 12 + month(d) - 1 - fiscal_offset) // months * months + fiscal_offset) % 12 + 1 AS BIGINT),
        1);

-- month_series(first, last): one row per month start from month_of(first) to month_of(last)
CREATE OR REPLACE TEMP MACRO month_series(first_day, last_day) AS TABLE
    SELECT CAST(g.m AS DATE) AS month_start
    FROM generate_series(CAST(month_of(first_day) AS TIMESTAMP),
                         CAST(month_of(last_day) AS TIMESTAMP), INTERVAL 1 MONTH) g(m);

-- day_index(t, first_day, last_day): for each day from first_day to last_day, the number of the
-- latest row of t (columns bi, t: instants numbered in time order) with t <= the day's UTC
-- midnight (utc_midnight), plus 1 (1 when none): "the first boundary after the day's midnight"
CREATE OR REPLACE TEMP MACRO day_index(t, first_day, last_day) AS TABLE
    SELECT CAST(g.d AS DATE) AS day, coalesce(b.bi, 0) + 1 AS bi
    FROM generate_series(CAST(first_day AS TIMESTAMP), CAST(last_day AS TIMESTAMP), INTERVAL 1 DAY) g(d)
    ASOF LEFT JOIN query_table(t) b ON utc_midnight(CAST(g.d AS DATE)) >= b.t;

-- rate_in_force(keys, rates): for each row of keys (source, currency, rate_day), the rate row of
-- rates (source, currency, start_date, rate, end_date) with the latest start_date <= rate_day
-- (rate and rate_end NULL when none)
CREATE OR REPLACE TEMP MACRO rate_in_force(keys, rates) AS TABLE
    SELECT k.source, k.currency, k.rate_day, r.rate, r.end_date AS rate_end
    FROM query_table(keys) k
    ASOF LEFT JOIN query_table(rates) r
      ON r.source = k.source AND r.currency = k.currency AND k.rate_day >= r.start_date;

-- expand_runs(t, never): t's rows (bi, next_bi, ...) repeated once per index i in
-- [bi, coalesce(next_bi, never)), i as a new column
CREATE OR REPLACE TEMP MACRO expand_runs(t, never) AS TABLE
    SELECT r.*, unnest(range(r.bi, coalesce(r.next_bi, never))) AS i
    FROM query_table(t) r;

-- Members are numbered in dim_members (steps/facts.sql; overall = 0) and the facts carry each
-- deal's member numbers p_id, o_id, t_id, u_id, c_id (partner, owner, team, unit, channel).
-- Sums and counts per member from half the hashing over the deals: a step groups the deals by
--   GROUPING SETS ((k, p_id), (k, c_id), (k, o_id, t_id, u_id))
-- (k: the period or boundary) into a table t; member_rollup(t) gives one row per (k, mid) with
-- every other column of t summed: owners, teams and units from the (owner, team, unit) groups
-- (a deal has one of each), overall from the channel groups (every deal has a channel).
CREATE OR REPLACE TEMP MACRO member_rollup(t) AS TABLE
    SELECT k, CAST(coalesce(p_id, c_id, 0) AS INTEGER) AS mid,
           COLUMNS(* EXCLUDE (k, p_id, o_id, t_id, u_id, c_id))
    FROM query_table(t)
    WHERE o_id IS NULL
    UNION ALL BY NAME
    SELECT k, CAST(coalesce(o_id, t_id, u_id, 0) AS INTEGER) AS mid,
           sum(COLUMNS(* EXCLUDE (k, p_id, o_id, t_id, u_id, c_id)))
    FROM query_table(t)
    WHERE o_id IS NOT NULL
    GROUP BY GROUPING SETS ((k, o_id), (k, t_id), (k, u_id))
    UNION ALL BY NAME
    SELECT k, CAST(0 AS INTEGER) AS mid, sum(COLUMNS(* EXCLUDE (k, p_id, o_id, t_id, u_id, c_id)))
    FROM query_table(t)
    WHERE c_id IS NOT NULL
    GROUP BY k;
