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
       sum(CASE WHEN bucket = 'start' THEN amount ELSE 0 END) AS w_start,
       sum(CASE WHEN bucket = 'start' THEN 1 ELSE 0 END) AS w_start_n,
       sum(CASE WHEN bucket = 'created' THEN amount ELSE 0 END) AS w_created,
       sum(CASE WHEN bucket = 'created' THEN 1 ELSE 0 END) AS w_created_n,
       sum(CASE WHEN bucket = 'pulled_in' THEN amount ELSE 0 END) AS w_pulled_in,
       sum(CASE WHEN bucket = 'pulled_in' THEN 1 ELSE 0 END) AS w_pulled_in_n,
       sum(CASE WHEN bucket = 'increased' THEN amount ELSE 0 END) AS w_increased,
       sum(CASE WHEN bucket = 'increased' THEN 1 ELSE 0 END) AS w_increased_n,
       sum(CASE WHEN bucket = 'decreased' THEN amount ELSE 0 END) AS w_decreased,
       sum(CASE WHEN bucket = 'decreased' THEN 1 ELSE 0 END) AS w_decreased_n,
       sum(CASE WHEN bucket = 'pushed_out' THEN amount ELSE 0 END) AS w_pushed_out,
       sum(CASE WHEN bucket = 'pushed_out' THEN 1 ELSE 0 END) AS w_pushed_out_n,
       sum(CASE WHEN bucket = 'lost' THEN amount ELSE 0 END) AS w_lost,
       sum(CASE WHEN bucket = 'lost' THEN 1 ELSE 0 END) AS w_lost_n,
       sum(CASE WHEN bucket = 'won' THEN amount ELSE 0 END) AS w_won,
       sum(CASE WHEN bucket = 'won' THEN 1 ELSE 0 END) AS w_won_n,
       sum(CASE WHEN bucket = 'end' THEN amount ELSE 0 END) AS w_end,
       sum(CASE WHEN bucket = 'end' THEN 1 ELSE 0 END) AS w_end_n
FROM wf_deals
GROUP BY GROUPING SETS ((period_start, p_id), (period_start, c_id),
                        (period_start, o_id, t_id, u_id));

CREATE OR REPLACE TEMP TABLE fam_waterfall AS
SELECT k AS period_start, mid,
       w_start AS waterfall_start, w_start_n AS waterfall_start_n,
       w_created AS waterfall_created, w_created_n AS waterfall_created_n,
       w_pulled_in AS waterfall_pulled_in, w_pulled_in_n AS waterfall_pulled_in_n,
       w_increased AS waterfall_increased, w_increased_n AS waterfall_increased_n,
       w_decreased AS waterfall_decreased, w_decreased_n AS waterfall_decreased_n,
       w_pushed_out AS waterfall_pushed_out, w_pushed_out_n AS waterfall_pushed_out_n,
       w_lost AS waterfall_lost, w_lost_n AS waterfall_lost_n,
       w_won AS waterfall_won, w_won_n AS waterfall_won_n,
       w_end AS waterfall_end, w_end_n AS waterfall_end_n
FROM member_rollup('wf_sets');

DROP TABLE wf_sets;
