-- The history of a deal's amount, close date and pipeline (the pipeline waterfall, docs/kpis.md),
-- and the pipeline a stage-history row's stage belongs to.
--
-- deal_history: one row per version of one field, as the CRM records it.
--   field        'amount' (value_amount, in the deal's currency), 'close_date' (value_date, the
--                calendar date as for deals.close_date) or 'pipeline' (value_text, the pipeline id)
--   changed_at   when the value was set (UTC)
--   crm_order    the CRM's order of versions (greater = later; of versions at one instant, the
--                greatest was set last): Salesforce the OpportunityHistory row Id, HubSpot the
--                version's position in propertiesWithHistory counted from the oldest, 10
--                zero-padded digits (as stage_history.crm_order, migration 007)
-- A value the CRM cleared is a row with the value NULL.
CREATE TABLE deal_history (
    source       VARCHAR NOT NULL,
    deal_id      VARCHAR NOT NULL,
    field        VARCHAR NOT NULL,
    crm_order    VARCHAR NOT NULL,
    changed_at   TIMESTAMPTZ NOT NULL,
    value_amount DECIMAL(38, 6),
    value_date   DATE,
    value_text   VARCHAR,
    PRIMARY KEY (source, deal_id, field, crm_order)
);

-- pipeline_snapshots: for a source without field history (a CRM export, CSV), the open deals as
-- they stood at each sync that read a changed file (snapshot_at: the sync's start, UTC).
CREATE TABLE pipeline_snapshots (
    source      VARCHAR NOT NULL,
    snapshot_at TIMESTAMPTZ NOT NULL,
    deal_id     VARCHAR NOT NULL,
    stage       VARCHAR,
    amount      DECIMAL(38, 6),   -- in `currency`
    currency    VARCHAR,
    close_date  DATE,
    PRIMARY KEY (source, snapshot_at, deal_id)
);

-- The pipeline the stage of a stage-history row belongs to (HubSpot: the deal's pipeline when
-- the stage was entered, from its pipeline history; a deal moved between pipelines keeps rows
-- whose stage ids belong to the old one). NULL: the deal's current pipeline (Salesforce and CSV
-- have one pipeline per stage list; rows stored before this migration).
ALTER TABLE stage_history ADD COLUMN pipeline VARCHAR;
