-- Partner credit (docs/kpis.md, "Partner credit"): who gets which share of each live deal.
-- step: credit_links
-- reads: f_deals, deals, deal_partners, partners, credit_params, credit_roles, credit_categories
-- creates: f_credit
-- scratch: credit_rows, credit_links_all, credit_deal_stats, credit_weights
-- Parameters (made by kpi_engine/credit.py): credit_params(rule, primary_category,
-- partner_field_category, unmapped_category, share_tolerance), credit_roles(role, category) --
-- role lower-cased, credit_categories(category, rnk) -- attribution.categories in order.
-- A deal's links: its partner field (deals.partner_id, primary) and its live deal_partners rows of
-- the other origins, one link per (deal, partner): of a partner's rows of two categories the
-- first category of attribution.categories wins; marked primary when any row is; its share the
-- greatest given. The category of a row: the one the source states, else its role's
-- (attribution.roles), else partner_field_category for the partner field, else unmapped_category.
-- The credit of a link is w_num / w_den of the deal (w_den is one per deal):
--   primary  1 / 1 for the deal's primary link (the partner field's; else the one link marked
--            primary; else, with none marked, the one link of primary_category), 0 for others
--   full     1 / 1 for every link
--   even     1 / (the deal's links)
--   share    share / (the sum of the deal's shares); the deal gets no credit when a link has no
--            share or the sum is off 1 by more than share_tolerance (a reject)
-- Output: f_credit(deal_key, category, member, w_num, w_den, flag, w, credit_amount and the
-- deal's is_won, is_lost, is_closed, closed_by_cut, created_date, close_date), where member is a partner id
-- or 'all' (the deal in the category's total: least(w_den, the category's w_num) / w_den, so
-- counted once), plus category 'partner' (every deal with a link, 1 / 1) and 'direct' (every deal
-- without one, 1 / 1); flag: 'bad_share' (share rule, deal left out), 'no_primary' (primary rule,
-- no single primary link), 'unmapped' (a role not in attribution.roles) on the deal's 'partner'
-- row, else NULL.

CREATE OR REPLACE TEMP TABLE credit_rows AS
SELECT f.deal_key, x.partner_id, x.is_primary, x.share, x.from_field,
       coalesce(x.category, r.category,
                CASE WHEN x.from_field THEN p.partner_field_category
                     ELSE p.unmapped_category END) AS category,
       x.category IS NULL AND r.category IS NULL AND NOT x.from_field AS unmapped
FROM (
    SELECT d.source, d.deal_id, d.partner_id, CAST(NULL AS VARCHAR) AS role,
           CAST(NULL AS VARCHAR) AS category, true AS is_primary,
           CAST(NULL AS DECIMAL(18, 10)) AS share, true AS from_field
    FROM deals d
    WHERE d.partner_id IS NOT NULL
    UNION ALL
    SELECT l.source, l.deal_id, l.partner_id, l.role, l.category, l.is_primary, l.share, false
    FROM deal_partners l
    WHERE NOT l.is_deleted AND l.origin <> 'partner_field'
) x
JOIN f_deals f ON f.source = x.source AND f.deal_id = x.deal_id
CROSS JOIN credit_params p
LEFT JOIN credit_roles r ON r.role = lower(x.role)
-- a partner flagged deleted (gone, archived, merged away, no longer a partner) gets no credit:
-- its deals count as direct unless another partner is linked (as facts.sql counts them: none)
WHERE NOT EXISTS (SELECT 1 FROM partners fp
                  WHERE fp.source = x.source AND fp.partner_id = x.partner_id AND fp.is_deleted);

CREATE OR REPLACE TEMP TABLE credit_links_all AS
SELECT l.deal_key, l.partner_id, c.category, l.from_field, l.marked, l.share, l.unmapped
FROM (
    SELECT r.deal_key, r.partner_id, min(c.rnk) AS rnk,
           max(CASE WHEN r.from_field THEN 1 ELSE 0 END) AS from_field,
           max(CASE WHEN r.is_primary THEN 1 ELSE 0 END) AS marked,
           max(r.share) AS share,
           max(CASE WHEN r.unmapped THEN 1 ELSE 0 END) AS unmapped
    FROM credit_rows r
    JOIN credit_categories c ON c.category = r.category
    GROUP BY r.deal_key, r.partner_id
) l
JOIN credit_categories c ON c.rnk = l.rnk;

CREATE OR REPLACE TEMP TABLE credit_deal_stats AS
SELECT l.deal_key,
       count(*) AS links,
       sum(l.from_field) AS fields,
       sum(l.marked) AS marked,
       sum(CASE WHEN l.category = p.primary_category THEN 1 ELSE 0 END) AS in_primary,
       count(l.share) AS shares,
       sum(l.share) AS share_sum,
       max(l.unmapped) AS unmapped
FROM credit_links_all l
CROSS JOIN credit_params p
GROUP BY l.deal_key;

CREATE OR REPLACE TEMP TABLE credit_weights AS
WITH weighted AS (
    SELECT l.deal_key, l.partner_id, l.category,
           CASE p.rule
               WHEN 'primary' THEN
                   CASE WHEN s.fields = 1 THEN l.from_field
                        WHEN s.marked = 1 THEN l.marked
                        WHEN s.marked = 0 AND s.in_primary = 1
                            THEN CASE WHEN l.category = p.primary_category THEN 1 ELSE 0 END
                        ELSE 0 END
               WHEN 'share' THEN
                   CASE WHEN s.shares = s.links AND s.share_sum > 0
                             AND abs(s.share_sum - 1) <= p.share_tolerance THEN l.share
                        ELSE 0 END
               ELSE 1
           END AS w_num,
           CASE p.rule
               WHEN 'even' THEN s.links
               WHEN 'share' THEN
                   CASE WHEN s.shares = s.links AND s.share_sum > 0 THEN s.share_sum ELSE 1 END
               ELSE 1
           END AS w_den
    FROM credit_links_all l
    JOIN credit_deal_stats s ON s.deal_key = l.deal_key
    CROSS JOIN credit_params p
),
typed AS (
    SELECT deal_key, partner_id, category, CAST(w_num AS DECIMAL(38, 10)) AS w_num,
           CAST(w_den AS DECIMAL(38, 10)) AS w_den
    FROM weighted
)
SELECT deal_key, category, partner_id AS member, w_num, w_den, CAST(NULL AS VARCHAR) AS flag
FROM typed
WHERE w_num > 0
UNION ALL
SELECT deal_key, category, 'all', least(max(w_den), sum(w_num)), max(w_den), CAST(NULL AS VARCHAR)
FROM typed
GROUP BY deal_key, category
HAVING sum(w_num) > 0
UNION ALL
SELECT s.deal_key, 'partner', 'all', CAST(1 AS DECIMAL(38, 10)), CAST(1 AS DECIMAL(38, 10)),
       CASE WHEN p.rule = 'share' AND NOT (s.shares = s.links AND s.share_sum > 0
                                            AND abs(s.share_sum - 1) <= p.share_tolerance)
                THEN 'bad_share'
            WHEN p.rule = 'primary' AND NOT (s.fields = 1 OR s.marked = 1
                                             OR (s.marked = 0 AND s.in_primary = 1))
                THEN 'no_primary'
            WHEN s.unmapped = 1 THEN 'unmapped' END
FROM credit_deal_stats s
CROSS JOIN credit_params p
UNION ALL
SELECT f.deal_key, 'direct', 'all', CAST(1 AS DECIMAL(38, 10)), CAST(1 AS DECIMAL(38, 10)),
       CAST(NULL AS VARCHAR)
FROM f_deals f
WHERE f.deal_key NOT IN (SELECT deal_key FROM credit_deal_stats);

-- the deal's facts the grain step needs, with its credit w and credited amount, in one table
CREATE OR REPLACE TEMP TABLE f_credit AS
SELECT c.deal_key, c.category, c.member, c.w_num, c.w_den, c.flag,
       CAST(c.w_num / c.w_den AS DECIMAL(18, 10)) AS w,
       CAST(d.amount * c.w_num / c.w_den AS DECIMAL(38, 6)) AS credit_amount,
       d.is_won, d.is_lost, d.is_closed, d.closed_by_cut, d.created_date, d.close_date
FROM credit_weights c
JOIN f_deals d ON d.deal_key = c.deal_key;

DROP TABLE credit_rows;
DROP TABLE credit_links_all;
DROP TABLE credit_deal_stats;
DROP TABLE credit_weights;
