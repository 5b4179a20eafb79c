"""Which way the imports go (README "How it works"): checked on the source, and by importing each
CRM folder in a fresh interpreter."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from connectors import registry

ROOT = Path(__file__).resolve().parents[2]
CRM_FOLDERS = sorted(p.parent.name for p in (ROOT / "connectors").glob("*/__init__.py"))


def _imports(path: Path) -> set[str]:
    """Every module a file imports (top level or inside functions), absolute names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


def test_registry_lists_every_crm_folder_once() -> None:
    folders = {"csv_export": "csv", "salesforce": "salesforce", "hubspot": "hubspot"}
    assert CRM_FOLDERS == sorted(folders)
    assert registry.names() == ["csv", "salesforce", "hubspot"]
    assert registry.push_names() == ["salesforce", "hubspot"]


@pytest.mark.parametrize("folder", CRM_FOLDERS)
def test_crm_folder_imports_neither_duckdb_nor_the_store_nor_the_loops(folder: str) -> None:
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"pkg = importlib.import_module('connectors.{folder}')\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "duckdb" not in loaded
    forbidden = {"jobs", "cli", "crm_sandbox", "connectors.sync", "connectors.writeback",
                 "connectors.registry"}
    # the engine's pure setting checks (a time zone's name) are shared; nothing else of it
    engine_allowed = {"kpi_engine", "kpi_engine.settings", "kpi_engine.target_settings"}
    assert {m for m in loaded if m in forbidden or _top(m) == "jobs"
            or (_top(m) == "kpi_engine" and m not in engine_allowed)} == set()


@pytest.mark.parametrize("folder", CRM_FOLDERS)
def test_crm_folder_imports_no_other_crm_folder(folder: str) -> None:
    others = {f"connectors.{f}" for f in CRM_FOLDERS if f != folder}
    found = {
        (path.name, name)
        for path in _files(f"connectors/{folder}")
        for name in _imports(path)
        if any(name == o or name.startswith(o + ".") for o in others)
    }
    assert found == set()


@pytest.mark.parametrize(
    ("package", "never"),
    [
        ("connectors", {"jobs", "cli", "crm_sandbox"}),
        ("kpi_engine", {"jobs", "cli", "connectors", "crm_sandbox"}),
        ("jobs", {"cli"}),
        ("crm_sandbox", {"jobs", "cli", "connectors", "kpi_engine"}),
    ],
    ids=["connectors", "kpi_engine", "jobs", "crm_sandbox"],
)
def test_package_never_imports(package: str, never: set[str]) -> None:
    found = {
        (str(path.relative_to(ROOT)), name)
        for path in _files(package)
        for name in _imports(path)
        if _top(name) in never
    }
    assert found == set()


def test_cli_reaches_the_connectors_only_through_jobs_and_the_registry() -> None:
    allowed = {"connectors.registry", "connectors.errors", "connectors.sync"}
    used = {n for n in _imports(ROOT / "cli.py")
            if _top(n) == "connectors" and n != "connectors" and _is_module(n)}
    assert used <= allowed


def test_every_pushing_adapter_builds_a_pusher_sharing_the_connectors_client() -> None:
    for adapter in registry.ADAPTERS:
        if adapter.writeback is None:
            continue
        connect = adapter.connect
        assert callable(getattr(connect, "pusher", None)), adapter.name


def _code_strings(path: Path) -> set[str]:
    """String constants of a file's code (docstrings left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings}


def test_no_crm_name_in_code_outside_its_folder_and_the_registry() -> None:
    files = [ROOT / "cli.py", *_files("jobs"), *_files("kpi_engine"),
             *(p for p in (ROOT / "connectors").glob("*.py") if p.name != "registry.py")]
    names = set(registry.push_names())  # "csv" is an export format's name too
    found = {(str(p.relative_to(ROOT)), s) for p in files for s in _code_strings(p)
             if s.lower() in names}
    assert found == set()
