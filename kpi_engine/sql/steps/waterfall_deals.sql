-- The pipeline waterfall of each period of the grain, deal by deal (docs/kpis.md, "Pipeline
-- waterfall"): the period's pipeline is the open deals whose close date is in P. At the
-- period's start t_s and its end t_e (the cut when earlier), each deal is
--   in(t)  = open at t (created_at < t and (not closed, or close_date >= date(t)), as for
--            pipeline_open_amount) and its close date in force at t (f_versions) in P
--   a(t)   = its amount in force at t (0 when unknown)
--   closed in P = closed with its (current) close_date in [period_start, date(t_e))
-- and goes to these buckets (b_<bucket>; amount >= 0):
--   start      in(t_s)                                   a(t_s)
--   created    not in(t_s), (in(t_e) or closed in P), created_at >= t_s      a(t_e)
--   pulled_in  the same with created_at < t_s            a(t_e)
--   increased  in(t_s) and (in(t_e) or closed in P), a(t_e) > a(t_s)          a(t_e) - a(t_s)
--   decreased  the same with a(t_e) < a(t_s)             a(t_s) - a(t_e)
--   pushed_out in(t_s), not in(t_e), not closed in P     a(t_s)
--   lost       closed in P, not won                      a(t_e)
--   won        closed in P, won                          a(t_e)
--   end        in(t_e)                                   a(t_e)
-- (a(t_e) of a deal closed in P is its current amount.) For every deal, so for every member,
-- start + created + pulled_in + increased - decreased - pushed_out - lost - won = end, and in
-- deals start + created + pulled_in - pushed_out - lost - won = end.
-- The deals considered per period are those with a close date (a version's or the current one)
-- in P: no other deal can be in P's pipeline at any instant.
-- step: waterfall_deals
-- scope: grain
-- reads: f_deals, f_versions, periods
-- creates: wf_deals
-- scratch: wf_candidates, wf_states
--   wf_deals(period_start, deal_key, source, deal_id, p_id, o_id, t_id, u_id, c_id,
--            amount_start, amount_end, close_start, close_end, b_start, b_created, b_pulled_in,
--            b_increased, b_decreased, b_pushed_out, b_lost, b_won, b_end): one row per period
--            and deal in some bucket; close_* and amount_* are the values in force at t_s and
--            t_e (NULL amount: unknown); b_<bucket> what the deal adds to the bucket, NULL when
--            it is not in it
CREATE OR REPLACE TEMP TABLE wf_candidates AS
SELECT DISTINCT c.deal_key, p.period_start, p.period_end, p.t_start, p.t_end
FROM (
    SELECT deal_key, close_date AS d FROM f_versions
    WHERE field = 'close_date' AND close_date IS NOT NULL
    UNION ALL
    SELECT deal_key, close_date FROM f_deals WHERE close_date IS NOT NULL
) c
JOIN periods p ON p.period_start = period_of(c.d);

CREATE OR REPLACE TEMP TABLE wf_states AS
SELECT s.*,
       s.open_start AND s.close_start >= s.period_start AND s.close_start < s.period_end AS in_start,
       s.open_end AND s.close_end >= s.period_start AND s.close_end < s.period_end AS in_end
FROM (
    SELECT c.period_start, c.period_end, c.t_start, d.deal_key, d.source, d.deal_id,
           d.p_id, d.o_id, d.t_id, d.u_id, d.c_id, d.is_won, d.created_at,
           d.created_at < c.t_start
               AND (NOT d.is_closed OR d.close_date >= utc_day(c.t_start)) AS open_start,
           d.created_at < c.t_end
               AND (NOT d.is_closed OR d.close_date >= utc_day(c.t_end)) AS open_end,
           d.is_closed AND d.close_date >= c.period_start
               AND d.close_date < utc_day(c.t_end) AS closed_in,
           CASE WHEN cs.deal_key IS NULL THEN d.close_date ELSE cs.close_date END AS close_start,
           CASE WHEN ce.deal_key IS NULL THEN d.close_date ELSE ce.close_date END AS close_end,
           CASE WHEN xs.deal_key IS NULL THEN d.amount ELSE xs.amount END AS amount_start,
           CASE WHEN d.is_closed AND d.close_date < utc_day(c.t_end) THEN d.amount
                WHEN xe.deal_key IS NULL THEN d.amount ELSE xe.amount END AS amount_end
    FROM wf_candidates c
    JOIN f_deals d ON d.deal_key = c.deal_key
    LEFT JOIN f_versions cs
      ON cs.deal_key = c.deal_key AND cs.field = 'close_date'
     AND (cs.valid_from IS NULL OR cs.valid_from < c.t_start)
     AND (cs.valid_to IS NULL OR c.t_start <= cs.valid_to)
    LEFT JOIN f_versions ce
      ON ce.deal_key = c.deal_key AND ce.field = 'close_date'
     AND (ce.valid_from IS NULL OR ce.valid_from < c.t_end)
     AND (ce.valid_to IS NULL OR c.t_end <= ce.valid_to)
    LEFT JOIN f_versions xs
      ON xs.deal_key = c.deal_key AND xs.field = 'amount'
     AND (xs.valid_from IS NULL OR xs.valid_from < c.t_start)
     AND (xs.valid_to IS NULL OR c.t_start <= xs.valid_to)
    LEFT JOIN f_versions xe
      ON xe.deal_key = c.deal_key AND xe.field = 'amount'
     AND (xe.valid_from IS NULL OR xe.valid_from < c.t_end)
     AND (xe.valid_to IS NULL OR c.t_end <= xe.valid_to)
    WHERE d.created_at IS NOT NULL
) s;

CREATE OR REPLACE TEMP TABLE wf_deals AS
SELECT period_start, deal_key, source, deal_id, p_id, o_id, t_id, u_id, c_id,
       amount_start, amount_end, close_start, close_end,
       CASE WHEN in_s THEN a_s END AS b_start,
       CASE WHEN NOT in_s AND (in_e OR closed_in) AND created_in THEN a_e END AS b_created,
       CASE WHEN NOT in_s AND (in_e OR closed_in) AND NOT created_in THEN a_e END AS b_pulled_in,
       CASE WHEN in_s AND (in_e OR closed_in) AND a_e > a_s THEN a_e - a_s END AS b_increased,
       CASE WHEN in_s AND (in_e OR closed_in) AND a_e < a_s THEN a_s - a_e END AS b_decreased,
       CASE WHEN in_s AND NOT in_e AND NOT closed_in THEN a_s END AS b_pushed_out,
       CASE WHEN closed_in AND NOT is_won THEN a_e END AS b_lost,
       CASE WHEN closed_in AND is_won THEN a_e END AS b_won,
       CASE WHEN in_e THEN a_e END AS b_end
FROM (
    SELECT period_start, deal_key, source, deal_id, p_id, o_id, t_id, u_id, c_id,
           amount_start, amount_end, close_start, close_end,
           coalesce(amount_start, 0) AS a_s, coalesce(amount_end, 0) AS a_e,
           coalesce(in_start, false) AS in_s, coalesce(in_end, false) AS in_e,
           coalesce(closed_in, false) AS closed_in, is_won,
           created_at >= t_start AS created_in
    FROM wf_states
) b
WHERE in_s OR in_e OR closed_in;

DROP TABLE wf_candidates;
DROP TABLE wf_states;
