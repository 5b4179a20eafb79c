-- Records a sync skipped because a value could not be read (on_bad_record: reject; README
-- "Bad records"). One row per record and field; nothing of a rejected record is written to the
-- canonical tables. value is the raw value as the CRM sent it (text; NULL when it sent none).

CREATE TABLE rejects (
    source      VARCHAR NOT NULL,      -- salesforce | hubspot
    stream      VARCHAR NOT NULL,      -- deals, partners, ...
    record_id   VARCHAR NOT NULL,      -- the CRM record id
    field       VARCHAR NOT NULL,      -- the CRM field / property name
    value       VARCHAR,
    reason      VARCHAR NOT NULL,      -- one line, e.g. 'n/a' is not a number
    run_id      BIGINT NOT NULL,       -- sync_runs.run_id
    rejected_at TIMESTAMPTZ NOT NULL
);
