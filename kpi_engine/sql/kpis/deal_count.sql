-- KPI 2, deal count. Outcomes by close_date, creations by created_at (UTC):
--   deals_won     = won deals with close_date in P                         (count; n = the count)
--   deals_lost    = closed, not won, close_date in P                       (count; n = the count)
--   deals_closed  = deals_won + deals_lost                                 (count; n = the count)
--   deals_created = deals with created_at in P; unknown created_at -> not counted
-- Deleted deals never count.
-- Counted once per month in steps/attribution.sql and summed into the grain's periods
-- (steps/grain_totals.sql: att_closed, att_created).
-- step: deal_count
-- scope: grain
-- reads: att_closed, att_created
-- creates: fam_closed, fam_created
CREATE OR REPLACE TEMP TABLE fam_closed AS
SELECT period_start, mid,
       won AS deals_won, won AS deals_won_n,
       lost AS deals_lost, lost AS deals_lost_n,
       closed AS deals_closed, closed AS deals_closed_n
FROM att_closed;

CREATE OR REPLACE TEMP TABLE fam_created AS
SELECT period_start, mid, created AS deals_created, created AS deals_created_n
FROM att_created;
