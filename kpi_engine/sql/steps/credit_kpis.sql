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
-- reads: f_credit, f_deals, periods, partners
-- creates: credit_grain_result
-- scratch: credit_closed, credit_open, credit_names

CREATE OR REPLACE TEMP TABLE credit_closed AS
SELECT period_of(d.close_date) AS period_start, c.category, c.member,
       sum(CASE WHEN d.is_won THEN CAST(c.w_num / c.w_den AS DECIMAL(18, 10)) ELSE 0 END)
           AS deals_won,
       sum(CASE WHEN d.is_lost THEN CAST(c.w_num / c.w_den AS DECIMAL(18, 10)) ELSE 0 END)
           AS deals_lost,
       sum(CASE WHEN d.is_won AND d.amount IS NOT NULL
                THEN CAST(d.amount * c.w_num / c.w_den AS DECIMAL(38, 6)) END) AS won_amount,
       sum(CASE WHEN d.is_won AND d.amount IS NOT NULL
                THEN CAST(c.w_num / c.w_den AS DECIMAL(18, 10)) END) AS won_amount_w,
       sum(CASE WHEN d.is_won AND d.created_date IS NOT NULL AND d.close_date >= d.created_date
                THEN CAST((d.close_date - d.created_date) * c.w_num / c.w_den AS DECIMAL(18, 10))
           END) AS cycle_days_w,
       sum(CASE WHEN d.is_won AND d.created_date IS NOT NULL AND d.close_date >= d.created_date
                THEN CAST(c.w_num / c.w_den AS DECIMAL(18, 10)) END) AS cycle_w
FROM f_credit c
JOIN f_deals d ON d.deal_key = c.deal_key
WHERE d.closed_by_cut
GROUP BY period_of(d.close_date), c.category, c.member;

CREATE OR REPLACE TEMP TABLE credit_open AS
SELECT p.period_start, c.category, c.member,
       sum(CAST(d.amount * c.w_num / c.w_den AS DECIMAL(38, 6))) AS pipeline_open_amount
FROM f_credit c
JOIN f_deals d ON d.deal_key = c.deal_key
JOIN periods p
  ON d.created_at < p.t_end
 AND (NOT d.is_closed OR (d.close_date IS NOT NULL AND d.close_date >= utc_day(p.t_end)))
WHERE d.amount IS NOT NULL
GROUP BY p.period_start, c.category, c.member;

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
DROP TABLE credit_open;
DROP TABLE credit_names;
