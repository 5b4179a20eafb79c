-- Which (period, dimension, member) get KPI rows: members with a deal created in the period,
-- closed in it, open at its end (pipe_at, kpis/pipeline.sql), or a lead created in it.
CREATE OR REPLACE TEMP TABLE members AS
WITH activity AS (
    SELECT period_of(created_date) AS period_start, partner, owner, team, unit, channel
    FROM f_deals WHERE created_date IS NOT NULL
    UNION ALL
    SELECT period_of(close_date), partner, owner, team, unit, channel
    FROM f_deals WHERE closed_by_cut
    UNION ALL
    SELECT period_of(created_date), partner, owner, team, unit, channel FROM f_leads
)
SELECT DISTINCT
    a.period_start,
    dim_of(GROUPING(partner, owner, team, unit, channel)) AS dimension,
    member_of(GROUPING(partner, owner, team, unit, channel), partner, owner, team, unit, channel) AS member
FROM activity a
WHERE a.period_start IN (SELECT period_start FROM periods)
GROUP BY GROUPING SETS ((period_start), (period_start, partner), (period_start, owner),
                        (period_start, team), (period_start, unit), (period_start, channel))
UNION
SELECT p.period_start, a.dimension, a.member
FROM pipe_at a JOIN periods p ON a.t = p.t_end;
