-- KPI 8, deal success (ratio 0..1), a creation cohort:
--   deal_success_rate = deals created in P that are won (by now, or by --as-of) / deals_created;
--                       n = deals_created; NULL when none was created. Unknown created_at -> out.
CREATE OR REPLACE TEMP TABLE fam_success AS
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
       member_of(GROUPING(partner, owner, team, unit, channel),
                 partner, owner, team, unit, channel) AS member,
       kv(count(*) FILTER (WHERE is_won AND closed_by_cut) / count(*), count(*)) AS deal_success_rate
FROM (SELECT *, period_of(created_date) AS period_start FROM f_deals WHERE created_date IS NOT NULL)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));
