-- The write-back plan: one row per (partner of the source, target field), with the partner's KPI
-- value in the chosen period (NULL: no value) and the field's value as last pushed.
-- Parameters: $source, $object, $grain, $period_start. Temp table wb_targets(position, kpi, field)
-- lists the configured KPI -> field map. Partners are matched to KPI members by record id
-- (kpi_values.member of dimension 'partner' = partners.partner_id). Converting the KPI value to
-- the field's type and deciding what to write is done in kpi_engine/writeback.py.
-- Besides the registry's KPIs, partner_target_attainment and partner_tier_eligible come from
-- partner_status (kpi_engine/partner_status.py), and <category>_won_amount from credit_values.
WITH vals AS (
    SELECT member, kpi, value FROM kpi_values
    WHERE grain = $grain AND period_start = $period_start AND dimension = 'partner'
    UNION ALL
    SELECT partner_id, 'partner_target_attainment', CAST(target_attainment AS DECIMAL(38, 10))
    FROM partner_status WHERE grain = $grain AND period_start = $period_start
    UNION ALL
    SELECT partner_id, 'partner_tier_eligible', CAST(tier_eligible AS DECIMAL(38, 10))
    FROM partner_status WHERE grain = $grain AND period_start = $period_start
    UNION ALL  -- the partner credit's <category>_won_amount (kpi_engine/credit.py)
    SELECT member, kpi, value FROM credit_values
    WHERE grain = $grain AND period_start = $period_start AND dimension = 'partner'
)
SELECT
    p.partner_id                      AS record_id,
    p.name                            AS name,
    t.field                           AS field,
    t.kpi                             AS kpi,
    k.value                           AS kpi_value,
    s.value                           AS old_value,
    s.record_id IS NOT NULL           AS was_pushed
FROM partners p
CROSS JOIN wb_targets t
LEFT JOIN vals k ON k.member = p.partner_id AND k.kpi = t.kpi
LEFT JOIN push_state s
       ON s.source = $source AND s.object = $object AND s.record_id = p.partner_id
      AND s.field = t.field
WHERE p.source = $source AND NOT p.is_deleted
ORDER BY p.partner_id, t.position;
