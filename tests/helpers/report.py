"""Fixtures for the report tests: the real Maven data set imported through the CSV source.

The store is built once per module through the command line (``sync``, ``compute``), from the
same config as the ``maven_config_file`` fixture (``tests.helpers.maven.maven_config``), so that the
browser tests and the data tests share one import.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from jobs.config import load_config
from kpi_engine.settings import KpiSettings
from kpi_engine.store import Store
from tests.helpers.maven import maven_config, write_config


@dataclass
class MavenStore:
    """A config file whose store holds the Maven data set, synced and computed."""

    config: Path
    database: Path
    settings: KpiSettings

    def open(self) -> Store:
        """The store, read-only."""
        return Store(self.database, read_only=True)


def build_maven_store(directory: Path) -> MavenStore:
    """Write the Maven config in ``directory`` and run ``sync`` and ``compute`` through the CLI."""
    config = write_config(directory / "partnerkpi.yaml", maven_config(directory / "maven.duckdb"))
    runner = CliRunner()
    for command in (["sync"], ["compute"]):
        result = runner.invoke(cli, ["--config", str(config), *command])
        assert result.exit_code == 0, result.output
    return MavenStore(config, directory / "maven.duckdb", load_config(config).kpi_settings())


@pytest.fixture(scope="package")
def maven_store(tmp_path_factory: pytest.TempPathFactory) -> MavenStore:
    """The Maven data set synced and computed once for all report tests."""
    return build_maven_store(tmp_path_factory.mktemp("maven"))


@pytest.fixture
def store(maven_store: MavenStore) -> Iterator[Store]:
    """The Maven store, open read-only."""
    with maven_store.open() as opened:
        yield opened
