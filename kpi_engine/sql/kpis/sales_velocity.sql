-- KPI 6 (cont.), see velocity.sql for the definition of sales_velocity. Reads kpi_filled.
INSERT INTO kpi_rows
SELECT c.period_start, c.dimension, c.member, 'sales_velocity',
       CASE WHEN y.value <> 0
            THEN CAST(CAST(c.value AS DOUBLE) * CAST(w.value AS DOUBLE) * CAST(a.value AS DOUBLE)
                      / CAST(y.value AS DOUBLE) AS DECIMAL(38, 10)) END,
       c.n
FROM kpi_filled c
JOIN kpi_filled w USING (period_start, dimension, member)
JOIN kpi_filled a USING (period_start, dimension, member)
JOIN kpi_filled y USING (period_start, dimension, member)
WHERE c.kpi = 'deals_created' AND w.kpi = 'win_rate'
  AND a.kpi = 'average_deal_size' AND y.kpi = 'sales_cycle_days';
