-- What a source said about itself, kept between runs, and the completeness check of each stream.
--
-- source_notes: one line per (source, topic), e.g. topic `currency_rule` (which rule the
-- source's amounts follow: single currency, static CurrencyType rates, dated rates) or
-- `calculated_fields` (the mapped fields whose values change without the record's modified
-- stamp). The sync shows a note when it is new or its text changed; `status` lists them all.
CREATE TABLE source_notes (
    source     VARCHAR NOT NULL,
    topic      VARCHAR NOT NULL,
    note       VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, topic)
);

-- stream_counts: after each sync, per stream, the CRM's own count of live records over the
-- window the run read (replication key in [window_start, window_end); window_start NULL: from
-- the beginning) and the store's count over the same window. A mismatch sets repair_from: the
-- next run re-reads the stream from there (once: repairs counts the repair reads made for the
-- mismatch; after one repair that did not settle it, the mismatch is only reported).
CREATE TABLE stream_counts (
    source       VARCHAR NOT NULL,
    stream       VARCHAR NOT NULL,
    window_start TIMESTAMPTZ,
    window_end   TIMESTAMPTZ NOT NULL,
    crm_count    BIGINT NOT NULL,
    store_count  BIGINT NOT NULL,
    checked_at   TIMESTAMPTZ NOT NULL,
    run_id       BIGINT,
    repair_from  TIMESTAMPTZ,
    repairs      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, stream)
);
