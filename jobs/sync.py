"""The jobs the CLI runs: sync the configured sources; open the configured store.

The CLI parses and prints; everything it runs lives here or in ``kpi_engine``.
"""

from __future__ import annotations

from connectors import registry
from connectors.base import Connector
from connectors.errors import ConfigError, ConnectorError
from connectors.sync import ProgressCallback, SyncResult, run_sync
from jobs.config import AppConfig
from jobs.preflight import require, source_findings
from kpi_engine.errors import StoreError
from kpi_engine.store import Store


def make_connector(config: AppConfig, name: str) -> Connector:
    """The connector of a configured source (built by its adapter, :mod:`connectors.registry`).

    Raises:
        ConfigError: the source is not configured, or not known.
    """
    adapter = registry.adapter(name)
    settings = config.source(name)
    if settings is None:
        msg = f"source {name!r} is not configured (add sources.{name} to the config)"
        raise ConfigError(msg)
    return adapter.connect(settings, config.reporting_currency)


def open_store(config: AppConfig, *, read_only: bool = False, must_exist: bool = False) -> Store:
    """Open the config's DuckDB file (created and migrated when missing, unless read-only).

    Raises:
        StoreError: read-only (or ``must_exist``) and the file does not exist yet, or the file
            is locked.
    """
    if (read_only or must_exist) and not config.database.exists():
        msg = f"no store at {config.database} yet: run partnerkpi sync first"
        raise StoreError(msg)
    return Store(
        config.database,
        read_only=read_only,
        memory_limit=config.duckdb.memory_limit,
        temp_directory=config.duckdb.temp_directory,
    )


def sync_sources(
    config: AppConfig,
    store: Store,
    *,
    source: str | None = None,
    full_refresh: bool = False,
    progress: ProgressCallback | None = None,
    allow_mass_delete: bool = False,
) -> list[SyncResult]:
    """Sync one source, or every configured source in registry order.

    Connectors are all built (and their settings checked) before the first pull, and each
    source's preflight (:mod:`jobs.preflight`: credentials, API version, every configured field,
    the API allowance) runs before any data request; every problem is named at once.

    Args:
        config: the config.
        store: the open store.
        source: one source (default: every configured one).
        full_refresh: ignore the stored watermarks and read everything again.
        progress: called after each committed page with (stream name, counts so far).
        allow_mass_delete: let a full-snapshot import flag more than its configured share of a
            stream's live rows deleted (``sync --allow-mass-delete``).

    Returns:
        One :class:`SyncResult` per source.

    Raises:
        ConfigError: no source configured, a bad source name, or the preflight's problems.
        ConnectorError: a source failed; earlier sources' results are committed.
    """
    names = [source] if source else config.source_names()
    if not names:
        msg = ("no source configured: add "
               f"{registry.either([f'sources.{n}' for n in registry.names()])}")
        raise ConfigError(msg)
    connectors = [make_connector(config, name) for name in names]
    findings = []
    for name, connector in zip(names, connectors, strict=True):
        try:
            found = source_findings(config, name, connector, ("sync",))
        except ConnectorError as exc:  # the source cannot be reached at all
            _record_failed(store, name, str(exc).splitlines()[0] if str(exc) else repr(exc))
            raise
        first = next((f.detail for f in found if f.ok is False), None)
        if first is not None:
            _record_failed(store, name, first)
        findings += found
    require(findings)
    return [run_sync(store, c, full_refresh=full_refresh, progress=progress,
                     allow_mass_delete=allow_mass_delete) for c in connectors]


def _record_failed(store: Store, source: str, error: str) -> None:
    """A sync run the preflight stopped before its first data request: recorded ``failed`` with
    the first problem, so ``status`` and ``health`` show it (nothing was read)."""
    store.finish_run(store.start_run(source), "failed", {}, error)
