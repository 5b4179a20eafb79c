-- The partner KPIs per credit category (docs/kpis.md, "Partner credit"), for the grain being
-- computed: per (period, category, member) of f_credit (credit_links.sql), each deal counted with
-- its credit w = w_num / w_den (money rounded to 6 places per deal, counts to 10):
--   deals_won, deals_lost  sum of w over the deals won / lost with close_date in P (the cut)
--   won_amount             sum of w x amount over the won deals with an amount
--   pipeline_open_amount   sum of w x amount over the deals open at the period's end (created
--                          before it; not closed, or closed on or after its day: KPI 3)
--   win_rate               deals_won / (deals_won + deals_lost); NULL when both are 0
--   average_deal_size      won_amount / (sum of w over the won deals with an amount); NULL over none
--   sales_cycle_days       sum of w x (close_date - created date) / sum of w over the won deals
--                          with a created date on or before close_date; NULL over none
-- step: credit_kpis
-- scope: grain
-- reads: f_credit, periods, partners, kpi_params
-- creates: credit_grain_result
-- scratch: credit_closed, credit_events, credit_open, credit_names

CREATE OR REPLACE TEMP TABLE credit_closed AS
SELECT period_of(close_date) AS period_start, category, member,
       sum(CASE WHEN is_won THEN w ELSE 0 END) AS deals_won,
       sum(CASE WHEN is_lost THEN w ELSE 0 END) AS deals_lost,
       sum(CASE WHEN is_won THEN credit_amount END) AS won_amount,
       sum(CASE WHEN is_won AND credit_amount IS NOT NULL THEN w END) AS won_amount_w,
       sum(CASE WHEN is_won AND created_date IS NOT NULL AND close_date >= created_date
                THEN CAST(day_diff(created_date, close_date) * w AS DECIMAL(18, 10)) END)
           AS cycle_days_w,
       sum(CASE WHEN is_won AND created_date IS NOT NULL AND close_date >= created_date
                THEN w END) AS cycle_w
FROM f_credit
WHERE closed_by_cut
GROUP BY period_of(close_date), category, member;

-- The pipeline at each period's end from running sums (never one row per deal and period): a
-- deal adds its credited amount in the period of its created date and takes it back in the
-- period of its close date (of its created date when it closed earlier; never when it closed
-- on or after the cut: open until then), so the sum over the periods up to P is what is open at
-- P's end (every boundary is a UTC midnight: created_at < t <=> created date < date(t)).
CREATE OR REPLACE TEMP TABLE credit_events AS
SELECT period_of(e.day) AS period_start, e.category, e.member,
       sum(e.amount) AS amount, sum(e.n) AS n
FROM (
    SELECT created_date AS day, category, member, credit_amount AS amount, 1 AS n
    FROM f_credit
    WHERE credit_amount IS NOT NULL AND created_date IS NOT NULL
      AND (NOT is_closed OR close_date IS NOT NULL)
    UNION ALL
    SELECT greatest(c.close_date, c.created_date), c.category, c.member, -c.credit_amount, -1
    FROM f_credit c
    CROSS JOIN kpi_params k
    WHERE c.credit_amount IS NOT NULL AND c.created_date IS NOT NULL AND c.is_closed
      AND c.close_date IS NOT NULL AND c.close_date < k.cut_date
) e
GROUP BY period_of(e.day), e.category, e.member;

CREATE OR REPLACE TEMP TABLE credit_open AS
SELECT period_start, category, member, pipeline_open_amount
FROM (
    SELECT p.period_start, m.category, m.member,
           sum(coalesce(e.amount, 0)) OVER w AS pipeline_open_amount,
           sum(coalesce(e.n, 0)) OVER w AS open_count
    FROM (SELECT DISTINCT category, member FROM credit_events) m
    CROSS JOIN periods p
    LEFT JOIN credit_events e
      ON e.category = m.category AND e.member = m.member AND e.period_start = p.period_start
    WINDOW w AS (PARTITION BY m.category, m.member ORDER BY p.period_start)
) r
WHERE open_count > 0;

CREATE OR REPLACE TEMP TABLE credit_names AS
SELECT partner_id AS member, max(name) AS member_name FROM partners GROUP BY partner_id;

CREATE OR REPLACE TEMP TABLE credit_grain_result AS
SELECT p.period_start, p.period_end, k.category, k.member,
       CASE WHEN k.member = 'all' THEN 'All ' || k.category
            ELSE coalesce(n.member_name, k.member) END AS member_name,
       CAST(coalesce(a.deals_won, 0) AS DECIMAL(38, 10)) AS deals_won,
       CAST(coalesce(a.deals_lost, 0) AS DECIMAL(38, 10)) AS deals_lost,
       CAST(coalesce(a.won_amount, 0) AS DECIMAL(38, 10)) AS won_amount,
       CAST(coalesce(o.pipeline_open_amount, 0) AS DECIMAL(38, 10)) AS pipeline_open_amount,
       CAST(CASE WHEN a.deals_won + a.deals_lost > 0
                 THEN a.deals_won / (a.deals_won + a.deals_lost) END AS DECIMAL(18, 10))
           AS win_rate,
       CAST(CASE WHEN a.won_amount_w > 0 THEN a.won_amount / a.won_amount_w END
            AS DECIMAL(38, 10)) AS average_deal_size,
       CAST(CASE WHEN a.cycle_w > 0 THEN a.cycle_days_w / a.cycle_w END AS DECIMAL(18, 10))
           AS sales_cycle_days
FROM (
    SELECT period_start, category, member FROM credit_closed
    UNION
    SELECT period_start, category, member FROM credit_open
) k
JOIN periods p ON p.period_start = k.period_start
LEFT JOIN credit_closed a
  ON a.period_start = k.period_start AND a.category = k.category AND a.member = k.member
LEFT JOIN credit_open o
  ON o.period_start = k.period_start AND o.category = k.category AND o.member = k.member
LEFT JOIN credit_names n ON n.member = k.member;

DROP TABLE credit_closed;
DROP TABLE credit_events;
DROP TABLE credit_open;
DROP TABLE credit_names;
