-- Write-back of partner KPIs to the CRMs (connectors/writeback.py, kpi_engine/writeback.py).
-- Values are the values as written to the CRM field (converted: percent fields 0..100, rounded to
-- the field's scale); NULL means the field was cleared.

CREATE SEQUENCE push_run_ids;
CREATE TABLE push_runs (
    run_id          BIGINT PRIMARY KEY DEFAULT nextval('push_run_ids'),
    source          VARCHAR NOT NULL,      -- salesforce | hubspot
    object          VARCHAR NOT NULL,      -- Account | companies
    grain           VARCHAR,
    period_start    DATE,                  -- the period whose KPIs were written
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    status          VARCHAR NOT NULL,      -- running | ok | partial | failed
    records_written BIGINT NOT NULL DEFAULT 0,
    records_failed  BIGINT NOT NULL DEFAULT 0,
    write_calls     BIGINT NOT NULL DEFAULT 0,
    error           VARCHAR
);

-- One row per (record, field) sent: written, or failed with the CRM's error code and message.
CREATE TABLE push_log (
    run_id     BIGINT NOT NULL,
    source     VARCHAR NOT NULL,
    object     VARCHAR NOT NULL,
    record_id  VARCHAR NOT NULL,           -- the CRM record id (partners.partner_id)
    field      VARCHAR NOT NULL,           -- the CRM field / property name
    kpi        VARCHAR NOT NULL,
    old_value  DECIMAL(38, 10),            -- as last pushed (NULL: cleared or never pushed)
    new_value  DECIMAL(38, 10),            -- as sent (NULL: clear the field)
    pushed_at  TIMESTAMPTZ NOT NULL,
    status     VARCHAR NOT NULL,           -- written | failed
    error_code VARCHAR,                    -- e.g. FIELD_CUSTOM_VALIDATION_EXCEPTION, VALIDATION_ERROR
    message    VARCHAR
);

-- The value each field holds since our last successful write: what the plan compares against.
-- A failed write leaves it alone, so the next push sends the value again.
CREATE TABLE push_state (
    source    VARCHAR NOT NULL,
    object    VARCHAR NOT NULL,
    record_id VARCHAR NOT NULL,
    field     VARCHAR NOT NULL,
    value     DECIMAL(38, 10),
    pushed_at TIMESTAMPTZ NOT NULL,
    run_id    BIGINT NOT NULL,
    PRIMARY KEY (source, object, record_id, field)
);
