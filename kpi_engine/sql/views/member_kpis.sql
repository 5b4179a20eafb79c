-- The KPIs of one dimension at one grain, one row per period and member, for BI tools:
-- bi.<dimension>_kpis_<grain> (overall, partner, owner, team, unit, channel x month, quarter,
-- year), made from this template by kpi_engine/views.py. Columns (docs/bi-views.md): the
-- period, its as_of and complete flag, the member's columns (partner_id and partner_name,
-- owner_id and owner_name, team, unit or channel; none for overall), then every KPI and its n in
-- registry order, then computed_at.
CREATE OR REPLACE VIEW {name} AS
SELECT period_start, period_end, as_of, complete, {member_columns}{kpi_columns}, computed_at
FROM main.kpi_wide
WHERE grain = '{grain}' AND dimension = '{dimension}';
