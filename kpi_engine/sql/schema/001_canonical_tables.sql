-- Canonical tables. Every CRM row is keyed by (source, <id>); source is salesforce, hubspot or csv.
-- Amounts are exact decimals; instants are TIMESTAMPTZ (the store's session time zone is UTC);
-- CRM close dates are DATEs. Deleted records are flagged (is_deleted), never removed.

CREATE TABLE partners (
    source       VARCHAR NOT NULL,
    partner_id   VARCHAR NOT NULL,
    name         VARCHAR,
    partner_type VARCHAR,
    tier         VARCHAR,
    updated_at   TIMESTAMPTZ,
    is_deleted   BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (source, partner_id)
);

CREATE TABLE owners (
    source    VARCHAR NOT NULL,
    owner_id  VARCHAR NOT NULL,
    name      VARCHAR,
    team      VARCHAR,
    unit      VARCHAR,
    is_active BOOLEAN,
    PRIMARY KEY (source, owner_id)
);

CREATE TABLE stages (
    source        VARCHAR NOT NULL,
    pipeline      VARCHAR NOT NULL,
    stage         VARCHAR NOT NULL,
    label         VARCHAR,
    probability   DECIMAL(9, 6),      -- 0..1
    is_closed     BOOLEAN NOT NULL,
    is_won        BOOLEAN NOT NULL,
    display_order INTEGER,
    PRIMARY KEY (source, pipeline, stage)
);

CREATE TABLE deals (
    source           VARCHAR NOT NULL,
    deal_id          VARCHAR NOT NULL,
    name             VARCHAR,
    partner_id       VARCHAR,
    owner_id         VARCHAR,
    account_name     VARCHAR,
    pipeline         VARCHAR NOT NULL DEFAULT 'default',
    stage            VARCHAR,
    is_closed        BOOLEAN NOT NULL,
    is_won           BOOLEAN NOT NULL,
    amount           DECIMAL(38, 6),  -- in `currency`
    currency         VARCHAR,
    amount_reporting DECIMAL(38, 6),  -- already in the reporting currency, when the CRM gives it
    created_at       TIMESTAMPTZ,
    close_date       DATE,
    lead_source      VARCHAR,
    updated_at       TIMESTAMPTZ,
    is_deleted       BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (source, deal_id)
);

CREATE TABLE stage_history (
    source     VARCHAR NOT NULL,
    deal_id    VARCHAR NOT NULL,
    stage      VARCHAR NOT NULL,
    entered_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, deal_id, stage, entered_at)
);

CREATE TABLE leads (
    source            VARCHAR NOT NULL,
    lead_id           VARCHAR NOT NULL,
    partner_id        VARCHAR,
    owner_id          VARCHAR,
    created_at        TIMESTAMPTZ,
    converted_at      TIMESTAMPTZ,
    converted_deal_id VARCHAR,
    lead_source       VARCHAR,
    is_deleted        BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (source, lead_id)
);

-- 1 per_currency = rate currency (Salesforce CurrencyType / DatedConversionRate convention).
-- NULL start/end dates: an undated rate.
CREATE TABLE currency_rates (
    source       VARCHAR NOT NULL,
    currency     VARCHAR NOT NULL,
    per_currency VARCHAR NOT NULL,
    rate         DECIMAL(38, 12) NOT NULL,
    start_date   DATE NOT NULL DEFAULT DATE '0001-01-01',
    end_date     DATE,
    PRIMARY KEY (source, currency, per_currency, start_date)
);

CREATE TABLE sync_state (
    source     VARCHAR NOT NULL,
    stream     VARCHAR NOT NULL,
    watermark  VARCHAR,               -- the replication key's value, as text (ISO-8601 UTC for instants)
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, stream)
);

CREATE SEQUENCE sync_run_ids;
CREATE TABLE sync_runs (
    run_id      BIGINT PRIMARY KEY DEFAULT nextval('sync_run_ids'),
    source      VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,      -- running | ok | failed | stopped
    rows        JSON,                  -- {stream: {"inserted": n, "updated": n, "deleted": n, "unchanged": n}}
    error       VARCHAR
);

CREATE TABLE kpi_values (
    grain        VARCHAR NOT NULL,     -- month | quarter | year
    period_start DATE NOT NULL,
    period_end   DATE NOT NULL,        -- exclusive
    dimension    VARCHAR NOT NULL,     -- overall | partner | owner | team | unit | channel
    member       VARCHAR NOT NULL,
    member_name  VARCHAR,
    kpi          VARCHAR NOT NULL,
    value        DECIMAL(38, 10),
    n            BIGINT NOT NULL,
    as_of        DATE NOT NULL,        -- the cut: period_end, or --as-of when earlier
    computed_at  TIMESTAMPTZ NOT NULL
    -- unique on (grain, period_start, dimension, member, kpi) by construction: a compute
    -- replaces a grain's rows whole. No index: it would cost more than the compute itself.
);

CREATE TABLE kpi_runs (
    computed_at TIMESTAMPTZ NOT NULL,
    grain       VARCHAR NOT NULL,
    as_of       DATE,
    rows        BIGINT NOT NULL,
    warnings    JSON
);
