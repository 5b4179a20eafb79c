-- KPI 5, close rate (ratios 0..1).
--   win_rate             = deals_won / deals_closed, by close_date in P; n = deals_closed;
--                          NULL when nothing closed
--   lead_conversion_rate = leads created in P that have converted (by now, or by --as-of)
--                          / leads created in P; n = leads created in P
-- From the counts of steps/attribution.sql (att_closed, att_leads).
-- step: close_rate
-- scope: grain
-- reads: att_closed, att_leads
-- creates: fam_win_rate, fam_leads
CREATE OR REPLACE TEMP TABLE fam_win_rate AS
SELECT period_start, mid, won / closed AS win_rate, closed AS win_rate_n
FROM att_closed;

CREATE OR REPLACE TEMP TABLE fam_leads AS
SELECT period_start, mid, converted / leads AS lead_conversion_rate, leads AS lead_conversion_rate_n
FROM att_leads;
