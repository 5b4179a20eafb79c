"""Spark compute helpers: a local session for tests, and the cell-by-cell comparison of a Spark
result (Parquet) with a store's ``kpi_wide``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

KEYS = ("grain", "period_start", "dimension", "member")
#: Money (DECIMAL(38, 10)) equal to the cent; ratios, days and scores (DECIMAL(18, 10)) to 1e-9.
MONEY_TOLERANCE = 0.005
RATIO_TOLERANCE = 1e-9
#: The settings of a test session: 2 cores, 4 shuffle partitions, no UI.
TEST_SPARK = {"master": "local[2]", "app_name": "partnerkpi-tests",
              "configs": {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false",
                          "spark.driver.memory": "1g"}}


def needs_spark() -> None:
    """Skip unless pyspark and Java are installed (``.ci/run`` installs both)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not Path("/usr/lib/jvm").exists():
        pytest.skip("no Java runtime for Spark")


def spark_session():  # type: ignore[no-untyped-def]
    """The test session (one per process: getOrCreate)."""
    from kpi_engine.spark_engine import SparkSettings, session

    return session(SparkSettings(**TEST_SPARK))  # type: ignore[arg-type]


def wide_differences(con, store_table: str, parquet: Path, where: str = "TRUE") -> list[str]:  # type: ignore[no-untyped-def]
    """Every difference between ``store_table`` (a DuckDB table with kpi_wide's columns) and
    the Spark rows in ``parquet``: a row only on one side, or a cell beyond its tolerance
    (money to the cent, DECIMAL(18, 10) columns to 1e-9, every other column exactly; NULL
    equals NULL only). ``computed_at`` and ``tenant`` are not compared."""
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {store_table}").fetchall()}
    con.execute(f"CREATE OR REPLACE TEMP TABLE spark_rows AS SELECT * FROM "
                f"read_parquet('{parquet}/*.parquet') WHERE {where}")
    on = " AND ".join(f"d.{k} = s.{k}" for k in KEYS)
    found = []
    for side, other in (("d", "s"), ("s", "d")):
        (n,) = con.execute(
            f"SELECT count(*) FROM {store_table} d FULL JOIN spark_rows s ON {on} "
            f"WHERE {other}.grain IS NULL").fetchone()
        if n:
            found.append(f"{n} rows only in {'the store' if side == 'd' else 'Spark'}")
    for column, kind in types.items():
        if column in (*KEYS, "computed_at"):
            continue
        if kind == "DECIMAL(38,10)":
            differ = f"abs(d.{column} - s.{column}) >= {MONEY_TOLERANCE}"
        elif kind == "DECIMAL(18,10)":
            differ = f"abs(d.{column} - s.{column}) >= {RATIO_TOLERANCE}"
        else:
            differ = "FALSE"
        row = con.execute(
            f"SELECT count(*), any_value(d.{column}), any_value(s.{column}), "
            f"any_value(d.grain || ' ' || d.period_start || ' ' || d.dimension || ' ' || d.member) "
            f"FROM {store_table} d JOIN spark_rows s ON {on} "
            f"WHERE (d.{column} IS NULL) <> (s.{column} IS NULL) OR {differ} "
            f"OR (d.{column} IS NOT NULL AND s.{column} IS NOT NULL AND "
            f"'{kind}' NOT LIKE 'DECIMAL%' AND d.{column} <> s.{column})").fetchone()
        if row[0]:
            found.append(f"{column}: {row[0]} cells differ, e.g. {row[3]}: store {row[1]}, "
                         f"Spark {row[2]}")
    return found
