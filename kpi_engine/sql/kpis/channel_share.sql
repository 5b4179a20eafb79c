-- KPI 4, marketing channels: every KPI is split by dimension `channel` (lead source mapped to
-- paid / earned / owned / partner / ... by kpis.channels; unmapped or empty -> unknown). Plus:
--   won_amount_share = won_amount of the member / won_amount of `overall` in P (ratio 0..1);
--                      NULL when the overall won_amount is 0; n = the member's won_amount n.
CREATE OR REPLACE TEMP TABLE fam_channel_share AS
SELECT w.period_start, w.mid,
       kv(CASE WHEN o.won_amount.value <> 0 THEN w.won_amount.value / o.won_amount.value END,
          w.won_amount.n) AS won_amount_share
FROM kpi_wide w
JOIN kpi_wide o ON o.period_start = w.period_start AND o.mid = 0;
