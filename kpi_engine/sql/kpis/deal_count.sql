-- KPI 2, deal count. Outcomes by close_date, creations by created_at (UTC):
--   deals_won     = won deals with close_date in P                         (count; n = the count)
--   deals_lost    = closed, not won, close_date in P                       (count; n = the count)
--   deals_closed  = deals_won + deals_lost                                 (count; n = the count)
--   deals_created = deals with created_at in P; unknown created_at -> not counted
-- Deleted deals never count.
CREATE OR REPLACE TEMP TABLE fam_closed AS
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
       member_of(GROUPING(partner, owner, team, unit, channel),
                 partner, owner, team, unit, channel) AS member,
       kv(count(*) FILTER (WHERE is_won), count(*) FILTER (WHERE is_won)) AS deals_won,
       kv(count(*) FILTER (WHERE is_lost), count(*) FILTER (WHERE is_lost)) AS deals_lost,
       kv(count(*), count(*)) AS deals_closed
FROM (SELECT *, period_of(close_date) AS period_start FROM f_deals WHERE closed_by_cut)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));

CREATE OR REPLACE TEMP TABLE fam_created AS
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
       member_of(GROUPING(partner, owner, team, unit, channel),
                 partner, owner, team, unit, channel) AS member,
       kv(count(*), count(*)) AS deals_created
FROM (SELECT *, period_of(created_date) AS period_start FROM f_deals WHERE created_date IS NOT NULL)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));
