"""The KPI steps as text of other dialects (kpi_engine/dialects.py, ``partnerkpi sql``).

Golden files: fixtures/sql_golden/<dialect>/<step>.sql hold the text of each step (grain month,
calendar fiscal year). After changing a step or a macro, refresh them with

    PARTNERKPI_REFRESH_GOLDEN=1 python -m pytest -q tests/kpi_engine/test_sql_dialects.py

and review the diff (the golden text is what a warehouse would run).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner

import kpi_engine.kpis as kpis
from cli import cli
from kpi_engine.dialects import (
    DIALECTS,
    duckdb_macro_names,
    expand_macros,
    macros,
    render,
    transpile,
)
from kpi_engine.errors import ComputeError
from kpi_engine.kpis import steps
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.regression import CHANNELS, GENERATE

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "sql_golden"
OTHERS = [d for d in DIALECTS if d != "duckdb"]
MACRO_NAMES = duckdb_macro_names()

#: DuckDB-only syntax and DuckDB's types, none of which may reach another dialect's text
DUCKDB_ONLY = re.compile(
    r"\b(?:ASOF|query_table|EXCLUDE|generate_series|epoch_us|make_timestamp|isfinite|rowid|"
    r"BY NAME|GROUP BY ALL|TIMESTAMPTZ|MACRO|to_months|list_\w+|struct_\w+)\b|\bCOLUMNS\s*\(|"
    r"\brange\s*\(|\{'|::|//",
    re.IGNORECASE,
)
MACRO_CALL = re.compile(r"\b(" + "|".join([*MACRO_NAMES, "period_of"]) + r")\s*\(", re.I)


def _cases() -> list[tuple[str, str]]:
    return [(d, s.name) for d in DIALECTS for s in steps()]


@pytest.fixture(scope="module")
def texts() -> dict[str, dict[str, str]]:
    return {d: {s.name: text for s, text in transpile(d)} for d in DIALECTS}


@pytest.mark.parametrize(("dialect", "step"), _cases(), ids=[f"{d}-{s}" for d, s in _cases()])
def test_transpile_equals_golden_file(texts, dialect: str, step: str) -> None:  # type: ignore[no-untyped-def]
    path = GOLDEN / dialect / f"{step}.sql"
    text = texts[dialect][step]
    if os.environ.get("PARTNERKPI_REFRESH_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: refresh (see this module's docstring)"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: review, then refresh"


def test_golden_files_are_exactly_the_steps() -> None:
    expected = {f"{d}/{s.name}.sql" for d in DIALECTS for s in steps()}
    found = {f"{p.parent.name}/{p.name}" for p in GOLDEN.glob("*/*.sql")}
    assert found == expected


def _duckdb_params() -> dict[str, tuple[str, ...]]:
    text = (Path(__file__).resolve().parents[2] / "kpi_engine" / "sql" / "macros"
            / "duckdb.sql").read_text("utf-8")
    found = re.findall(r"CREATE OR REPLACE TEMP MACRO\s+(\w+)\s*\(([^)]*)\)", text)
    return {n: tuple(p.strip() for p in ps.split(",") if p.strip()) for n, ps in found}


@pytest.mark.parametrize("dialect", OTHERS)
def test_every_macro_has_a_definition_in_every_dialect(dialect: str) -> None:
    duck = _duckdb_params()
    assert set(duck) == set(MACRO_NAMES)
    assert len(MACRO_NAMES) == 13
    defined = macros(dialect)
    assert sorted(defined) == sorted(duck)
    assert {n: m.params for n, m in defined.items()} == duck
    tables = {n for n in duck if re.search(
        rf"MACRO\s+{n}\s*\([^)]*\)\s+AS\s+TABLE", _duckdb_text())}
    assert {n for n, m in defined.items() if m.table} == tables


def _duckdb_text() -> str:
    return (Path(__file__).resolve().parents[2] / "kpi_engine" / "sql" / "macros"
            / "duckdb.sql").read_text("utf-8")


@pytest.mark.parametrize("dialect", OTHERS)
def test_other_dialects_call_no_macro_and_no_duckdb_syntax(texts, dialect: str) -> None:  # type: ignore[no-untyped-def]
    bodies = "\n".join(m.body.sql(dialect=dialect) for m in macros(dialect).values())
    for step, text in texts[dialect].items():
        assert not DUCKDB_ONLY.findall(text), (dialect, step, DUCKDB_ONLY.findall(text))
        # a macro name left is a call not expanded, or the target's own function of that name
        builtin = {n for n in MACRO_NAMES if re.search(rf"\b{n}\s*\(", bodies, re.I)}
        left = {n.lower() for n in MACRO_CALL.findall(text)} - builtin
        assert not left, (dialect, step, left)
        for statement in sqlglot.parse(text, read=dialect):
            assert statement is not None


def test_spark_text_has_no_duckdb_only_function(texts) -> None:  # type: ignore[no-untyped-def]
    spark = "\n".join(texts["spark"].values())
    for word in ("unnest(", "date_trunc(", "generate_series(", "temporary table", "drop table",
                 "make_timestamp(", "epoch_us(", "asof"):
        assert word not in spark.lower(), word
    # date logic is explicit: DATE buckets, the UTC day from the instant's microseconds
    assert "TRUNC(close_date, 'MM') AS month" in texts["spark"]["attribution"]
    assert ("DATE_FROM_UNIX_DATE(CAST(FLOOR(UNIX_MICROS(d.created_at) / 86400000000) AS INT))"
            in texts["spark"]["facts"])


def test_member_rollup_expands_the_tables_columns(texts) -> None:  # type: ignore[no-untyped-def]
    text = texts["spark"]["attribution"]
    rollup = text[text.index("CREATE OR REPLACE TEMPORARY VIEW att_closed_m"):]
    rollup = rollup[:rollup.index(";")]
    assert re.findall(r"SUM\((\w+)\) AS (\w+)", rollup) == [
        ("won", "won"), ("lost", "lost"), ("closed", "closed")] * 2


def test_correlated_table_macros_become_lateral_or_unnest(texts) -> None:  # type: ignore[no-untyped-def]
    assert "CROSS JOIN LATERAL (" in texts["spark"]["periods"]
    assert "CROSS JOIN LATERAL (" in texts["snowflake"]["open_pipeline"]
    assert "CROSS JOIN UNNEST(ARRAY(\n  SELECT AS STRUCT" in texts["bigquery"]["open_pipeline"]


def test_grain_and_fiscal_year_reach_the_period_steps() -> None:
    month = {s.name: t for s, t in transpile("spark", "month")}
    quarter = {s.name: t for s, t in transpile("spark", "quarter", fiscal_year_start_month=4)}
    [(_, deal_size)] = transpile("spark", "quarter", "deal_size", 4)
    assert deal_size == quarter["deal_size"]
    assert "DIV 3 * 3 + 3" in deal_size
    assert "DIV 1 * 1 + 0" in month["deal_size"]


# The date macros of each dialect, read back into DuckDB by sqlglot and evaluated there, give
# DuckDB's own values: period starts (fiscal quarters, years), month starts, month steps. The
# values are compared as dates: read back, DATE + INTERVAL is a TIMESTAMP in DuckDB (the targets'
# own functions return DATE). sqlglot reads Spark's TRUNC(d, 'MM') back as a DuckDB extract it
# does not know, so that one case is checked in the Spark text instead (a DATE: TRUNC, not
# DATE_TRUNC, whose Spark result is a TIMESTAMP).
_DAYS = [date(2023, 1, 1), date(2023, 3, 31), date(2023, 4, 1), date(2024, 2, 29),
         date(2024, 12, 31), date(1999, 11, 15)]
_CASES = [("period_start_of", "d, 3, 3"), ("period_start_of", "d, 12, 0"),
          ("period_start_of", "d, 12, 6"), ("period_start_of", "d, 1, 0"),
          ("month_of", "d"), ("add_months", "d, -13"), ("add_months", "d, 2"),
          ("day_diff", "DATE '2024-01-31', d"), ("day_diff", "d, DATE '2023-03-01'")]


@pytest.mark.parametrize("dialect", OTHERS)
@pytest.mark.parametrize(("macro", "args"), _CASES, ids=[f"{m}({a})" for m, a in _CASES])
def test_date_macros_equal_duckdb(dialect: str, macro: str, args: str) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE deals (source VARCHAR)")  # keyed_deals() reads it
    con.execute(_duckdb_text())
    con.execute("CREATE TABLE v (d DATE)")
    con.executemany("INSERT INTO v VALUES (?)", [[d] for d in _DAYS])
    query = f"SELECT d, {macro}({args}) AS x FROM v ORDER BY d"
    expected = con.execute(query).fetchall()
    target = expand_macros(sqlglot.parse_one(query, read="duckdb"), dialect).sql(dialect=dialect)
    if (dialect, macro) == ("spark", "month_of"):
        assert target == "SELECT d, TRUNC(d, 'MM') AS x FROM v ORDER BY d NULLS LAST"
        return
    back = sqlglot.transpile(target, read=dialect, write="duckdb")[0]
    cast = "BIGINT" if macro == "day_diff" else "DATE"
    got = con.execute(f"SELECT d, CAST(x AS {cast}) FROM ({back})").fetchall()
    assert sorted(got) == expected, (target, back)
    assert len({x for _, x in expected}) > 1


def test_duckdb_text_runs_the_macro_layer_first() -> None:
    text = render("duckdb", "quarter", fiscal_year_start_month=2)
    assert text.startswith("-- The one DuckDB-only layer")
    assert "CREATE OR REPLACE TEMP MACRO period_of(d) AS period_start_of(d, 3, 1);\n" in text
    assert text.index("-- step: facts (sql/steps/facts.sql)") < text.index("-- step: result")


def test_cli_sql_prints_the_golden_text() -> None:
    result = CliRunner().invoke(cli, ["sql", "--dialect", "bigquery", "--step", "periods"])
    assert result.exit_code == 0, result.output
    golden = (GOLDEN / "bigquery" / "periods.sql").read_text("utf-8")
    assert result.output == f"-- step: periods (sql/steps/periods.sql)\n{golden}"


def test_cli_sql_unknown_step_is_a_one_line_error() -> None:
    result = CliRunner().invoke(cli, ["sql", "--step", "nope"])
    assert result.exit_code == 1
    assert result.output.startswith("error: unknown step 'nope': choose one of facts, ")


def test_transpile_refuses_an_unknown_dialect() -> None:
    with pytest.raises(ComputeError, match="unknown SQL dialect 'oracle'"):
        transpile("oracle")


def test_duckdb_text_computes_the_recorded_kpis(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # compute with each step's SQL replaced by the printed DuckDB text (sqlglot's reading and
    # writing of it): every KPI value of the regression store stays as recorded
    printed = {s.name: text for s, text in transpile("duckdb")}
    chain = [replace(s, sql=printed[s.name]) for s in steps()]
    assert any(c.sql != s.sql for c, s in zip(chain, steps(), strict=True))
    monkeypatch.setattr(kpis, "steps", lambda: chain)
    store = Store(tmp_path / "r.duckdb")
    try:
        store.con.execute(GENERATE)
        kpis.compute(store, KpiSettings(channels=CHANNELS))
        got = store.con.execute(
            "SELECT grain, CAST(period_start AS VARCHAR), dimension, member, kpi, "
            "CAST(value AS VARCHAR), CAST(n AS VARCHAR) FROM kpi_values "
            "WHERE kpi NOT LIKE 'waterfall_%'").fetchall()  # the KPIs recorded
        expected = store.con.execute(
            "SELECT grain, period_start, dimension, member, kpi, value, n "
            "FROM read_csv(?, all_varchar = true, header = true) WHERE scenario = 'plain'",
            [str(Path(__file__).resolve().parents[2] / "fixtures" / "kpi_regression"
                 / "kpi_values.csv.gz")]).fetchall()
    finally:
        store.close()
    assert len(got) == len(expected) > 10_000
    assert sorted(got, key=repr) == sorted(expected, key=repr)
