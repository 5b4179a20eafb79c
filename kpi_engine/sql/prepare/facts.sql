-- Facts every KPI family reads: the live (not deleted) deals and leads with their dimension
-- members and the amount in the reporting currency. Inputs (temp tables made by kpis.py):
--   kpi_params(reporting_currency, t_cut TIMESTAMPTZ, cut_date DATE, all_sources BOOLEAN)
--   kpi_sources(source)            -- sources to include when not all_sources
--   channel_map(lead_source, channel)  -- lead_source lower-cased
-- Missing members: partner/owner/team/unit -> 'none', channel -> 'unknown'.

CREATE OR REPLACE TEMP TABLE f_deals AS
WITH live AS (
    SELECT d.*
    FROM deals d, kpi_params p
    WHERE NOT d.is_deleted
      AND (p.all_sources OR d.source IN (SELECT source FROM kpi_sources))
),
needs_rate AS (
    -- only an amount in another currency that the CRM has not converted needs a rate
    SELECT l.amount IS NOT NULL AND l.currency IS NOT NULL AND l.currency <> p.reporting_currency
           AND l.amount_reporting IS NULL AS needs_rate, l.*
    FROM live l, kpi_params p
),
rated AS (
    -- the rate in force on the close date (today for deals without one): latest start_date <= it
    SELECT l.* EXCLUDE (needs_rate), r.rate, r.end_date AS rate_end
    FROM (SELECT * FROM needs_rate WHERE needs_rate) l
    ASOF LEFT JOIN (
        SELECT r.* FROM currency_rates r, kpi_params p WHERE r.per_currency = p.reporting_currency
    ) r
      ON r.source = l.source
     AND r.currency = l.currency
     AND coalesce(l.close_date, current_date) >= r.start_date
    UNION ALL BY NAME
    SELECT * EXCLUDE (needs_rate), NULL AS rate, NULL AS rate_end
    FROM needs_rate WHERE NOT needs_rate
)
SELECT
    d.source,
    d.deal_id,
    d.pipeline,
    d.stage,
    coalesce(d.partner_id, 'none') AS partner,
    coalesce(d.owner_id, 'none') AS owner,
    coalesce(o.team, 'none') AS team,
    coalesce(o.unit, 'none') AS unit,
    coalesce(c.channel, 'unknown') AS channel,
    d.is_closed,
    d.is_won,
    d.is_closed AND NOT d.is_won AS is_lost,
    CASE
        WHEN d.amount IS NULL THEN NULL
        WHEN d.currency IS NULL OR d.currency = p.reporting_currency THEN d.amount
        WHEN d.amount_reporting IS NOT NULL THEN d.amount_reporting
        WHEN d.rate IS NOT NULL AND (d.rate_end IS NULL OR coalesce(d.close_date, current_date) < d.rate_end)
            THEN CAST(d.amount / d.rate AS DECIMAL(38, 6))
    END AS amount,
    d.amount IS NOT NULL
        AND d.currency IS NOT NULL AND d.currency <> p.reporting_currency
        AND d.amount_reporting IS NULL
        AND (d.rate IS NULL OR coalesce(d.close_date, current_date) >= coalesce(d.rate_end, DATE '9999-12-31'))
        AS no_rate,
    d.currency,
    -- creation and close, cut at --as-of: a creation or close after the cut has not happened yet
    CASE WHEN d.created_at < p.t_cut THEN d.created_at END AS created_at,
    CASE WHEN d.created_at < p.t_cut THEN CAST(d.created_at AS DATE) END AS created_date,
    d.close_date,
    d.is_closed AND d.close_date < p.cut_date AS closed_by_cut,
    d.created_at IS NULL AS no_created_at
FROM rated d
CROSS JOIN kpi_params p
LEFT JOIN owners o ON o.source = d.source AND o.owner_id = d.owner_id
LEFT JOIN channel_map c ON c.lead_source = lower(d.lead_source);

CREATE OR REPLACE TEMP TABLE f_leads AS
SELECT
    l.source,
    l.lead_id,
    coalesce(l.partner_id, 'none') AS partner,
    coalesce(l.owner_id, 'none') AS owner,
    coalesce(o.team, 'none') AS team,
    coalesce(o.unit, 'none') AS unit,
    coalesce(c.channel, 'unknown') AS channel,
    CAST(l.created_at AS DATE) AS created_date,
    l.converted_at IS NOT NULL AND l.converted_at < p.t_cut AS converted_by_cut
FROM leads l
CROSS JOIN kpi_params p
LEFT JOIN owners o ON o.source = l.source AND o.owner_id = l.owner_id
LEFT JOIN channel_map c ON c.lead_source = lower(l.lead_source)
WHERE NOT l.is_deleted
  AND l.created_at < p.t_cut
  AND (p.all_sources OR l.source IN (SELECT source FROM kpi_sources));

-- Names of dimension members (for member_name).
CREATE OR REPLACE TEMP TABLE member_names AS
SELECT 'partner' AS dimension, partner_id AS member, any_value(name) AS member_name
FROM partners GROUP BY partner_id
UNION ALL
SELECT 'owner', owner_id, any_value(name) FROM owners GROUP BY owner_id;
