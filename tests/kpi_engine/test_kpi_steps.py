"""The SQL steps' declarations hold: each reads only inputs and earlier steps' tables, everything
a step leaves is read later, scratch tables are dropped, and a compute leaves no temporary table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from kpi_engine import kpis
from kpi_engine.kpis import INPUTS, OUTPUT, OUTPUTS, compute, steps
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.regression import CHANNELS, GENERATE


def test_steps_read_only_inputs_and_earlier_steps() -> None:
    made: set[str] = set()
    for step in steps():
        missing = [t for t in step.reads if t not in INPUTS and t not in made]
        assert not missing, f"step {step.name} reads {missing}, which no earlier step makes"
        made.update(step.creates)


def test_steps_leave_nothing_unused() -> None:
    chain = steps()
    for i, step in enumerate(chain):
        later = {t for s in chain[i + 1 :] for t in s.reads}
        if step.grain:  # a grain step's table is also read by the next grain's earlier steps
            later |= {t for s in chain if s.grain for t in s.reads}
        unused = [t for t in step.creates if t not in later and t not in OUTPUTS]
        assert not unused, f"step {step.name} makes {unused}, which no later step reads"


def test_steps_once_before_grain_and_each_made_once() -> None:
    chain = steps()
    scopes = [s.grain for s in chain]
    assert scopes == sorted(scopes)
    made = [t for s in chain for t in (*s.creates, *s.scratch)]
    assert len(made) == len(set(made))
    assert {"facts", "open_pipeline", "wide", "result", "quality_score"} <= {s.name for s in chain}


class _Tracer:
    """Stands in for the store's connection; after each step, the temporary tables it holds."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.by_sql = {s.sql: s for s in steps()}
        self.after: list[tuple[str, set[str]]] = []

    def temporaries(self) -> set[str]:
        rows = self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()
        return {r[0] for r in rows}

    def execute(self, query: str, *args: object) -> object:
        result = self.con.execute(query, *args)
        if query in self.by_sql:
            self.after.append((self.by_sql[query].name, self.temporaries()))
        return result

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)


def test_steps_make_exactly_what_they_declare(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    store.con.execute(GENERATE)
    tracer = _Tracer(store.con)
    before = tracer.temporaries()  # the generator's own
    store.con = tracer  # type: ignore[assignment]
    compute(store, KpiSettings(channels=CHANNELS), ["month", "quarter"])
    store.con = tracer.con
    by_name = {s.name: s for s in steps()}
    params = set(kpis.PARAMETERS)
    held = params | before
    grain_steps = [s.name for s in steps() if s.grain]
    assert [n for n, _ in tracer.after] == (
        [s.name for s in steps() if not s.grain] + grain_steps + grain_steps)
    for name, tables in tracer.after:
        held |= set(by_name[name].creates)
        assert tables == held, f"after step {name}"
    assert tracer.temporaries() == before
    store.close()


def test_steps_order_refuses_a_cycle() -> None:
    a = kpis.Step("a", "", ("t2",), ("t1",))
    b = kpis.Step("b", "", ("t1",), ("t2",))
    with pytest.raises(kpis.ComputeError, match="cycle"):
        kpis._order([a, b])
