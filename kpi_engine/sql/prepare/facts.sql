-- Facts every KPI family reads: the live (not deleted) deals and leads with their dimension
-- members and the amount in the reporting currency. Inputs (temp tables made by kpis.py):
--   kpi_params(reporting_currency, t_cut TIMESTAMPTZ, cut_date DATE, all_sources BOOLEAN)
--   kpi_sources(source)            -- sources to include when not all_sources
--   channel_map(lead_source, channel)  -- lead_source lower-cased
-- Missing members: partner/owner/team/unit -> 'none', channel -> 'unknown'.
-- Members are numbered (dim_members: mid, dimension, member, member_name; overall = 0) and the
-- facts carry the numbers (p_id, o_id, t_id, u_id, c_id): every family groups and joins on
-- integers, and the names come back only in the result (result.sql).

-- Every member a deal or lead can have (a superset: members without a deal never get a row).
CREATE OR REPLACE TEMP TABLE dim_members AS
WITH live_deals AS (
    SELECT d.source, d.partner_id, d.owner_id FROM deals d, kpi_params p
    WHERE NOT d.is_deleted AND (p.all_sources OR d.source IN (SELECT source FROM kpi_sources))
),
members AS (
    SELECT 'partner' AS dimension, coalesce(partner_id, 'none') AS member FROM live_deals
    UNION SELECT 'partner', coalesce(partner_id, 'none') FROM leads
    UNION SELECT 'owner', coalesce(owner_id, 'none') FROM live_deals
    UNION SELECT 'owner', coalesce(owner_id, 'none') FROM leads
    UNION SELECT 'team', coalesce(team, 'none') FROM owners
    UNION SELECT 'unit', coalesce(unit, 'none') FROM owners
    UNION SELECT 'team', 'none' UNION SELECT 'unit', 'none'
    UNION SELECT 'channel', channel FROM channel_map
    UNION SELECT 'channel', 'unknown'
),
names AS (
    SELECT 'partner' AS dimension, partner_id AS member, any_value(name) AS member_name
    FROM partners GROUP BY partner_id
    UNION ALL
    SELECT 'owner', owner_id, any_value(name) FROM owners GROUP BY owner_id
)
SELECT CAST(row_number() OVER (ORDER BY m.dimension, m.member) AS INTEGER) AS mid,
       m.dimension, m.member,
       CASE WHEN m.member = 'none' THEN 'No ' || m.dimension
            ELSE coalesce(n.member_name, m.member) END AS member_name
FROM members m
LEFT JOIN names n USING (dimension, member)
UNION ALL
SELECT 0, 'overall', 'all', 'All';

-- Lookups from the canonical values to member numbers (small tables, joined to the facts).
CREATE OR REPLACE TEMP TABLE ids_partner AS
SELECT member, mid FROM dim_members WHERE dimension = 'partner';
CREATE OR REPLACE TEMP TABLE ids_owner AS
SELECT member, mid FROM dim_members WHERE dimension = 'owner';
-- an owner's team and unit numbers; an owner missing from owners has team and unit 'none'
CREATE OR REPLACE TEMP TABLE ids_owner_dims AS
SELECT o.source, o.owner_id, t.mid AS t_id, u.mid AS u_id
FROM owners o
JOIN dim_members t ON t.dimension = 'team' AND t.member = coalesce(o.team, 'none')
JOIN dim_members u ON u.dimension = 'unit' AND u.member = coalesce(o.unit, 'none');
CREATE OR REPLACE TEMP TABLE ids_none AS
SELECT (SELECT mid FROM dim_members WHERE dimension = 'team' AND member = 'none') AS t_none,
       (SELECT mid FROM dim_members WHERE dimension = 'unit' AND member = 'none') AS u_none,
       (SELECT mid FROM dim_members WHERE dimension = 'channel' AND member = 'unknown') AS c_unknown;
-- a lead source (lower-cased) mapped to its channel's number
CREATE OR REPLACE TEMP TABLE ids_channel AS
SELECT c.lead_source, m.mid
FROM channel_map c JOIN dim_members m ON m.dimension = 'channel' AND m.member = c.channel;

CREATE OR REPLACE TEMP TABLE f_deals AS
WITH live AS NOT MATERIALIZED (
    SELECT d.*,
           -- only an amount in another currency that the CRM has not converted needs a rate
           d.amount IS NOT NULL AND d.currency IS NOT NULL AND d.currency <> p.reporting_currency
               AND d.amount_reporting IS NULL AS needs_rate
    FROM deals d, kpi_params p
    WHERE NOT d.is_deleted
      AND (p.all_sources OR d.source IN (SELECT source FROM kpi_sources))
),
rate_days AS (
    -- the rate in force on the close date (today for deals without one): latest start_date <= it,
    -- looked up once per (source, currency, day)
    SELECT k.source, k.currency, k.rate_day, r.rate, r.end_date AS rate_end
    FROM (
        SELECT DISTINCT source, currency, coalesce(close_date, current_date) AS rate_day
        FROM live WHERE needs_rate
    ) k
    ASOF LEFT JOIN (
        SELECT r.* FROM currency_rates r, kpi_params p WHERE r.per_currency = p.reporting_currency
    ) r
      ON r.source = k.source
     AND r.currency = k.currency
     AND k.rate_day >= r.start_date
),
rated AS (
    SELECT l.* EXCLUDE (needs_rate),
           CASE WHEN l.needs_rate THEN r.rate END AS rate,
           CASE WHEN l.needs_rate THEN r.rate_end END AS rate_end
    FROM live l
    LEFT JOIN rate_days r
      ON r.source = l.source
     AND r.currency = l.currency
     AND r.rate_day = coalesce(l.close_date, current_date)
)
SELECT
    d.source,
    d.deal_id,
    d.pipeline,
    d.stage,
    pm.mid AS p_id,
    om.mid AS o_id,
    coalesce(od.t_id, n.t_none) AS t_id,
    coalesce(od.u_id, n.u_none) AS u_id,
    coalesce(c.mid, n.c_unknown) AS c_id,
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
    CASE WHEN d.created_at < p.t_cut THEN utc_date(d.created_at) END AS created_date,
    d.close_date,
    d.is_closed AND d.close_date < p.cut_date AS closed_by_cut,
    d.created_at IS NULL AS no_created_at
FROM rated d
CROSS JOIN kpi_params p
CROSS JOIN ids_none n
LEFT JOIN ids_owner_dims od ON od.source = d.source AND od.owner_id = d.owner_id
LEFT JOIN ids_channel c ON c.lead_source = lower(d.lead_source)
JOIN ids_partner pm ON pm.member = coalesce(d.partner_id, 'none')
JOIN ids_owner om ON om.member = coalesce(d.owner_id, 'none');

CREATE OR REPLACE TEMP TABLE f_leads AS
SELECT
    l.source,
    l.lead_id,
    pm.mid AS p_id,
    om.mid AS o_id,
    coalesce(od.t_id, n.t_none) AS t_id,
    coalesce(od.u_id, n.u_none) AS u_id,
    coalesce(c.mid, n.c_unknown) AS c_id,
    utc_date(l.created_at) AS created_date,
    l.converted_at IS NOT NULL AND l.converted_at < p.t_cut AS converted_by_cut
FROM leads l
CROSS JOIN kpi_params p
CROSS JOIN ids_none n
LEFT JOIN ids_owner_dims od ON od.source = l.source AND od.owner_id = l.owner_id
LEFT JOIN ids_channel c ON c.lead_source = lower(l.lead_source)
JOIN ids_partner pm ON pm.member = coalesce(l.partner_id, 'none')
JOIN ids_owner om ON om.member = coalesce(l.owner_id, 'none')
WHERE NOT l.is_deleted
  AND l.created_at < p.t_cut
  AND (p.all_sources OR l.source IN (SELECT source FROM kpi_sources));
