-- KPI 4, marketing channels: every KPI is split by dimension `channel` (lead source mapped to
-- paid / earned / owned / partner / ... by kpis.channels; unmapped or empty -> unknown). Plus:
--   won_amount_share = won_amount of the member / won_amount of `overall` in P (ratio 0..1);
--                      NULL when the overall won_amount is 0; n = the member's won_amount n.
-- step: channel_share
-- scope: grain
-- reads: kpi_base
-- creates: fam_channel_share
CREATE OR REPLACE TEMP TABLE fam_channel_share AS
SELECT w.period_start, w.mid,
       CASE WHEN o.won_amount <> 0 THEN w.won_amount / o.won_amount END AS won_amount_share,
       w.won_amount_n AS won_amount_share_n
FROM kpi_base w
JOIN kpi_base o ON o.period_start = w.period_start AND o.mid = 0;
