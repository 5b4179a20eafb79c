-- The macro layer for BigQuery: one definition per macro of duckdb.sql, in GoogleSQL.
-- BigQuery's temporary functions take no table arguments, so kpi_engine/dialects.py expands
-- each call at transpile time (as for Spark: see spark.sql); a table macro whose arguments read
-- another table's columns becomes UNNEST(ARRAY(SELECT AS STRUCT ...)), BigQuery's correlated
-- join. Dates: the UTC day and a day's UTC midnight name the 'UTC' zone (DATE(ts, 'UTC'),
-- TIMESTAMP(d, 'UTC')); DATE_TRUNC of a DATE is a DATE; GENERATE_DATE_ARRAY steps by month.

-- macro: utc_day(ts)
DATE(ts, 'UTC');

-- macro: utc_midnight(d)
TIMESTAMP(d, 'UTC');

-- macro: instant_key(ts)
UNIX_MICROS(ts);

-- macro: keyed_deals()
SELECT ROW_NUMBER() OVER (ORDER BY d.source, d.deal_id) AS deal_key, d.* FROM deals d;

-- macro: month_of(d)
DATE_TRUNC(d, MONTH);

-- macro: add_months(d, n)
DATE_ADD(d, INTERVAL n MONTH);

-- macro: day_diff(a, b)
CAST(DATE_DIFF(b, a, DAY) AS INT64);

-- macro: period_start_of(d, months, fiscal_offset)
DATE(
    DIV((DIV((EXTRACT(YEAR FROM d) * 12 + EXTRACT(MONTH FROM d) - 1 - fiscal_offset), months) * months + fiscal_offset), 12),
    MOD(DIV((EXTRACT(YEAR FROM d) * 12 + EXTRACT(MONTH FROM d) - 1 - fiscal_offset), months) * months + fiscal_offset, 12) + 1,
    1);

-- macro: month_series(first_day, last_day)
SELECT month_start
FROM UNNEST(GENERATE_DATE_ARRAY(DATE_TRUNC(first_day, MONTH), DATE_TRUNC(last_day, MONTH), INTERVAL 1 MONTH)) AS month_start;

-- macro: day_index(t, first_day, last_day)
SELECT day_value AS day, COALESCE(MAX(b.bi), 0) + 1 AS bi
FROM UNNEST(GENERATE_DATE_ARRAY(first_day, last_day, INTERVAL 1 DAY)) AS day_value
LEFT JOIN t b ON TIMESTAMP(day_value, 'UTC') >= b.t
GROUP BY day_value;

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

-- GENERATE_ARRAY(a, b) is [a, b] and empty when a > b
-- macro: expand_runs(t, never)
SELECT r.*, i
FROM t r
CROSS JOIN UNNEST(GENERATE_ARRAY(r.bi, COALESCE(r.next_bi, never) - 1)) AS i;

-- macro: member_rollup(t)
SELECT k, CAST(COALESCE(p_id, c_id, 0) AS INT64) AS mid, rest_columns
FROM t
WHERE o_id IS NULL
UNION ALL
SELECT k, CAST(COALESCE(o_id, t_id, u_id, 0) AS INT64) AS mid, SUM(rest_columns)
FROM t
WHERE NOT o_id IS NULL
GROUP BY GROUPING SETS ((k, o_id), (k, t_id), (k, u_id))
UNION ALL
SELECT k, CAST(0 AS INT64) AS mid, SUM(rest_columns)
FROM t
WHERE NOT c_id IS NULL
GROUP BY k;
