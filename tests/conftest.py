"""Fixtures every test may use (helpers live in ``tests/helpers``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.server import Sandbox
from tests.helpers.maven import maven_config, write_config


@pytest.fixture
def maven_config_file(tmp_path: Path) -> Path:
    """A partnerkpi.yaml for the Maven data set with its store in tmp_path."""
    return write_config(tmp_path / "partnerkpi.yaml", maven_config(tmp_path / "maven.duckdb"))


# -- every test that starts the CRM sandbox is marked slow -----------------------------------
# ``pytest -m "not slow"`` is the quick loop (README). A test that starts the sandbox (directly
# or through a fixture, whatever its scope) without the mark fails here, so the rule cannot rot.
_RUNNING: dict[str, Any] = {"nodeid": None, "slow": True}
_sandbox_start = Sandbox.start


def _guarded_start(self: Sandbox, *args: Any, **kwargs: Any) -> Sandbox:
    if not _RUNNING["slow"]:
        msg = f"{_RUNNING['nodeid']} starts the CRM sandbox: mark it @pytest.mark.slow"
        raise AssertionError(msg)
    return _sandbox_start(self, *args, **kwargs)


Sandbox.start = _guarded_start  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Note which test is being set up (its fixtures may start the sandbox)."""
    _RUNNING["nodeid"] = item.nodeid
    _RUNNING["slow"] = item.get_closest_marker("slow") is not None
