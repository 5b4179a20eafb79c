-- Which (period, dimension, member) get KPI rows: members with a deal created in the period
-- (fam_created, deal_count.sql), closed in it (fam_closed, deal_count.sql), open at its end
-- (pipe_at, pipeline.sql), or a lead created in it (fam_leads, close_rate.sql). Runs after the
-- base families: their groups are exactly those members.
CREATE OR REPLACE TEMP TABLE members AS
SELECT period_start, dimension, member
FROM (
    SELECT period_start, dimension, member FROM fam_created
    UNION
    SELECT period_start, dimension, member FROM fam_closed
    UNION
    SELECT period_start, dimension, member FROM fam_leads
)
WHERE period_start IN (SELECT period_start FROM periods)
UNION
SELECT p.period_start, a.dimension, a.member
FROM pipe_at a JOIN periods p ON a.t = p.t_end;
