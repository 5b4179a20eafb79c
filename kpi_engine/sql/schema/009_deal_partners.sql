-- Several partners per deal (docs/kpis.md, "Partner credit"): one row per link between a deal and
-- a partner, from every place a source records one. Keyed by (source, link_id); link_id is the
-- CRM's own id of the link where it has one, else built from the deal and partner:
--   origin partner_field          the deal's partner field / property (deals.partner_id): kept by
--                                 the store from the deals rows; link_id '<deal_id>/partner_field'
--   origin opportunity_partner    Salesforce OpportunityPartner (the Id; reverse rows left out)
--   origin junction               a custom Salesforce junction object named in config (the Id)
--   origin association            a labelled HubSpot deal -> company association, one row per
--                                 label: '<deal_id>/<company_id>/<associationTypeId>'
--   origin csv                    a CSV influencers column or deal-partners file:
--                                 '<deal_id>/<partner_id>/<role>'
--   role        the CRM's role / label text as sent (NULL for the partner field)
--   category    the category the source states itself (a CSV column); NULL: from role
--               (attribution.roles) at compute time
--   is_primary  the CRM marks this partner the deal's primary one
--   share       ratio 0..1 of the deal's credit the source gives this partner, or NULL
-- A link the source no longer has is flagged deleted (is_deleted), never removed.
CREATE TABLE deal_partners (
    source     VARCHAR NOT NULL,
    link_id    VARCHAR NOT NULL,
    deal_id    VARCHAR NOT NULL,
    partner_id VARCHAR NOT NULL,
    role       VARCHAR,
    category   VARCHAR,
    is_primary BOOLEAN NOT NULL DEFAULT false,
    share      DECIMAL(18, 10),
    origin     VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ,
    is_deleted BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (source, link_id)
);

INSERT INTO deal_partners (source, link_id, deal_id, partner_id, is_primary, origin, updated_at,
                           is_deleted)
SELECT source, deal_id || '/partner_field', deal_id, partner_id, true, 'partner_field',
       updated_at, false
FROM deals
WHERE partner_id IS NOT NULL;

-- Changes of a deal's partner field as the CRM's field history records them (Salesforce
-- OpportunityFieldHistory of the partner field when tracked; HubSpot propertiesWithHistory of
-- the partner property): the hygiene check "partner changed after close" reads it.
CREATE TABLE partner_changes (
    source         VARCHAR NOT NULL,
    deal_id        VARCHAR NOT NULL,
    changed_at     TIMESTAMPTZ NOT NULL,
    field          VARCHAR NOT NULL,
    old_partner_id VARCHAR,
    new_partner_id VARCHAR,
    PRIMARY KEY (source, deal_id, changed_at, field)
);

-- The partner KPIs per credit category (kpi_engine/credit.py, sql/steps/credit*.sql): one row
-- per (grain, period_start, category, member). category: a configured category (sourced,
-- influenced, ...), 'partner' (deals with any partner, each counted once) or 'direct' (deals
-- with no partner); member: a partner id, or 'all' (the category's deals, each counted once).
-- Counts under the even / share rules are fractions: DECIMAL.
CREATE TABLE credit_kpis (
    grain               VARCHAR NOT NULL,
    period_start        DATE NOT NULL,
    period_end          DATE NOT NULL,
    category            VARCHAR NOT NULL,
    member              VARCHAR NOT NULL,
    member_name         VARCHAR,
    rule                VARCHAR NOT NULL,
    deals_won           DECIMAL(38, 10),
    deals_lost          DECIMAL(38, 10),
    won_amount          DECIMAL(38, 10),
    pipeline_open_amount DECIMAL(38, 10),
    win_rate            DECIMAL(18, 10),
    average_deal_size   DECIMAL(38, 10),
    sales_cycle_days    DECIMAL(18, 10),
    computed_at         TIMESTAMPTZ NOT NULL
);

-- The credit's write-back values in the long form the write-back plan reads next to kpi_values:
-- kpi '<category>_won_amount' of each partner (writeback fields sourced_won_amount, ...).
CREATE VIEW credit_values AS
SELECT grain, period_start, 'partner' AS dimension, member, category || '_won_amount' AS kpi,
       won_amount AS value
FROM credit_kpis
WHERE member <> 'all' AND category NOT IN ('partner', 'direct');
