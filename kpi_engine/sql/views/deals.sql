-- bi.deals: every live (not deleted) deal with its names resolved, for BI tools. Columns
-- (docs/bi-views.md): ids and names of the deal, its partner and owner, the owner's team and
-- unit, the stage and its label, won / closed flags, the amount in the deal's currency and in
-- the reporting currency of the latest compute (kpi_settings; NULL before any compute), by the
-- rule of docs/kpis.md ("Amount"): the amount itself in that currency, else the CRM's converted
-- amount, else amount / the rate in force on the close date (today without one); NULL with no
-- rate. Dates in UTC.
CREATE OR REPLACE VIEW bi.deals AS
SELECT d.source, d.deal_id, d.name AS deal_name,
       d.partner_id, p.name AS partner_name,
       d.owner_id, o.name AS owner_name, o.team, o.unit,
       d.account_name, d.pipeline, d.stage, st.label AS stage_label, st.probability,
       d.is_closed, d.is_won, d.amount, d.currency,
       CASE
           WHEN d.amount IS NULL THEN NULL
           WHEN d.currency IS NULL OR d.currency = k.reporting_currency THEN d.amount
           WHEN d.amount_reporting IS NOT NULL THEN d.amount_reporting
           WHEN r.rate IS NOT NULL
                AND (r.end_date IS NULL OR coalesce(d.close_date, current_date) < r.end_date)
               THEN CAST(d.amount / r.rate AS DECIMAL(38, 6))
       END AS amount_reporting,
       k.reporting_currency,
       d.created_at, d.close_date, d.lead_source, d.updated_at
FROM main.deals d
LEFT JOIN main.kpi_settings k ON true
LEFT JOIN main.partners p ON p.source = d.source AND p.partner_id = d.partner_id
LEFT JOIN main.owners o ON o.source = d.source AND o.owner_id = d.owner_id
LEFT JOIN main.stages st ON st.source = d.source AND st.pipeline = d.pipeline AND st.stage = d.stage
LEFT JOIN LATERAL (
    SELECT cr.rate, cr.end_date
    FROM main.currency_rates cr
    WHERE cr.source = d.source AND cr.currency = d.currency
      AND cr.per_currency = k.reporting_currency
      AND cr.start_date <= coalesce(d.close_date, current_date)
    ORDER BY cr.start_date DESC
    LIMIT 1
) r ON true
WHERE NOT d.is_deleted;
