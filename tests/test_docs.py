"""Docs are tested: docs/kpis.md defines exactly the KPIs the engine computes."""

from __future__ import annotations

import re

from kpi_engine.kpis import KPIS
from tests.helpers.maven import ROOT

DOC = (ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")


def test_docs_kpi_sections_equal_code() -> None:
    documented = re.findall(r"^### (\w+)$", DOC, flags=re.MULTILINE)
    assert documented == [k.name for k in KPIS]


def test_docs_name_every_sql_family_file() -> None:
    files = sorted(p.stem for p in (ROOT / "kpi_engine" / "sql" / "kpis").glob("*.sql"))
    assert sorted({k.family for k in KPIS}) == files
    for stem in files:
        assert f"`{stem}.sql`" in DOC


def test_docs_sql_headers_name_their_kpis() -> None:
    for kpi in KPIS:
        header = (ROOT / "kpi_engine" / "sql" / "kpis" / f"{kpi.family}.sql").read_text()
        assert kpi.name in header


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks[0].strip() == "pip install -e . && partnerkpi demo"
    assert blocks[1].strip() == "pip install -e '.[test,spark]' && python -m pytest -q"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.findall(r"```(?:sh|bash)?\n(.*?)```", readme, flags=re.DOTALL)[1].strip()
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
