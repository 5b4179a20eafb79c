"""Regression: the KPI engine gives, row for row, the values in ``fixtures/kpi_regression/``.

The fixture holds every ``kpi_values`` row (all grains, dimensions and KPIs; ``computed_at``
aside) of a synthetic store of 3,000 deals computed by the engine as it was before the pipeline
rewrite (open pipeline by events and prefix sums instead of one row per open deal and boundary).
The store is generated here in DuckDB SQL with a deterministic hash, and holds the cases the
pipeline must get right: stage history (rows before creation, after the close, on midnights,
unknown stages), deals created on a boundary's midnight, closed deals without a close date or
closing before their creation, deals without created_at, deleted deals and leads, NULL amounts,
currencies with a dated rate, a rate gap, no rate or an amount already converted, members missing
from the partner and owner tables, and three scenarios (plain; ``--as-of`` with a February fiscal
year; ``--as-of`` on a month start with one source and a period range).

Re-record (only when a KPI definition changes on purpose):
``python tests/engine/test_compute_equivalence.py``.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kpi_engine.kpis import compute  # noqa: E402
from kpi_engine.settings import KpiSettings  # noqa: E402
from kpi_engine.store import Store  # noqa: E402
from tests.helpers.regression import CHANNELS, GENERATE  # noqa: E402

FIXTURE = ROOT / "fixtures" / "kpi_regression" / "kpi_values.csv.gz"

#: name -> (settings, compute keyword arguments)
SCENARIOS: dict[str, tuple[KpiSettings, dict[str, Any]]] = {
    "plain": (KpiSettings(channels=CHANNELS), {}),
    "as_of_fiscal": (
        KpiSettings(
            channels=CHANNELS,
            fiscal_year_start_month=2,
            min_closed_deals=2,
            quality_weights={"won_amount": 0.25, "pipeline_open_amount": 0.5, "win_rate": 0.25},
        ),
        {"as_of": date(2023, 5, 17)},
    ),
    "as_of_month_start": (
        KpiSettings(channels=CHANNELS, reporting_currency="USD", min_closed_deals=3),
        {"as_of": date(2023, 7, 1), "sources": ["a"], "date_from": date(2022, 3, 15),
         "date_to": date(2023, 5, 2)},
    ),
}

COLUMNS = (
    "scenario, grain, period_start, period_end, dimension, member, member_name, kpi, value, n, "
    "as_of"
)


def build_store(path: Path) -> Store:
    """A store holding the synthetic data set."""
    store = Store(path)
    store.con.execute(GENERATE)
    return store


def compute_scenarios(store: Store) -> None:
    """Compute every scenario into the temp table ``regression`` (all columns as text)."""
    store.con.execute(
        "CREATE OR REPLACE TEMP TABLE regression (scenario VARCHAR, grain VARCHAR, "
        "period_start VARCHAR, period_end VARCHAR, dimension VARCHAR, member VARCHAR, "
        "member_name VARCHAR, kpi VARCHAR, value VARCHAR, n VARCHAR, as_of VARCHAR)"
    )
    for name, (settings, kwargs) in SCENARIOS.items():
        compute(store, settings, **kwargs)
        store.con.execute(
            "INSERT INTO regression SELECT ?, grain, CAST(period_start AS VARCHAR), "
            "CAST(period_end AS VARCHAR), dimension, member, member_name, kpi, "
            "CAST(value AS VARCHAR), CAST(n AS VARCHAR), CAST(as_of AS VARCHAR) FROM kpi_values",
            [name],
        )


def test_compute_equals_recorded_values(tmp_path: Path) -> None:
    store = build_store(tmp_path / "r.duckdb")
    try:
        compute_scenarios(store)
        store.con.execute(
            f"CREATE TEMP TABLE expected AS SELECT {COLUMNS} FROM read_csv(?, all_varchar = true, "
            "header = true)",
            [str(FIXTURE)],
        )
        # KPIs added after the recording (the pipeline waterfall) are not in it
        store.con.execute("DELETE FROM regression WHERE kpi NOT IN (SELECT kpi FROM expected)")
        counts = store.con.execute(
            "SELECT (SELECT count(*) FROM regression), (SELECT count(*) FROM expected)"
        ).fetchall()[0]
        missing = store.con.execute(
            f"SELECT {COLUMNS} FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM regression) "
            "ORDER BY ALL LIMIT 10"
        ).fetchall()
        extra = store.con.execute(
            f"SELECT {COLUMNS} FROM (SELECT * FROM regression EXCEPT ALL SELECT * FROM expected) "
            "ORDER BY ALL LIMIT 10"
        ).fetchall()
    finally:
        store.close()
    assert (missing, extra) == ([], [])
    assert counts[0] == counts[1]


def test_compute_regression_store_holds_the_edge_cases(tmp_path: Path) -> None:
    store = build_store(tmp_path / "r.duckdb")
    try:
        row = store.con.execute(
            """
            SELECT count(*),
                   count(*) FILTER (WHERE is_deleted),
                   count(*) FILTER (WHERE created_at IS NULL),
                   count(*) FILTER (WHERE is_closed AND close_date IS NULL),
                   count(*) FILTER (WHERE amount IS NULL),
                   count(*) FILTER (WHERE currency = 'JPY'),
                   count(*) FILTER (WHERE created_at = date_trunc('month', created_at)),
                   (SELECT count(*) FROM stage_history h
                    WHERE h.entered_at = date_trunc('day', h.entered_at))
            FROM deals
            """
        ).fetchall()[0]
    finally:
        store.close()
    assert row[0] == 3000
    assert all(v > 0 for v in row[1:]), row


def _record() -> None:
    import tempfile

    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "r.duckdb")
        compute_scenarios(store)
        store.con.execute(
            f"COPY (SELECT {COLUMNS} FROM regression ORDER BY ALL) TO '{FIXTURE}' "
            "(HEADER, COMPRESSION gzip)"
        )
        rows = store.con.execute(
            "SELECT scenario, count(*) FROM regression GROUP BY 1 ORDER BY 1"
        ).fetchall()
        store.close()
    print(f"wrote {FIXTURE}: {rows}")


if __name__ == "__main__":
    _record()
