-- KPI 4, marketing channels: every KPI is split by dimension `channel` (lead source mapped to
-- paid / earned / owned / partner / ... by kpis.channels; unmapped or empty -> unknown). Plus:
--   won_amount_share = won_amount of the member / won_amount of `overall` in P (ratio 0..1);
--                      NULL when the overall won_amount is 0; n = the member's won_amount n.
-- Reads kpi_filled.
INSERT INTO kpi_rows
SELECT m.period_start, m.dimension, m.member, 'won_amount_share',
       CASE WHEN o.value <> 0 THEN CAST(m.value / o.value AS DECIMAL(38, 10)) END,
       m.n
FROM kpi_filled m
JOIN kpi_filled o
  ON o.period_start = m.period_start AND o.dimension = 'overall' AND o.kpi = 'won_amount'
WHERE m.kpi = 'won_amount';
