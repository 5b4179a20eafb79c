-- The settings of the latest compute that views need (bi.deals converts amounts to its reporting
-- currency): one row, replaced by each compute.
CREATE TABLE kpi_settings (
    reporting_currency      VARCHAR NOT NULL,
    fiscal_year_start_month INTEGER NOT NULL,
    computed_at             TIMESTAMPTZ NOT NULL
);
