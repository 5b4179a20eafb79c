-- The additive counts and sums of the families, per month and member, computed once for all
-- grains: one pass per period attribution (docs/kpis.md, "Period attribution"). A quarter or a
-- year is a run of whole months (fiscal years too), so grain_totals.sql sums these months into
-- each grain's periods: exact (counts and decimal sums), and the same groups as grouping the
-- deals by the grain's periods directly.
--   att_closed_m  (month, mid, won, lost, closed)              deals closed in the month (cut)
--   att_created_m (month, mid, created, created_amount, created_amount_n, won_by_cut)
--                                                              deals created in the month
--   att_leads_m   (month, mid, leads, converted)               leads created in the month
-- Grouped by (partner), (channel) and (owner, team, unit), the other groups summed from those
-- (member_rollup, dimensions.sql).
-- Non-additive KPIs (median and mean deal size, sales cycle) are grouped per grain from the
-- deals themselves (deal_size.sql, velocity.sql).
-- step: attribution
-- reads: f_deals, f_leads
-- creates: att_closed_m, att_created_m, att_leads_m
-- scratch: att_closed_sets, att_created_sets, att_leads_sets

CREATE OR REPLACE TEMP TABLE att_closed_sets AS
SELECT month AS k, p_id, o_id, t_id, u_id, c_id,
       count(*) FILTER (WHERE is_won) AS won,
       count(*) FILTER (WHERE is_lost) AS lost,
       count(*) AS closed
FROM (SELECT *, month_of(close_date) AS month FROM f_deals WHERE closed_by_cut) d
GROUP BY GROUPING SETS ((month, p_id), (month, c_id), (month, o_id, t_id, u_id));
CREATE OR REPLACE TEMP TABLE att_closed_m AS
SELECT k AS month, mid, won, lost, closed FROM member_rollup('att_closed_sets');

CREATE OR REPLACE TEMP TABLE att_created_sets AS
SELECT month AS k, p_id, o_id, t_id, u_id, c_id,
       count(*) AS created,
       sum(amount) AS created_amount,
       count(amount) AS created_amount_n,
       count(*) FILTER (WHERE is_won AND closed_by_cut) AS won_by_cut
FROM (SELECT *, month_of(created_date) AS month FROM f_deals WHERE created_date IS NOT NULL) d
GROUP BY GROUPING SETS ((month, p_id), (month, c_id), (month, o_id, t_id, u_id));
CREATE OR REPLACE TEMP TABLE att_created_m AS
SELECT k AS month, mid, created, created_amount, created_amount_n, won_by_cut
FROM member_rollup('att_created_sets');

CREATE OR REPLACE TEMP TABLE att_leads_sets AS
SELECT month AS k, p_id, o_id, t_id, u_id, c_id,
       count(*) AS leads,
       count(*) FILTER (WHERE converted_by_cut) AS converted
FROM (SELECT *, month_of(created_date) AS month FROM f_leads) l
GROUP BY GROUPING SETS ((month, p_id), (month, c_id), (month, o_id, t_id, u_id));
CREATE OR REPLACE TEMP TABLE att_leads_m AS
SELECT k AS month, mid, leads, converted FROM member_rollup('att_leads_sets');

DROP TABLE att_closed_sets;
DROP TABLE att_created_sets;
DROP TABLE att_leads_sets;
