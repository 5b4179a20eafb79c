-- KPI 5, close rate (ratios 0..1).
--   win_rate             = deals_won / deals_closed, by close_date in P; n = deals_closed;
--                          NULL when nothing closed
--   lead_conversion_rate = leads created in P that have converted (by now, or by --as-of)
--                          / leads created in P; n = leads created in P
-- From the counts of prepare/attribution.sql (att_closed, att_leads).
CREATE OR REPLACE TEMP TABLE fam_win_rate AS
SELECT period_start, mid, kv(won / closed, closed) AS win_rate
FROM att_closed;

CREATE OR REPLACE TEMP TABLE fam_leads AS
SELECT period_start, mid, kv(converted / leads, leads) AS lead_conversion_rate
FROM att_leads;
