-- One row per member (mid) of a period with every base KPI as a column (a {value, n} struct).
-- A KPI with no row for the member takes its empty value: 0 for counts and money sums, NULL for
-- averages and rates, with n = 0 (kv(NULL, 0)).
CREATE OR REPLACE TEMP TABLE kpi_wide AS
SELECT
    m.period_start, m.mid,
    coalesce(dc.deals_won, kv(0, 0)) AS deals_won,
    coalesce(dc.deals_lost, kv(0, 0)) AS deals_lost,
    coalesce(dc.deals_closed, kv(0, 0)) AS deals_closed,
    coalesce(cr.deals_created, kv(0, 0)) AS deals_created,
    coalesce(ds.won_amount, kv(0, 0)) AS won_amount,
    coalesce(ds.average_deal_size, kv(NULL, 0)) AS average_deal_size,
    coalesce(ds.median_deal_size, kv(NULL, 0)) AS median_deal_size,
    coalesce(pe.pipeline_open_count, kv(0, 0)) AS pipeline_open_count,
    coalesce(pe.pipeline_open_amount, kv(0, 0)) AS pipeline_open_amount,
    coalesce(pe.pipeline_weighted_amount, kv(0, 0)) AS pipeline_weighted_amount,
    coalesce(pc.pipeline_created_amount, kv(0, 0)) AS pipeline_created_amount,
    coalesce(wr.win_rate, kv(NULL, 0)) AS win_rate,
    coalesce(lc.lead_conversion_rate, kv(NULL, 0)) AS lead_conversion_rate,
    coalesce(sc.sales_cycle_days, kv(NULL, 0)) AS sales_cycle_days,
    coalesce(sc.cycle_days_total, 0) AS cycle_days_total,
    coalesce(su.deal_success_rate, kv(NULL, 0)) AS deal_success_rate
FROM members m
LEFT JOIN fam_closed dc USING (period_start, mid)
LEFT JOIN fam_created cr USING (period_start, mid)
LEFT JOIN fam_win_rate wr USING (period_start, mid)
LEFT JOIN fam_success su USING (period_start, mid)
LEFT JOIN fam_pipeline_created pc USING (period_start, mid)
LEFT JOIN fam_won_amount ds USING (period_start, mid)
LEFT JOIN fam_pipeline_end pe USING (period_start, mid)
LEFT JOIN fam_leads lc USING (period_start, mid)
LEFT JOIN fam_cycle sc USING (period_start, mid);
