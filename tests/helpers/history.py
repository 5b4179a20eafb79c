"""Amount and close-date history and pipeline snapshots for the synthetic 3,000-deal store
(``tests/helpers/regression.GENERATE``, run on the same connection first: it defines ``h``):
versions that raise and cut amounts, move close dates in and out of periods, share an instant
(the CRM's order decides) and, for source ``b``, pipeline snapshots. Read by the waterfall
tests and the Spark tests."""

HISTORY = """
-- source a: a first version at the creation (amount x 0.8 or x 1.3, close date 50 days later
-- or 70 days earlier), the current values 20..80 days later; every 7th deal gets a second
-- close-date version at the same instant, set before the first in the CRM's order
INSERT INTO deal_history
SELECT source, deal_id, 'amount', '0000000000', created_at,
       CAST(amount * CASE WHEN h(i, 60) % 2 = 0 THEN 0.8 ELSE 1.3 END AS DECIMAL(38, 6)), NULL, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND amount IS NOT NULL AND h(i, 61) % 3 <> 0
UNION ALL
SELECT source, deal_id, 'amount', '0000000001',
       created_at + to_days(CAST(20 + h(i, 62) % 60 AS INTEGER)), amount, NULL, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND amount IS NOT NULL AND h(i, 61) % 3 <> 0
UNION ALL
SELECT source, deal_id, 'close_date', '0000000000', created_at, NULL,
       close_date + CASE WHEN h(i, 63) % 2 = 0 THEN 50 ELSE -70 END, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND close_date IS NOT NULL AND h(i, 64) % 3 <> 0
UNION ALL
SELECT source, deal_id, 'close_date', '0000000002',
       created_at + to_days(CAST(10 + h(i, 65) % 90 AS INTEGER)), NULL, close_date, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND close_date IS NOT NULL AND h(i, 64) % 3 <> 0
UNION ALL
SELECT source, deal_id, 'close_date', '0000000001', created_at, NULL, close_date + 400, NULL
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE source = 'a' AND created_at IS NOT NULL AND close_date IS NOT NULL AND h(i, 64) % 3 <> 0
  AND i % 7 = 0;

-- source b: two snapshots of the open deals (as a CSV source stores them at each sync)
INSERT INTO pipeline_snapshots
SELECT source, TIMESTAMPTZ '2023-01-15 06:00:00+00', deal_id, stage,
       CAST(amount * 1.5 AS DECIMAL(38, 6)), currency, close_date + 95
FROM deals WHERE source = 'b' AND NOT is_closed
UNION ALL
SELECT source, TIMESTAMPTZ '2023-08-15 06:00:00+00', deal_id, stage, amount, currency, close_date
FROM deals WHERE source = 'b' AND NOT is_closed;
"""
