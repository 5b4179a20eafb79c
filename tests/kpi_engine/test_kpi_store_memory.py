"""DuckDB's memory limit and spill directory come from the config (``duckdb:``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import ConfigError
from jobs.config import load_config
from jobs.sync import open_store


def _setting(store, name: str) -> str:  # type: ignore[no-untyped-def]
    return store.con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]


def test_store_memory_limit_and_temp_directory_from_config(tmp_path: Path) -> None:
    path = tmp_path / "partnerkpi.yaml"
    path.write_text("database: s.duckdb\nduckdb:\n  memory_limit: 300MB\n  temp_directory: spill\n")
    with open_store(load_config(path)) as store:
        assert _setting(store, "memory_limit") == "286.1 MiB"
        assert _setting(store, "temp_directory") == str(tmp_path / "spill")


def test_store_memory_limit_default(tmp_path: Path) -> None:
    path = tmp_path / "partnerkpi.yaml"
    path.write_text("database: s.duckdb\n")
    with open_store(load_config(path)) as store:
        assert _setting(store, "memory_limit") == "762.9 MiB"


def test_store_memory_limit_refused_when_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "partnerkpi.yaml"
    path.write_text("database: s.duckdb\nduckdb:\n  memory_limit: lots\n")
    with pytest.raises(ConfigError, match=r"duckdb\.memory_limit"):
        load_config(path)
