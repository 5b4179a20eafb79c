-- KPI 5, close rate (ratios 0..1).
--   win_rate             = deals_won / deals_closed, by close_date in P; n = deals_closed;
--                          NULL when nothing closed
--   lead_conversion_rate = leads created in P that have converted (by now, or by --as-of)
--                          / leads created in P; n = leads created in P
CREATE OR REPLACE TEMP TABLE fam_win_rate AS
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
       member_of(GROUPING(partner, owner, team, unit, channel),
                 partner, owner, team, unit, channel) AS member,
       kv(count(*) FILTER (WHERE is_won) / count(*), count(*)) AS win_rate
FROM (SELECT *, period_of(close_date) AS period_start FROM f_deals WHERE closed_by_cut)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));

CREATE OR REPLACE TEMP TABLE fam_leads AS
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
       member_of(GROUPING(partner, owner, team, unit, channel),
                 partner, owner, team, unit, channel) AS member,
       kv(count(*) FILTER (WHERE converted_by_cut) / count(*), count(*)) AS lead_conversion_rate
FROM (SELECT *, period_of(created_date) AS period_start FROM f_leads)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));
