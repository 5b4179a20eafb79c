-- KPI 2, deal count.
--   deals_won     = won deals with close_date in P                         (count; n = the count)
--   deals_lost    = closed, not won, close_date in P                       (count; n = the count)
--   deals_closed  = deals_won + deals_lost                                 (count; n = the count)
--   deals_created = deals with created_at in P (UTC); unknown created_at -> not counted
-- Outcomes are attributed by close_date, creations by created_at. Deleted deals never count.
INSERT INTO kpi_rows
SELECT period_start, dimension, member, kpi, v.value, v.n
FROM (
    UNPIVOT (
        SELECT period_start,
               dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
               member_of(GROUPING(partner, owner, team, unit, channel),
                         partner, owner, team, unit, channel) AS member,
               kv(count(*) FILTER (WHERE is_won), count(*) FILTER (WHERE is_won)) AS deals_won,
               kv(count(*) FILTER (WHERE is_lost), count(*) FILTER (WHERE is_lost)) AS deals_lost,
               kv(count(*), count(*)) AS deals_closed
        FROM (SELECT *, period_of(close_date) AS period_start FROM f_deals WHERE closed_by_cut)
        GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                                (period_start, team), (period_start, unit), (period_start, channel))
    ) ON deals_won, deals_lost, deals_closed INTO NAME kpi VALUE v
)
UNION ALL
SELECT period_start,
       dim_of(GROUPING(partner, owner, team, unit, channel)),
       member_of(GROUPING(partner, owner, team, unit, channel), partner, owner, team, unit, channel),
       'deals_created', count(*), count(*)
FROM (SELECT *, period_of(created_date) AS period_start FROM f_deals WHERE created_date IS NOT NULL)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel));
