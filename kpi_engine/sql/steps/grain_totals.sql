-- The months of attribution.sql summed into the periods of the grain being computed
-- (period_of, kpis.py): att_closed, att_created, att_leads, keyed by (period_start, mid), with
-- the columns of their month tables. Counts stay BIGINT, sums keep their decimal type, so every
-- KPI is computed from the same values as when grouping the deals by the grain's periods.
-- step: grain_totals
-- scope: grain
-- reads: att_closed_m, att_created_m, att_leads_m
-- creates: att_closed, att_created, att_leads
CREATE OR REPLACE TEMP TABLE att_closed AS
SELECT period_of(month) AS period_start, mid,
       CAST(sum(won) AS BIGINT) AS won,
       CAST(sum(lost) AS BIGINT) AS lost,
       CAST(sum(closed) AS BIGINT) AS closed
FROM att_closed_m
GROUP BY period_of(month), mid;

CREATE OR REPLACE TEMP TABLE att_created AS
SELECT period_of(month) AS period_start, mid,
       CAST(sum(created) AS BIGINT) AS created,
       sum(created_amount) AS created_amount,
       CAST(sum(created_amount_n) AS BIGINT) AS created_amount_n,
       CAST(sum(won_by_cut) AS BIGINT) AS won_by_cut
FROM att_created_m
GROUP BY period_of(month), mid;

CREATE OR REPLACE TEMP TABLE att_leads AS
SELECT period_of(month) AS period_start, mid,
       CAST(sum(leads) AS BIGINT) AS leads,
       CAST(sum(converted) AS BIGINT) AS converted
FROM att_leads_m
GROUP BY period_of(month), mid;
