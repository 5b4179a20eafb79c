"""``compute --engine spark`` end to end: the ``spark:`` settings, the Spark compute, its outputs.

Reads the canonical tables Spark is given (``spark.input``: the Parquet folder ``partnerkpi
export-canonical --to`` writes, and / or tables a metastore holds), computes every KPI there
(:mod:`kpi_engine.spark_engine`), writes the wide rows (``spark.output``: a Parquet folder and / or
a metastore table) and, with ``--into-store`` (or ``spark.into_store``), copies them into the
store's ``kpi_wide`` so ``export``, ``push`` and ``report`` read them as after a DuckDB compute.

With ``spark.tenants`` (tenant name -> that tenant's own config file), the input holds every
tenant's rows with a ``tenant`` column (``export-canonical --tenant``); each tenant is computed
with its own config's KPI settings, the output has a ``tenant`` column, and ``--into-store``
copies each tenant's rows into the store its config names. Layout: ``docs/scale.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from kpi_engine.canonical import TENANT_PATTERN, load_wide
from kpi_engine.errors import ComputeError
from kpi_engine.kpis import ComputeSummary
from kpi_engine.spark_engine import (
    SparkSettings,
    compute_spark,
    compute_tenants,
    read_canonical,
    session,
)

if TYPE_CHECKING:
    from jobs.config import AppConfig

__all__ = ["SparkInput", "SparkOutput", "SparkRun", "SparkSection", "compute_on_spark"]

#: Where the rows go when ``spark.output`` names nothing (relative to the config file).
DEFAULT_OUTPUT = Path("spark-output") / "kpi_wide"


class SparkInput(BaseModel):
    """``spark.input``: where the canonical tables are.

    Attributes:
        parquet: the folder ``export-canonical --to`` wrote (relative to the config file).
        tables: canonical table name -> a metastore table (``crm.opportunities``); these win.
    """

    model_config = ConfigDict(extra="forbid")

    parquet: Path | None = None
    tables: dict[str, str] = Field(default_factory=dict)


class SparkOutput(BaseModel):
    """``spark.output``: where the wide KPI rows go (the Parquet folder is replaced).

    Attributes:
        parquet: a folder (relative to the config file; default ``spark-output/kpi_wide``).
        table: also a metastore table, replaced (``analytics.partner_kpis``).
    """

    model_config = ConfigDict(extra="forbid")

    parquet: Path = DEFAULT_OUTPUT
    table: str | None = None


class SparkSection(BaseModel):
    """``spark:``: the Spark application and what it reads and writes.

    Attributes:
        master: ``spark.master`` (``local[*]``, ``spark://host:7077``, ``yarn``, ...).
        app_name: the application's name.
        configs: more Spark settings, as text (``spark.executor.memory: 4g``).
        input: the canonical tables.
        output: the wide KPI rows.
        into_store: also copy the rows into the store(s) (as ``--into-store``).
        tenants: tenant name -> its config file (relative to this one); none: one store.
    """

    model_config = ConfigDict(extra="forbid")

    master: str = "local[*]"
    app_name: str = "partnerkpi"
    configs: dict[str, str] = Field(default_factory=dict)
    input: SparkInput = Field(default_factory=SparkInput)
    output: SparkOutput = Field(default_factory=SparkOutput)
    into_store: bool = False
    tenants: dict[str, Path] = Field(default_factory=dict)

    def settings(self) -> SparkSettings:
        """The engine's session settings."""
        return SparkSettings(self.master, self.app_name, dict(self.configs))


@dataclass
class SparkRun:
    """What ``compute --engine spark`` did.

    Attributes:
        summaries: each tenant's compute summary (key ``""`` without tenants).
        output: the Parquet folder written.
        table: the metastore table written, if any.
        into_store: the stores the rows were copied into.
        published: the reader copies refreshed after the copy (``publish:``), as a DuckDB
            compute refreshes them.
    """

    summaries: dict[str, ComputeSummary]
    output: Path
    table: str | None = None
    into_store: list[Path] = field(default_factory=list)
    published: list[Path] = field(default_factory=list)


def _resolve(config: AppConfig, path: Path) -> Path:
    base = config.path.parent if config.path is not None else Path.cwd()
    return path if path.is_absolute() else base / path


def compute_on_spark(
    config: AppConfig,
    grains: tuple[str, ...],
    *,
    as_of: date | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    into_store: bool | None = None,
) -> SparkRun:
    """Compute every KPI on Spark from the config's ``spark:`` section.

    Args:
        config: the loaded config (its ``spark:`` section; each tenant's own config is loaded).
        grains: the grains to compute.
        as_of: as ``compute --as-of``; with tenants, the same day for all.
        date_from: as ``compute --from``.
        date_to: as ``compute --to``.
        into_store: copy the rows into the store(s); None: ``spark.into_store``.

    Returns:
        A :class:`SparkRun`.

    Raises:
        ConfigError: no ``spark:`` section, no input, a bad tenant name or tenant config.
        ComputeError: as :func:`kpi_engine.spark_engine.compute_spark`.
        LockedError: ``into_store`` and a store another process holds.
    """
    from connectors.errors import ConfigError
    from jobs.config import load_config
    from jobs.publish import publish_store
    from jobs.sync import open_store

    section = config.spark
    if section is None:
        msg = "compute --engine spark needs a spark: section in the config (config.example.yaml)"
        raise ConfigError(msg)
    if section.input.parquet is None and not section.input.tables:
        msg = ("spark.input: set parquet (the folder of partnerkpi export-canonical --to) or "
               "tables (canonical name -> metastore table)")
        raise ConfigError(msg)
    bad = [t for t in section.tenants if not _tenant_ok(t)]
    if bad:
        msg = f"spark.tenants: {bad[0]!r} is not a tenant name (letters, digits, '_', '.', '-')"
        raise ConfigError(msg)
    tenants = {t: load_config(_resolve(config, p)) for t, p in section.tenants.items()}
    into = section.into_store if into_store is None else into_store
    spark = session(section.settings())
    directory = _resolve(config, section.input.parquet) if section.input.parquet else None
    tables = read_canonical(spark, directory, section.input.tables)
    options = {"as_of": as_of, "date_from": date_from, "date_to": date_to}
    if tenants:
        result = compute_tenants(spark, tables, {t: c.kpi_settings() for t, c in tenants.items()},
                                 grains, **options)
    else:
        result = compute_spark(spark, tables, config.kpi_settings(), grains, as_of=as_of,
                               date_from=date_from, date_to=date_to)
    output = _resolve(config, section.output.parquet)
    try:
        result.wide.write.mode("overwrite").parquet(str(output))
        if section.output.table:
            result.wide.write.mode("overwrite").saveAsTable(section.output.table)
    except Exception as exc:  # py4j / Spark write errors have no common class
        msg = f"Spark could not write the KPI rows: {str(exc).splitlines()[0]}"
        raise ComputeError(msg) from exc
    run = SparkRun(result.summaries, output, section.output.table)
    if into:
        targets = tenants or {"": config}
        for tenant, own in targets.items():
            with open_store(own, must_exist=True) as store:
                load_wide(store, own.kpi_settings(), output, grains, result.summaries[tenant],
                          tenant=tenant or None, date_from=date_from, date_to=date_to)
                published = publish_store(own, store)
            run.into_store.append(own.database)
            if published is not None:
                run.published.append(published.database)
    return run


def _tenant_ok(name: str) -> bool:
    import re

    return re.match(TENANT_PATTERN, name) is not None
