-- Deals open at each period boundary t (every t_end and t_start of this grain's periods):
-- created_at < t and (not closed, or close_date >= date(t)). Deals without a created_at are
-- left out. Split in two so that each half is a plain range join.
CREATE OR REPLACE TEMP TABLE boundaries AS
SELECT DISTINCT t FROM (SELECT t_end AS t FROM periods UNION ALL SELECT t_start FROM periods);

CREATE OR REPLACE TEMP TABLE open_at AS
SELECT b.t, d.source, d.deal_id, d.pipeline, d.stage, d.is_closed, d.amount,
       d.partner, d.owner, d.team, d.unit, d.channel
FROM f_deals d JOIN boundaries b ON d.created_at < b.t
WHERE NOT d.is_closed
UNION ALL
SELECT b.t, d.source, d.deal_id, d.pipeline, d.stage, d.is_closed, d.amount,
       d.partner, d.owner, d.team, d.unit, d.channel
FROM f_deals d JOIN boundaries b ON d.created_at < b.t AND d.close_date >= CAST(b.t AS DATE)
WHERE d.is_closed;
