-- The macro layer for Spark SQL (3.4+): one definition per macro of duckdb.sql, in Spark SQL.
-- Spark SQL has no macros, so kpi_engine/dialects.py expands each call at transpile time:
-- a scalar macro's parameters are replaced by the call's arguments, a table macro becomes a
-- subquery (LATERAL when its arguments read another table's columns); a table parameter
-- (passed as a string: member_rollup('t')) names the table. In member_rollup, rest_columns
-- stands for every column of t the body does not name (DuckDB's COLUMNS(* EXCLUDE ...)).
-- Dates: DATE_TRUNC returns a TIMESTAMP in Spark and a TIMESTAMP <-> DATE cast uses the
-- session time zone, so bucketing uses TRUNC (a DATE) and the UTC day is computed from the
-- instant's microseconds, whatever spark.sql.session.timeZone is.

-- macro: utc_day(ts)
DATE_FROM_UNIX_DATE(CAST(FLOOR(UNIX_MICROS(ts) / 86400000000) AS INT));

-- macro: utc_midnight(d)
TIMESTAMP_MICROS(UNIX_DATE(d) * 86400000000);

-- macro: instant_key(ts)
UNIX_MICROS(ts);

-- macro: keyed_deals()
SELECT MONOTONICALLY_INCREASING_ID() AS deal_key, * FROM deals;

-- macro: month_of(d)
TRUNC(d, 'MM');

-- macro: add_months(d, n)
ADD_MONTHS(d, CAST(n AS INT));

-- whole days from a to b: Spark's DATE - DATE is an INTERVAL DAY
-- macro: day_diff(a, b)
CAST(DATEDIFF(b, a) AS BIGINT);

-- macro: period_start_of(d, months, fiscal_offset)
MAKE_DATE(
    CAST(((YEAR(d) * 12 + MONTH(d) - 1 - fiscal_offset) DIV months * months + fiscal_offset) DIV 12 AS INT),
    CAST(((YEAR(d) * 12 + MONTH(d) - 1 - fiscal_offset) DIV months * months + fiscal_offset) % 12 + 1 AS INT),
    1);

-- macro: month_series(first_day, last_day)
SELECT EXPLODE(SEQUENCE(TRUNC(first_day, 'MM'), TRUNC(last_day, 'MM'), INTERVAL 1 MONTH)) AS month_start;

-- the day's UTC midnight as an instant: TIMESTAMP_MICROS of the day number (no session zone)
-- macro: day_index(t, first_day, last_day)
SELECT g.day, COALESCE(MAX(b.bi), 0) + 1 AS bi
FROM (SELECT EXPLODE(SEQUENCE(first_day, last_day, INTERVAL 1 DAY)) AS day) g
LEFT JOIN t b ON TIMESTAMP_MICROS(UNIX_DATE(g.day) * 86400000000) >= b.t
GROUP BY g.day;

-- the latest rate row with start_date <= rate_day (keys are distinct: rate_keys is DISTINCT)
-- macro: rate_in_force(keys, rates)
SELECT source, currency, rate_day, rate, rate_end
FROM (
    SELECT k.source, k.currency, k.rate_day, r.rate, r.end_date AS rate_end,
           ROW_NUMBER() OVER (PARTITION BY k.source, k.currency, k.rate_day
                              ORDER BY r.start_date DESC) AS rn
    FROM keys k
    LEFT JOIN rates r
      ON r.source = k.source AND r.currency = k.currency AND k.rate_day >= r.start_date
) x
WHERE rn = 1;

-- SEQUENCE(a, b) counts down when a > b: empty runs are filtered out first. Spark refuses an
-- outer reference (never, a column of the calling query) in a generator, so the run's end is
-- a column of an inner query first (end_i: one more column than DuckDB's)
-- macro: expand_runs(t, never)
SELECT x.*, EXPLODE(SEQUENCE(x.bi, x.end_i - 1)) AS i
FROM (SELECT r.*, COALESCE(r.next_bi, never) AS end_i FROM t r
      WHERE r.bi < COALESCE(r.next_bi, never)) x;

-- macro: member_rollup(t)
SELECT k, CAST(COALESCE(p_id, c_id, 0) AS INT) AS mid, rest_columns
FROM t
WHERE o_id IS NULL
UNION ALL
SELECT k, CAST(COALESCE(o_id, t_id, u_id, 0) AS INT) AS mid, SUM(rest_columns)
FROM t
WHERE NOT o_id IS NULL
GROUP BY GROUPING SETS ((k, o_id), (k, t_id), (k, u_id))
UNION ALL
SELECT k, CAST(0 AS INT) AS mid, SUM(rest_columns)
FROM t
WHERE NOT c_id IS NULL
GROUP BY k;
