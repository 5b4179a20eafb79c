"""A CSV source has no field history: each sync that reads a changed deals file stores the open
deals as they stood (``pipeline_snapshots``), and the pipeline waterfall is computed between the
snapshots. Two exports, synced on 2024-03-20 and 2024-05-10; by hand, quarter 2024-Q2
(t_s = 04-01: the first snapshot is in force; t_e = 07-01: the second):

| deal | export 1 | export 2 | buckets |
|---|---|---|---|
| X | open, 200, close 2024-07-15 | open, 200, close 2024-06-10 | pulled_in 200, end 200 |
| Y | open, 100, close 2024-05-30 | open, 150, close 2024-08-01 | start 100, pushed_out 100 |
| Z | won, 300, close 2024-06-15 | the same | start 300, won 300 |

start 400 (2) + pulled_in 200 (1) - pushed_out 100 (1) - won 300 (1) = end 200 (1). A third
sync of the unchanged second file stores no snapshot.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from connectors.csv_export import CsvConnector
from connectors.csv_export.settings import CsvSettings
from connectors.sync import run_sync
from kpi_engine.kpis import compute
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store

HEADER = "deal_id,stage,amount,created_at,close_date\n"


def _settings(path: Path) -> CsvSettings:
    return CsvSettings.model_validate({
        "currency": "USD",
        "deals": {"path": str(path), "columns": {
            "deal_id": "deal_id", "stage": "stage", "amount": "amount",
            "created_at": "created_at", "close_date": "close_date"},
            "won_stages": ["Won"], "lost_stages": ["Lost"]},
        "stage_probability": {"Open": 0.5},
    })


def _sync(store: Store, path: Path, text: str, at: datetime) -> None:
    path.write_text(HEADER + text, encoding="utf-8")
    result = run_sync(store, CsvConnector(_settings(path), "USD", now=at))
    assert result.status == "ok"


def test_csv_waterfall_between_pipeline_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "deals.csv"
    first = datetime(2024, 3, 20, 8, tzinfo=UTC)
    second = datetime(2024, 5, 10, 8, tzinfo=UTC)
    with Store(tmp_path / "s.duckdb") as store:
        _sync(store, path, "X,Open,200,2024-01-10,2024-07-15\nY,Open,100,2024-01-10,2024-05-30\n"
                           "Z,Won,300,2024-01-10,2024-06-15\n", first)
        changed = ("X,Open,200,2024-01-10,2024-06-10\nY,Open,150,2024-01-10,2024-08-01\n"
                   "Z,Won,300,2024-01-10,2024-06-15\n")
        _sync(store, path, changed, second)
        _sync(store, path, changed, datetime(2024, 5, 20, 8, tzinfo=UTC))
        assert store.con.execute(
            "SELECT snapshot_at, deal_id, amount, close_date FROM pipeline_snapshots "
            "ORDER BY snapshot_at, deal_id").fetchall() == [
            (first, "X", Decimal(200), date(2024, 7, 15)),
            (first, "Y", Decimal(100), date(2024, 5, 30)),
            (second, "X", Decimal(200), date(2024, 6, 10)),
            (second, "Y", Decimal(150), date(2024, 8, 1)),
        ]
        compute(store, KpiSettings(reporting_currency="USD"), grains=("quarter",),
                today=date(2024, 7, 15))
        got = dict((k.removeprefix("waterfall_"), (v, n)) for k, v, n in store.con.execute(
            "SELECT kpi, value, n FROM kpi_values WHERE grain = 'quarter' AND period_start = "
            "DATE '2024-04-01' AND dimension = 'overall' AND kpi LIKE 'waterfall_%' AND n > 0"
        ).fetchall())
    assert got == {"start": (Decimal(400), 2), "pulled_in": (Decimal(200), 1),
                   "pushed_out": (Decimal(100), 1), "won": (Decimal(300), 1),
                   "end": (Decimal(200), 1)}
