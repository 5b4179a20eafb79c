-- The stored KPI result is wide: one row per (grain, period_start, dimension, member) with one
-- typed column per KPI and its n (kpi_engine/registry.py lists them; a KPI added later gets its
-- columns when the store is opened for writing). kpi_values, the long form export, push and the
-- report read, becomes a view of this table (created with the BI views by kpi_engine/views.py).
-- A store computed before keeps its KPIs: the rows of the kpi_values table are carried over.
--   period_end   exclusive; as_of: the day the period's pipeline was measured (period_end, or
--                --as-of when earlier); complete: as_of = period_end and period_end on or
--                before the day it was computed (today in the reporting time zone)
--   <kpi>        INTEGER for counts (unit deals), DECIMAL(38, 10) for money, DECIMAL(18, 10)
--                for ratios, days and scores; NULL where docs/kpis.md says so; <kpi>_n INTEGER (NULL only for the
--                quality score of the overall member, which has none)
-- Unique on (grain, period_start, dimension, member) by construction: a compute replaces a
-- grain's periods whole. No index: it would cost more than the write.
CREATE TABLE kpi_wide (
    grain        VARCHAR NOT NULL,
    period_start DATE NOT NULL,
    period_end   DATE NOT NULL,
    dimension    VARCHAR NOT NULL,
    member       VARCHAR NOT NULL,
    member_name  VARCHAR,
    as_of        DATE NOT NULL,
    complete     BOOLEAN NOT NULL,
    computed_at  TIMESTAMPTZ NOT NULL,
    deals_won INTEGER,
    deals_won_n INTEGER,
    deals_lost INTEGER,
    deals_lost_n INTEGER,
    deals_closed INTEGER,
    deals_closed_n INTEGER,
    deals_created INTEGER,
    deals_created_n INTEGER,
    won_amount DECIMAL(38, 10),
    won_amount_n INTEGER,
    average_deal_size DECIMAL(38, 10),
    average_deal_size_n INTEGER,
    median_deal_size DECIMAL(38, 10),
    median_deal_size_n INTEGER,
    pipeline_open_count INTEGER,
    pipeline_open_count_n INTEGER,
    pipeline_open_amount DECIMAL(38, 10),
    pipeline_open_amount_n INTEGER,
    pipeline_weighted_amount DECIMAL(38, 10),
    pipeline_weighted_amount_n INTEGER,
    pipeline_created_amount DECIMAL(38, 10),
    pipeline_created_amount_n INTEGER,
    pipeline_change DECIMAL(38, 10),
    pipeline_change_n INTEGER,
    won_amount_share DECIMAL(18, 10),
    won_amount_share_n INTEGER,
    win_rate DECIMAL(18, 10),
    win_rate_n INTEGER,
    lead_conversion_rate DECIMAL(18, 10),
    lead_conversion_rate_n INTEGER,
    sales_cycle_days DECIMAL(18, 10),
    sales_cycle_days_n INTEGER,
    sales_velocity DECIMAL(38, 10),
    sales_velocity_n INTEGER,
    quality_score DECIMAL(18, 10),
    quality_score_n INTEGER,
    quality_score_change DECIMAL(18, 10),
    quality_score_change_n INTEGER,
    deal_success_rate DECIMAL(18, 10),
    deal_success_rate_n INTEGER
);

INSERT INTO kpi_wide
SELECT grain,
       period_start,
       any_value(period_end),
       dimension,
       member,
       any_value(member_name),
       any_value(as_of),
       any_value(as_of) = any_value(period_end) AND any_value(period_end) <= CAST(max(computed_at) AS DATE),
       max(computed_at),
       CAST(max(value) FILTER (WHERE kpi = 'deals_won') AS INTEGER),
       CAST(max(n) FILTER (WHERE kpi = 'deals_won') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'deals_lost') AS INTEGER),
       CAST(max(n) FILTER (WHERE kpi = 'deals_lost') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'deals_closed') AS INTEGER),
       CAST(max(n) FILTER (WHERE kpi = 'deals_closed') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'deals_created') AS INTEGER),
       CAST(max(n) FILTER (WHERE kpi = 'deals_created') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'won_amount') AS DECIMAL(38, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'won_amount') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'average_deal_size') AS DECIMAL(38, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'average_deal_size') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'median_deal_size') AS DECIMAL(38, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'median_deal_size') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'pipeline_open_count') AS INTEGER),
       CAST(max(n) FILTER (WHERE kpi = 'pipeline_open_count') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'pipeline_open_amount') AS DECIMAL(38, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'pipeline_open_amount') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'pipeline_weighted_amount') AS DECIMAL(38, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'pipeline_weighted_amount') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'pipeline_created_amount') AS DECIMAL(38, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'pipeline_created_amount') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'pipeline_change') AS DECIMAL(38, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'pipeline_change') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'won_amount_share') AS DECIMAL(18, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'won_amount_share') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'win_rate') AS DECIMAL(18, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'win_rate') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'lead_conversion_rate') AS DECIMAL(18, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'lead_conversion_rate') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'sales_cycle_days') AS DECIMAL(18, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'sales_cycle_days') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'sales_velocity') AS DECIMAL(38, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'sales_velocity') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'quality_score') AS DECIMAL(18, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'quality_score') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'quality_score_change') AS DECIMAL(18, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'quality_score_change') AS INTEGER),
       CAST(max(value) FILTER (WHERE kpi = 'deal_success_rate') AS DECIMAL(18, 10)),
       CAST(max(n) FILTER (WHERE kpi = 'deal_success_rate') AS INTEGER)
FROM kpi_values
GROUP BY grain, period_start, dimension, member;

DROP TABLE kpi_values;
