"""One exit-code table: the errors carry their codes, cli.py and the README show the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cli
from connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    FatalAPIError,
    LimitReachedError,
    RetriableAPIError,
)
from jobs.run import RunSummary
from kpi_engine.errors import ComputeError, EngineError, LockedError, StoreError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConnectorError("x"), 1), (ConfigError("x"), 1), (FatalAPIError("x"), 1),
        (AuthError("x"), 6), (RetriableAPIError("x"), 1), (EngineError("x"), 1),
        (StoreError("x"), 1), (ComputeError("x"), 1), (LockedError("x"), 3),
        (LimitReachedError("x"), 4),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_error_carries_its_exit_code(error: Exception, code: int) -> None:
    assert getattr(error, "exit_code") == code  # noqa: B009


def test_cli_constants_are_the_table() -> None:
    assert (cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_PARTIAL, cli.EXIT_LOCKED, cli.EXIT_LIMIT,
            cli.EXIT_STALE, cli.EXIT_AUTH, cli.EXIT_INTERRUPTED, cli.EXIT_TERMINATED) == (
        0, 1, 2, 3, 4, 5, 6, 130, 143)
    assert cli.LIMIT_EXIT_CODE == LimitReachedError.exit_code
    assert cli.EXIT_LOCKED == LockedError.exit_code


def test_readme_and_cli_docstring_list_the_same_codes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Exit codes"):]
    section = section[:section.index("\n\n", section.index("| exit code |"))]
    in_readme = re.findall(r"^\| ([0-9 /]+) \|", section, flags=re.MULTILINE)
    assert in_readme == ["0", "1", "2", "3", "4", "5", "6", "130 / 143"]
    doc = cli.__doc__ or ""
    in_doc = re.findall(r"^(\d+)\s{2,}", doc, flags=re.MULTILINE)
    assert in_doc == ["0", "1", "2", "3", "4", "5", "6", "130"]
    assert "143" in doc


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [("ok", None, 0), ("partial", None, 2), ("locked", LockedError("x"), 3),
     ("failed", FatalAPIError("x"), 1), ("failed", LimitReachedError("x"), 4)],
    ids=["ok", "partial", "locked", "failed", "limit"],
)
def test_run_exits_with_the_code_its_error_carries(
    status: str, error: Exception | None, code: int
) -> None:
    summary = RunSummary(status=status,
                         error_exit_code=getattr(error, "exit_code", None))
    assert summary.exit_code == code
    assert summary.to_json()["exit_code"] == code
