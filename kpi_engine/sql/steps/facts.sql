-- Facts every KPI family reads: the live (not deleted) deals and leads with their dimension
-- members and the amount in the reporting currency. Days are the reporting time zone's
-- (utc_day: UTC unless kpis.py redefines it for another zone).
-- step: facts
-- reads: deals, leads, owners, partners, currency_rates, kpi_params, kpi_sources, channel_map
-- creates: dim_members, f_deals, f_leads
-- scratch: ids_partner, ids_owner, ids_owner_dims, ids_none, ids_channel, rate_keys,
--          rate_table, rate_days
-- Parameters (made by kpis.py): kpi_params(reporting_currency, t_cut TIMESTAMPTZ, cut_date DATE,
-- all_sources BOOLEAN, ...), kpi_sources(source) -- the sources to include when not all_sources,
-- channel_map(lead_source, channel) -- lead_source lower-cased.
-- Missing members: partner/owner/team/unit -> 'none', channel -> 'unknown'. A partner flagged
-- deleted (a CRM record deleted, archived, merged away or no longer a partner) is no member:
-- its deals and leads count under 'none', never dropped.
-- Members are numbered (dim_members: mid, dimension, member, member_name; overall = 0) and the
-- facts carry the numbers (p_id, o_id, t_id, u_id, c_id): every family groups and joins on
-- integers, and the names come back only in the result.

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
    UNION SELECT 'team', 'none' UNION SELECT 'unit', 'none' UNION SELECT 'partner', 'none'
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

-- the rate in force on the close date (today for deals without one), looked up once per
-- (source, currency, day) for the amounts in another currency the CRM has not converted
CREATE OR REPLACE TEMP TABLE rate_keys AS
SELECT DISTINCT d.source, d.currency, coalesce(d.close_date, current_date) AS rate_day
FROM deals d, kpi_params p
WHERE NOT d.is_deleted
  AND (p.all_sources OR d.source IN (SELECT source FROM kpi_sources))
  AND d.amount IS NOT NULL AND d.currency IS NOT NULL AND d.currency <> p.reporting_currency
  AND d.amount_reporting IS NULL;
CREATE OR REPLACE TEMP TABLE rate_table AS
SELECT r.source, r.currency, r.start_date, r.rate, r.end_date
FROM currency_rates r, kpi_params p
WHERE r.per_currency = p.reporting_currency;
CREATE OR REPLACE TEMP TABLE rate_days AS
SELECT source, currency, rate_day, rate, rate_end FROM rate_in_force('rate_keys', 'rate_table');

CREATE OR REPLACE TEMP TABLE f_deals AS
SELECT
    d.deal_key,
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
    CASE WHEN d.created_at < p.t_cut THEN utc_day(d.created_at) END AS created_date,
    d.close_date,
    d.is_closed AND d.close_date < p.cut_date AS closed_by_cut,
    d.created_at IS NULL AS no_created_at
FROM (
    SELECT d.deal_key, d.source, d.deal_id, d.pipeline, d.stage,
           CASE WHEN fp.partner_id IS NULL THEN d.partner_id END AS partner_id, d.owner_id,
           d.lead_source, d.is_closed, d.is_won, d.amount, d.currency, d.amount_reporting,
           d.created_at,
           -- a close kept as an instant (HubSpot) is dated in the reporting time zone (C-19)
           CASE WHEN d.closed_at IS NOT NULL THEN utc_day(d.closed_at) ELSE d.close_date END
               AS close_date,
           r.rate, r.rate_end
    FROM keyed_deals() d
    CROSS JOIN kpi_params p
    LEFT JOIN partners fp
      ON fp.source = d.source AND fp.partner_id = d.partner_id AND fp.is_deleted
    -- only an amount in another currency that the CRM has not converted needs a rate
    LEFT JOIN rate_days r
      ON d.amount IS NOT NULL AND d.currency <> p.reporting_currency
     AND d.amount_reporting IS NULL
     AND r.source = d.source AND r.currency = d.currency
     AND r.rate_day = coalesce(d.close_date, current_date)
    WHERE NOT d.is_deleted
      AND (p.all_sources OR d.source IN (SELECT source FROM kpi_sources))
) d
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
    utc_day(l.created_at) AS created_date,
    l.converted_at IS NOT NULL AND l.converted_at < p.t_cut AS converted_by_cut
FROM (
    SELECT l.*, CASE WHEN fp.partner_id IS NULL THEN l.partner_id END AS live_partner_id
    FROM leads l
    LEFT JOIN partners fp
      ON fp.source = l.source AND fp.partner_id = l.partner_id AND fp.is_deleted
) l
CROSS JOIN kpi_params p
CROSS JOIN ids_none n
LEFT JOIN ids_owner_dims od ON od.source = l.source AND od.owner_id = l.owner_id
LEFT JOIN ids_channel c ON c.lead_source = lower(l.lead_source)
JOIN ids_partner pm ON pm.member = coalesce(l.live_partner_id, 'none')
JOIN ids_owner om ON om.member = coalesce(l.owner_id, 'none')
WHERE NOT l.is_deleted
  AND l.created_at < p.t_cut
  AND (p.all_sources OR l.source IN (SELECT source FROM kpi_sources));

DROP TABLE ids_partner;
DROP TABLE ids_owner;
DROP TABLE ids_owner_dims;
DROP TABLE ids_none;
DROP TABLE ids_channel;
DROP TABLE rate_keys;
DROP TABLE rate_table;
DROP TABLE rate_days;
