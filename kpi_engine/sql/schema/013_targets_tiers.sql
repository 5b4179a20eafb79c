-- Targets (goals, quotas) per member and period, and what compute makes of them
-- (kpi_engine/targets.py, kpi_engine/tiers.py; docs/kpis.md, "Targets and tiers").
--
-- targets: the canonical targets, one row per (source, target_id). source is file (the
-- targets: file of the config, re-read by every compute), salesforce (ForecastingQuota) or
-- hubspot (goal_targets). A target is for one member (dimension, member as in kpi_wide), one KPI
-- and one period [period_start, period_end) of a grain; target is in the KPI's unit (money in
-- the reporting currency when currency is NULL or the reporting currency).
CREATE TABLE targets (
    source       VARCHAR NOT NULL,      -- file | salesforce | hubspot
    target_id    VARCHAR NOT NULL,      -- the CRM record id; file: dimension|member|kpi|grain|period_start
    dimension    VARCHAR NOT NULL,      -- partner | owner | team | unit | channel | overall
    member       VARCHAR NOT NULL,
    kpi          VARCHAR NOT NULL,
    grain        VARCHAR NOT NULL,      -- month | quarter | year
    period_start DATE NOT NULL,
    period_end   DATE NOT NULL,         -- exclusive
    target       DECIMAL(38, 10) NOT NULL,
    currency     VARCHAR,               -- a money target's currency as the CRM gave it
    name         VARCHAR,               -- the goal's / quota's name, when it has one
    updated_at   TIMESTAMPTZ,
    is_deleted   BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (source, target_id)
);

-- target_results: per computed grain, period and target (given, or rolled up from a finer
-- grain), the KPI's actual and how far it is. Replaced for the computed grains by each compute.
CREATE TABLE target_results (
    grain         VARCHAR NOT NULL,
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,        -- exclusive
    dimension     VARCHAR NOT NULL,
    member        VARCHAR NOT NULL,
    member_name   VARCHAR,
    kpi           VARCHAR NOT NULL,
    target        DECIMAL(38, 10) NOT NULL,
    target_from   VARCHAR NOT NULL,     -- file | salesforce | hubspot | months | quarters (rolled up)
    actual        DECIMAL(38, 10),      -- NULL: the KPI has no value (a rate over nothing)
    attainment    DECIMAL(18, 10),      -- actual / target (lower-is-better KPIs: target / actual)
    gap           DECIMAL(38, 10),      -- what is still missing to the target (<= 0: reached)
    elapsed_share DECIMAL(18, 10) NOT NULL, -- share of the period elapsed at as_of, 0..1
    pace          DECIMAL(18, 10),      -- additive KPIs: actual / (target x elapsed_share)
    as_of         DATE NOT NULL,
    complete      BOOLEAN NOT NULL,
    computed_at   TIMESTAMPTZ NOT NULL
);

-- partner_tiers: per period of the tier window's grain and partner, the tier its numbers over
-- the window qualify for against its current tier (partners.tier, synced from the CRM).
CREATE TABLE partner_tiers (
    grain              VARCHAR NOT NULL,
    period_start       DATE NOT NULL,   -- the window's last period
    period_end         DATE NOT NULL,   -- exclusive
    window_start       DATE NOT NULL,   -- the window's first day
    partner_id         VARCHAR NOT NULL,
    partner_name       VARCHAR,
    current_tier       VARCHAR,         -- the tier's configured name; NULL: none in the CRM
    crm_tier           VARCHAR,         -- partners.tier as synced
    qualified_tier     VARCHAR NOT NULL,
    next_tier          VARCHAR,         -- the tier above the current one (NULL: at the top)
    meets_current      BOOLEAN,         -- NULL without a current tier
    eligible_next      BOOLEAN,
    at_risk            BOOLEAN,
    status             VARCHAR NOT NULL, -- meets | eligible | at_risk | no_tier | unknown_tier
    rank_value         DECIMAL(38, 10), -- the tiers.rank_by KPI over the window
    percentile_in_tier DECIMAL(18, 10), -- 0..1 among the partners of its tier (NULL: alone)
    window_values      JSON NOT NULL,   -- {kpi: value over the window}
    computed_at        TIMESTAMPTZ NOT NULL
);

-- partner_status: per grain, period and partner, what the write-back fields
-- partner_target_attainment (the attainment of targets.writeback_kpi, ratio) and
-- partner_tier_eligible (1: eligible for the next tier, 0: not; rows of the tier window's grain)
-- hold, and the tier status the leaderboard shows. Replaced whole by each compute.
CREATE TABLE partner_status (
    grain             VARCHAR NOT NULL,
    period_start      DATE NOT NULL,
    partner_id        VARCHAR NOT NULL,
    target_attainment DECIMAL(18, 10),
    tier_eligible     INTEGER,
    tier_status       VARCHAR,         -- partner_tiers.status
    current_tier      VARCHAR,
    qualified_tier    VARCHAR,
    computed_at       TIMESTAMPTZ NOT NULL
);
