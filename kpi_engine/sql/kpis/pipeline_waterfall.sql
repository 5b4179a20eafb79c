-- KPI 9, the pipeline waterfall (reporting currency): how the pipeline of deals expected to
-- close in P (open, close date in P) went from its start (t_s = period start) to its end (t_e =
-- period end, or --as-of when earlier), deal by deal in steps/waterfall_deals.sql (wf_deals):
--   waterfall_start      amounts of the deals in P's pipeline at t_s        (n = those deals)
--   waterfall_created    deals created in P that entered it (amount at t_e) (n = those deals)
--   waterfall_pulled_in  deals created before P that entered it: close date moved into P,
--                        or reopened                                        (n = those deals)
--   waterfall_increased  amount gained by deals in it at t_s and still in it, or closed in P
--   waterfall_decreased  amount lost by those deals (a positive amount)     (n = those deals)
--   waterfall_pushed_out deals in it at t_s, at t_e still open with the close date out of P
--                        (amount at t_s)                                    (n = those deals)
--   waterfall_lost       deals closed lost in P (amount at the close)       (n = those deals)
--   waterfall_won        deals closed won in P (amount at the close)        (n = those deals)
--   waterfall_end        amounts of the deals in P's pipeline at t_e        (n = those deals)
-- start + created + pulled_in + increased - decreased - pushed_out - lost - won = end, for
-- every member and period (an unknown amount counts 0). A member without a deal in a bucket
-- has 0 (n = 0).
-- step: pipeline_waterfall
-- scope: grain
-- reads: wf_deals
-- creates: fam_waterfall
-- scratch: wf_sets
CREATE OR REPLACE TEMP TABLE wf_sets AS
SELECT period_start AS k, p_id, o_id, t_id, u_id, c_id,
       sum(b_start) AS w_start, count(b_start) AS w_start_n,
       sum(b_created) AS w_created, count(b_created) AS w_created_n,
       sum(b_pulled_in) AS w_pulled_in, count(b_pulled_in) AS w_pulled_in_n,
       sum(b_increased) AS w_increased, count(b_increased) AS w_increased_n,
       sum(b_decreased) AS w_decreased, count(b_decreased) AS w_decreased_n,
       sum(b_pushed_out) AS w_pushed_out, count(b_pushed_out) AS w_pushed_out_n,
       sum(b_lost) AS w_lost, count(b_lost) AS w_lost_n,
       sum(b_won) AS w_won, count(b_won) AS w_won_n,
       sum(b_end) AS w_end, count(b_end) AS w_end_n
FROM wf_deals
GROUP BY GROUPING SETS ((period_start, p_id), (period_start, c_id),
                        (period_start, o_id, t_id, u_id));

CREATE OR REPLACE TEMP TABLE fam_waterfall AS
SELECT k AS period_start, mid,
       coalesce(w_start, 0) AS waterfall_start, w_start_n AS waterfall_start_n,
       coalesce(w_created, 0) AS waterfall_created, w_created_n AS waterfall_created_n,
       coalesce(w_pulled_in, 0) AS waterfall_pulled_in, w_pulled_in_n AS waterfall_pulled_in_n,
       coalesce(w_increased, 0) AS waterfall_increased, w_increased_n AS waterfall_increased_n,
       coalesce(w_decreased, 0) AS waterfall_decreased, w_decreased_n AS waterfall_decreased_n,
       coalesce(w_pushed_out, 0) AS waterfall_pushed_out, w_pushed_out_n AS waterfall_pushed_out_n,
       coalesce(w_lost, 0) AS waterfall_lost, w_lost_n AS waterfall_lost_n,
       coalesce(w_won, 0) AS waterfall_won, w_won_n AS waterfall_won_n,
       coalesce(w_end, 0) AS waterfall_end, w_end_n AS waterfall_end_n
FROM member_rollup('wf_sets');

DROP TABLE wf_sets;
