"""The tests mirror the packages and share helpers only through ``tests/helpers``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.maven import ROOT

TESTS = ROOT / "tests"
TEST_FILES = sorted(p for p in TESTS.rglob("*.py") if "helpers" not in p.relative_to(TESTS).parts)


def _test_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                "tests")):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tests")}
    return found


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_layout_tests_import_only_the_shared_helpers(path: Path) -> None:
    assert {m for m in _test_imports(path) if not m.startswith("tests.helpers")} == set()


def test_layout_test_folders_mirror_the_packages() -> None:
    top = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name not in ("helpers",)
           and not p.name.startswith((".", "__"))}
    assert top <= {"connectors", "kpi_engine", "jobs", "crm_sandbox"}
    crm_tests = {p.name for p in (TESTS / "connectors").iterdir() if p.is_dir()
                 and not p.name.startswith("__")}
    assert crm_tests <= {p.name for p in (ROOT / "connectors").iterdir() if p.is_dir()}
