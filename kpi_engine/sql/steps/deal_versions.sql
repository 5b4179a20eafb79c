-- The versions of every live deal's amount and close date, for the pipeline waterfall
-- (docs/kpis.md, "Pipeline waterfall"): from the CRMs' field history (deal_history) and, for a
-- source without one, from the pipeline snapshots stored at each sync (pipeline_snapshots).
-- step: deal_versions
-- reads: f_deals, deals, deal_history, pipeline_snapshots, kpi_params
-- creates: f_versions
-- scratch: version_rows
--   f_versions(deal_key, field, amount, close_date, valid_from, valid_to): field 'amount'
--   (amount in the reporting currency) or 'close_date'. A version is the value in force at an
--   instant t when valid_from < t <= valid_to (NULL valid_from: the deal's first version, also in
--   force before it was recorded; NULL valid_to: the latest). Of two versions at one instant the
--   one the CRM set last (greatest crm_order) is kept. A deal with no version of a field has no
--   row for it: its current value is in force at every t.
-- Amounts convert as the deal's current amount does (docs/kpis.md, "Amount"): in the reporting
-- currency (or without a currency) as they are; else at the ratio of the deal's converted amount
-- to its amount (the rate in force on its current close date), rounded to 6 places; NULL when
-- the deal's amount has no rate, or is 0 while the version's is not.
CREATE OR REPLACE TEMP TABLE version_rows AS
SELECT f.deal_key, h.field, h.changed_at, h.crm_order, h.value_amount AS raw_amount,
       f.currency AS currency, h.value_date AS close_date
FROM deal_history h
JOIN f_deals f ON f.source = h.source AND f.deal_id = h.deal_id
WHERE h.field IN ('amount', 'close_date')
UNION ALL
SELECT f.deal_key, x.field, s.snapshot_at, '', s.amount, s.currency, s.close_date
FROM pipeline_snapshots s
JOIN f_deals f ON f.source = s.source AND f.deal_id = s.deal_id
CROSS JOIN (SELECT 'amount' AS field UNION ALL SELECT 'close_date') x;

CREATE OR REPLACE TEMP TABLE f_versions AS
SELECT deal_key, field, amount, close_date,
       CASE WHEN first_version = 1 THEN NULL ELSE changed_at END AS valid_from,
       valid_to
FROM (
    SELECT v.deal_key, v.field, v.changed_at, v.close_date,
           CASE
               WHEN v.field <> 'amount' OR v.raw_amount IS NULL THEN NULL
               WHEN v.currency IS NULL OR v.currency = k.reporting_currency THEN v.raw_amount
               WHEN v.currency = f.currency AND v.raw_amount = d.amount THEN f.amount
               WHEN v.currency = f.currency AND d.amount <> 0
                   THEN CAST(v.raw_amount * f.amount / d.amount AS DECIMAL(38, 6))
           END AS amount,
           row_number() OVER (PARTITION BY v.deal_key, v.field ORDER BY v.changed_at) AS first_version,
           lead(v.changed_at) OVER (PARTITION BY v.deal_key, v.field ORDER BY v.changed_at) AS valid_to
    FROM (
        SELECT r.*,
               row_number() OVER (PARTITION BY r.deal_key, r.field, r.changed_at
                                  ORDER BY r.crm_order DESC) AS last_at_instant
        FROM version_rows r
    ) v
    JOIN f_deals f ON f.deal_key = v.deal_key
    JOIN deals d ON d.source = f.source AND d.deal_id = f.deal_id
    CROSS JOIN kpi_params k
    WHERE v.last_at_instant = 1
) x;

DROP TABLE version_rows;
