"""The KPI SQL steps are portable: each statement parses as DuckDB SQL and transpiles to Spark SQL
with nothing unsupported (DuckDB-only functions live in sql/macros/duckdb.sql, called by name)."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from kpi_engine.kpis import steps

#: DuckDB-only syntax a step must leave to the macro layer.
DUCKDB_ONLY = re.compile(
    r"\b(?:ASOF|UNPIVOT|PIVOT|query_table|EXCLUDE|generate_series|unnest|epoch_us|"
    r"make_timestamp|isfinite|date_trunc|rowid|GROUP BY ALL|UNION ALL BY NAME|list_\w+|"
    r"struct_\w+|MACRO)\b|\bCOLUMNS\s*\(|\brange\s*\(|\{'|\[[^\]]*\]|::",
    re.IGNORECASE,
)


def _code(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


@pytest.mark.parametrize("step", steps(), ids=lambda s: s.name)
def test_step_transpiles_from_duckdb_to_spark(step) -> None:  # type: ignore[no-untyped-def]
    statements = [e for e in sqlglot.parse(step.sql, read="duckdb") if e is not None]
    assert statements
    for statement in statements:
        spark = statement.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
        assert spark
        sqlglot.parse_one(spark, read="spark")


@pytest.mark.parametrize("step", steps(), ids=lambda s: s.name)
def test_step_calls_no_duckdb_only_syntax(step) -> None:  # type: ignore[no-untyped-def]
    found = DUCKDB_ONLY.findall(_code(step.sql))
    assert not found, f"{step.source}: {found}: move it into sql/macros/duckdb.sql"


def test_duckdb_only_syntax_is_found_in_the_macro_layer() -> None:
    from importlib import resources

    macros = (resources.files("kpi_engine") / "sql" / "macros" / "duckdb.sql").read_text("utf-8")
    found = {m.group(0).lower().rstrip("( ") for m in DUCKDB_ONLY.finditer(_code(macros))}
    assert {"asof", "query_table", "columns", "range", "exclude", "generate_series", "unnest",
            "epoch_us", "date_trunc", "union all by name", "macro"} <= found
