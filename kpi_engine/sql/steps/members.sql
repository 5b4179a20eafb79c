-- Which (period, member) get KPI rows: members (dim_members' mid) with a deal created in the
-- period (att_created), closed in it (att_closed), open at its end (pipe_at, pipeline.sql), or a
-- lead created in it (att_leads). Runs after the base families: their groups are exactly those
-- members.
-- step: members
-- scope: grain
-- reads: att_created, att_closed, att_leads, pipe_at, periods
-- creates: members
CREATE OR REPLACE TEMP TABLE members AS
SELECT period_start, mid
FROM (
    SELECT period_start, mid FROM att_created
    UNION
    SELECT period_start, mid FROM att_closed
    UNION
    SELECT period_start, mid FROM att_leads
) a
WHERE period_start IN (SELECT period_start FROM periods)
UNION
SELECT p.period_start, a.mid
FROM pipe_at a JOIN periods p ON a.t = p.t_end;
