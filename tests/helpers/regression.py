"""The synthetic KPI regression data set: its channel map and the SQL that generates it (the
recorded values are ``fixtures/kpi_regression/kpi_values.csv.gz``)."""

from __future__ import annotations

CHANNELS = {
    "paid": ["PAID_SEARCH", "PAID_SOCIAL"],
    "owned": ["EMAIL_MARKETING", "DIRECT_TRAFFIC", "ORGANIC_SOCIAL"],
    "earned": ["ORGANIC_SEARCH", "REFERRALS"],
    "partner": ["Partner", "Partner Referral"],
}

# A deterministic 32-bit hash (DuckDB's hash() may change between versions; this may not).
GENERATE = """
CREATE OR REPLACE TEMP MACRO m32(x) AS
    CAST((CAST(x AS HUGEINT) * 2654435761) % 4294967296 AS BIGINT);
CREATE OR REPLACE TEMP MACRO h(i, k) AS
    m32(xor(m32(i * 1000 + k + 1), m32(i * 1000 + k + 1) >> 16));

INSERT INTO partners
SELECT 'a', 'P' || i, 'Partner ' || i, 'Reseller', NULL, TIMESTAMPTZ '2024-01-01 00:00:00+00', i = 3
FROM range(15) t(i)
UNION ALL
SELECT 'b', 'P' || i, 'Partner ' || i, 'Reseller', NULL, TIMESTAMPTZ '2024-01-01 00:00:00+00', false
FROM range(6) t(i);

INSERT INTO owners
SELECT 'a', 'U' || i, 'Rep ' || i,
       CASE WHEN i <> 19 THEN 'Team ' || (i // 4) END,
       CASE WHEN i <> 18 THEN ['EMEA', 'NA', 'APAC'][i % 3 + 1] END, true
FROM range(20) t(i)
UNION ALL
SELECT 'b', 'U' || i, 'Rep ' || i, 'Team ' || (i // 3), ['EMEA', 'NA'][i % 2 + 1], true
FROM range(8) t(i);

INSERT INTO stages VALUES
  ('a', 'default', 'Prospecting', 'Prospecting', 0.1, false, false, 1),
  ('a', 'default', 'Qualification', 'Qualification', 0.25, false, false, 2),
  ('a', 'default', 'Proposal', 'Proposal', 0.6, false, false, 3),
  ('a', 'default', 'Limbo', 'Limbo', NULL, false, false, 4),
  ('a', 'default', 'Won', 'Won', 1.0, true, true, 5),
  ('a', 'default', 'Lost', 'Lost', 0.0, true, false, 6),
  ('a', 'enterprise', 'Prospecting', 'Prospecting', 0.05, false, false, 1),
  ('a', 'enterprise', 'Proposal', 'Proposal', 0.5, false, false, 2),
  ('a', 'enterprise', 'Won', 'Won', 1.0, true, true, 3),
  ('a', 'enterprise', 'Lost', 'Lost', 0.0, true, false, 4),
  ('b', 'default', 'Prospecting', 'Prospecting', 0.15, false, false, 1),
  ('b', 'default', 'Qualification', 'Qualification', 0.3, false, false, 2),
  ('b', 'default', 'Proposal', 'Proposal', 0.7, false, false, 3),
  ('b', 'default', 'Won', 'Won', 1.0, true, true, 4),
  ('b', 'default', 'Lost', 'Lost', 0.0, true, false, 5);

-- EUR: two dated rates; GBP: a gap from 2023-03-01 to 2023-06-01; JPY: no rate (source a).
INSERT INTO currency_rates VALUES
  ('a', 'EUR', 'USD', 0.9, DATE '0001-01-01', DATE '2023-01-01'),
  ('a', 'EUR', 'USD', 0.95, DATE '2023-01-01', NULL),
  ('a', 'GBP', 'USD', 0.8, DATE '0001-01-01', DATE '2023-03-01'),
  ('a', 'GBP', 'USD', 0.78, DATE '2023-06-01', NULL),
  ('b', 'EUR', 'USD', 0.92, DATE '0001-01-01', NULL);

CREATE OR REPLACE TEMP TABLE gen AS
SELECT i,
       CASE WHEN h(i, 0) % 5 = 0 THEN 'b' ELSE 'a' END AS source,
       h(i, 1) % 10 < 6 AS closed,
       h(i, 2) % 10 < 4 AS won,
       CASE
           WHEN h(i, 3) % 50 = 0 THEN NULL
           -- on a month's first midnight: exactly on a period boundary
           WHEN h(i, 4) % 15 = 0 THEN CAST(date_trunc('month', DATE '2022-01-01'
                + CAST(h(i, 5) % 730 AS INTEGER)) AS TIMESTAMPTZ)
           -- on some day's midnight
           WHEN h(i, 4) % 15 = 1
               THEN CAST(DATE '2022-01-01' + CAST(h(i, 5) % 730 AS INTEGER) AS TIMESTAMPTZ)
           ELSE TIMESTAMPTZ '2022-01-01 00:00:00+00'
               + to_seconds(CAST(h(i, 5) % 63072000 AS BIGINT))
       END AS created
FROM range(3000) t(i);

INSERT INTO deals (source, deal_id, name, partner_id, owner_id, account_name, pipeline, stage,
                   is_closed, is_won, amount, currency, amount_reporting, created_at, close_date,
                   lead_source, updated_at, is_deleted)
SELECT source, 'D' || i, 'Deal ' || i,
       CASE WHEN h(i, 6) % 10 < 8
            THEN 'P' || (h(i, 7) % CASE source WHEN 'a' THEN 17 ELSE 6 END) END,
       CASE WHEN h(i, 8) % 30 = 0 THEN NULL
            WHEN h(i, 8) % 30 = 1 THEN 'U99'
            ELSE 'U' || (h(i, 9) % CASE source WHEN 'a' THEN 20 ELSE 8 END) END,
       'Account ' || (h(i, 10) % 300),
       CASE WHEN source = 'a' AND h(i, 11) % 4 = 0 THEN 'enterprise' ELSE 'default' END,
       CASE WHEN closed AND won THEN 'Won' WHEN closed THEN 'Lost'
            ELSE ['Prospecting', 'Qualification', 'Proposal', 'Limbo', 'Ghost'][h(i, 12) % 5 + 1]
       END,
       closed, closed AND won,
       CASE WHEN h(i, 13) % 25 = 0 THEN NULL
            ELSE CAST(100 + h(i, 14) % 100000 + (h(i, 15) % 100) / 100 AS DECIMAL(38, 6)) END,
       ['USD', 'USD', 'USD', 'USD', 'USD', 'EUR', 'EUR', 'GBP', 'JPY', NULL][h(i, 16) % 10 + 1],
       NULL,
       created,
       CASE
           WHEN closed AND h(i, 17) % 40 = 0 THEN NULL
           WHEN closed AND created IS NULL THEN DATE '2022-06-01' + CAST(h(i, 18) % 500 AS INTEGER)
           WHEN closed THEN CAST(created AS DATE) + CAST(h(i, 18) % 206 AS INTEGER) - 6
           -- an open deal's expected close date: ignored by the pipeline
           WHEN h(i, 17) % 3 = 0 THEN DATE '2022-03-01' + CAST(h(i, 18) % 700 AS INTEGER)
       END,
       ['PAID_SEARCH', 'paid_social', 'EMAIL_MARKETING', 'DIRECT_TRAFFIC', 'ORGANIC_SOCIAL',
        'ORGANIC_SEARCH', 'REFERRALS', 'Partner', 'Unmapped', NULL, ''][h(i, 19) % 11 + 1],
       TIMESTAMPTZ '2024-06-01 00:00:00+00',
       h(i, 20) % 40 = 0
FROM gen;

-- converted amounts given by the CRM for some foreign-currency deals
UPDATE deals SET amount_reporting = CAST(amount * 1.1 AS DECIMAL(38, 6))
WHERE currency IN ('EUR', 'JPY') AND amount IS NOT NULL
  AND CAST(substr(deal_id, 2) AS BIGINT) % 4 = 0;

-- 0..4 history rows per deal, some before the creation, some on midnights, some unknown stages
INSERT INTO stage_history (source, deal_id, stage, entered_at)
SELECT DISTINCT source, deal_id,
       CASE WHEN pipeline = 'enterprise'
            THEN ['Prospecting', 'Proposal', 'Proposal', 'Ghost'][k + 1]
            ELSE ['Prospecting', 'Qualification', 'Proposal', 'Limbo'][k + 1] END AS stage,
       CASE
           WHEN h(i, 30 + k) % 6 = 0
               THEN CAST(CAST(base + to_days(CAST(k * 20 + h(i, 40 + k) % 40 AS INTEGER))
                              AS DATE) AS TIMESTAMPTZ)
           ELSE base + to_seconds(CAST((k * 15 - 3) * 86400 + h(i, 40 + k) % 3000000 AS BIGINT))
       END AS entered_at
FROM (
    SELECT source, deal_id, pipeline, CAST(substr(deal_id, 2) AS BIGINT) AS i,
           coalesce(created_at, TIMESTAMPTZ '2022-05-01 00:00:00+00') AS base
    FROM deals
) d, range(4) r(k)
WHERE k < h(i, 29) % 5
-- two stages entered at the same instant have no "latest": keep one
QUALIFY row_number() OVER (PARTITION BY source, deal_id, entered_at ORDER BY stage) = 1;

-- won / lost rows on the close date's midnight for some closed deals
INSERT INTO stage_history (source, deal_id, stage, entered_at)
SELECT source, deal_id, stage, CAST(close_date AS TIMESTAMPTZ)
FROM deals
WHERE is_closed AND close_date IS NOT NULL AND CAST(substr(deal_id, 2) AS BIGINT) % 3 <> 0
  AND NOT EXISTS (SELECT 1 FROM stage_history h WHERE h.source = deals.source
                  AND h.deal_id = deals.deal_id
                  AND h.entered_at = CAST(deals.close_date AS TIMESTAMPTZ));

INSERT INTO leads
SELECT CASE WHEN h(i, 50) % 5 = 0 THEN 'b' ELSE 'a' END, 'L' || i,
       CASE WHEN h(i, 51) % 10 < 7 THEN 'P' || (h(i, 52) % 15) END,
       CASE WHEN h(i, 53) % 20 <> 0 THEN 'U' || (h(i, 54) % 20) END,
       CASE WHEN h(i, 55) % 40 <> 0
            THEN TIMESTAMPTZ '2022-01-01 00:00:00+00'
                 + to_seconds(CAST(h(i, 56) % 63072000 AS BIGINT)) END,
       NULL, NULL,
       ['PAID_SEARCH', 'REFERRALS', 'Partner', NULL, 'Other'][h(i, 57) % 5 + 1],
       h(i, 58) % 30 = 0
FROM range(900) t(i);
UPDATE leads
SET converted_at = created_at + to_days(CAST(CAST(substr(lead_id, 2) AS BIGINT) % 90 AS INTEGER))
WHERE created_at IS NOT NULL AND CAST(substr(lead_id, 2) AS BIGINT) % 3 = 0;
"""
