-- The macro layer for Snowflake: one definition per macro of duckdb.sql, in Snowflake SQL.
-- Snowflake's SQL UDFs take no table arguments, so kpi_engine/dialects.py expands each call
-- at transpile time (as for Spark: see spark.sql). Dates: the UTC day converts the instant
-- to UTC first (CONVERT_TIMEZONE), not the session's TIMEZONE; a day's UTC midnight is
-- compared as TIMESTAMP_NTZ wall time in UTC; bucketing casts DATE_TRUNC's result to DATE.

-- macro: utc_day(ts)
TO_DATE(CONVERT_TIMEZONE('UTC', ts));

-- macro: utc_midnight(d)
TIMESTAMP_TZ_FROM_PARTS(YEAR(d), MONTH(d), DAY(d), 0, 0, 0, 0, 'UTC');

-- macro: instant_key(ts)
DATE_PART(EPOCH_MICROSECOND, ts);

-- macro: keyed_deals()
SELECT ROW_NUMBER() OVER (ORDER BY d.source, d.deal_id) AS deal_key, d.* FROM deals d;

-- macro: month_of(d)
CAST(DATE_TRUNC('MONTH', d) AS DATE);

-- macro: add_months(d, n)
CAST(DATEADD(MONTH, n, d) AS DATE);

-- macro: day_diff(a, b)
CAST(DATEDIFF(DAY, a, b) AS BIGINT);

-- macro: period_start_of(d, months, fiscal_offset)
DATE_FROM_PARTS(
    CAST(FLOOR((FLOOR((YEAR(d) * 12 + MONTH(d) - 1 - fiscal_offset) / months) * months + fiscal_offset) / 12) AS INT),
    CAST(MOD(FLOOR((YEAR(d) * 12 + MONTH(d) - 1 - fiscal_offset) / months) * months + fiscal_offset, 12) + 1 AS INT),
    1);

-- macro: month_series(first_day, last_day)
SELECT CAST(DATEADD(MONTH, g.index, DATE_TRUNC('MONTH', first_day)) AS DATE) AS month_start
FROM TABLE(FLATTEN(ARRAY_GENERATE_RANGE(0, DATEDIFF(MONTH, first_day, last_day) + 1))) g;

-- macro: day_index(t, first_day, last_day)
SELECT g.day, COALESCE(MAX(b.bi), 0) + 1 AS bi
FROM (
    SELECT CAST(DATEADD(DAY, f.index, first_day) AS DATE) AS day
    FROM TABLE(FLATTEN(ARRAY_GENERATE_RANGE(0, DATEDIFF(DAY, first_day, last_day) + 1))) f
) g
LEFT JOIN t b
  ON CAST(g.day AS TIMESTAMP_NTZ) >= CAST(CONVERT_TIMEZONE('UTC', b.t) AS TIMESTAMP_NTZ)
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

-- ARRAY_GENERATE_RANGE(a, b) is [a, b): empty when a >= b
-- macro: expand_runs(t, never)
SELECT r.*, CAST(f.value AS INT) AS i
FROM t r, TABLE(FLATTEN(ARRAY_GENERATE_RANGE(r.bi, COALESCE(r.next_bi, never)))) f;

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
