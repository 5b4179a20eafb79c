-- One calendar (case C-19): every calendar bucketing (created, closed, stage entered) uses one
-- reporting time zone, kpis.reporting_timezone, by default the CRM's own.
--   source_calendar: the time zone each source keeps its calendar in, recorded by its sync
--     (HubSpot: the portal's timeZone from GET /account-info/v3/details); the default
--     reporting time zone when none is configured (kpi_engine/calendar.py).
--   deals.closed_at: the close as an instant (UTC) where the CRM keeps one (HubSpot closedate
--     is a datetime); the engine takes its date in the reporting time zone. NULL where the
--     close is a date (Salesforce CloseDate, CSV, a HubSpot date-only value at 00:00 UTC):
--     close_date holds it as is.
CREATE TABLE source_calendar (
    source     VARCHAR NOT NULL PRIMARY KEY,
    time_zone  VARCHAR NOT NULL      -- IANA name
);
ALTER TABLE deals ADD COLUMN closed_at TIMESTAMPTZ;
