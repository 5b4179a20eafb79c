-- KPI 8, deal success (ratio 0..1), a creation cohort:
--   deal_success_rate = deals created in P that are won (by now, or by --as-of) / deals_created;
--                       n = deals_created; NULL when none was created. Unknown created_at -> out.
-- From the creation counts of steps/attribution.sql (att_created: created, won_by_cut).
-- step: deal_success
-- scope: grain
-- reads: att_created
-- creates: fam_success
CREATE OR REPLACE TEMP TABLE fam_success AS
SELECT period_start, mid, won_by_cut / created AS deal_success_rate, created AS deal_success_rate_n
FROM att_created;
