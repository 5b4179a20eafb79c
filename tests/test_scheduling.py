"""docs/scheduling.md and its examples: the cron line runs as written, the GitHub Actions workflow
is what the page says and every partnerkpi command in it parses, and the Dagster / Airflow
examples call names the library has."""

from __future__ import annotations

import ast
import csv
import importlib
import inspect
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import cli
from tests.helpers.maven import MAVEN, ROOT, maven_config, write_config

DOCS = ROOT / "docs"
WORKFLOW = DOCS / "examples" / "partnerkpi.yml"
EXAMPLES = [DOCS / "examples" / "dagster_partnerkpi.py",
            DOCS / "examples" / "airflow_partnerkpi.py"]
RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _check_cron(expr: str) -> list[str]:
    """The five fields of a cron expression; fails unless each item is in its field's range."""
    fields = expr.split()
    assert len(fields) == 5, expr
    for field, (low, high) in zip(fields, RANGES, strict=True):
        for item in field.split(","):
            m = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", item)
            assert m, (expr, item)
            if m.group(2):
                first, last = int(m.group(2)), int(m.group(3) or m.group(2))
                assert low <= first <= last <= high, (expr, item)
            if m.group(4):
                assert int(m.group(4)) >= 1, (expr, item)
    return fields


def _cron_lines() -> list[str]:
    text = (DOCS / "scheduling.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```cron\n(.*?)```", text, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _commands(script: str) -> list[list[str]]:
    """Each ``partnerkpi ...`` command of a shell script, as its arguments after the program."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r"\|\||&&|\||;|>>|>", line):
            words = shlex.split(part)
            start = next((i for i, w in enumerate(words) if "=" not in w), None)  # VAR=x cmd
            if start is not None and Path(words[start]).name == "partnerkpi":
                found.append(words[start + 1:])
    return found


def _check_command(args: list[str]) -> None:
    """The subcommand's --help works and names every option the command passes."""
    rest = list(args)
    if rest[:1] == ["--config"]:
        rest = rest[2:]
    sub, options = rest[0], [a for a in rest[1:] if a.startswith("--")]
    result = CliRunner().invoke(cli, [sub, "--help"])
    assert result.exit_code == 0, (args, result.output)
    for option in options:
        assert option in result.output, (args, option)


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_scheduling_cron_lines_parse_at_odd_minutes() -> None:
    lines = _cron_lines()
    assert len(lines) == 2
    for line in lines:
        minute = _check_cron(" ".join(line.split()[:5]))[0]
        assert int(minute) % 2 == 1
        for command in _commands(" ".join(line.split()[5:])):
            _check_command(command)


@pytest.mark.slow
def test_scheduling_cron_line_runs_as_written(tmp_path: Path) -> None:
    line = _cron_lines()[0]
    folder = tmp_path / "srv" / "partnerkpi"
    (folder / ".venv").mkdir(parents=True)
    (folder / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    write_config(folder / "partnerkpi.yaml", maven_config(folder / "maven.duckdb"))
    command = " ".join(line.split()[5:]).replace("/srv/partnerkpi", str(folder))
    # cron's bare environment: no virtualenv on PATH, no PYTHONPATH
    proc = subprocess.run(["/bin/sh", "-c", command], env={"PATH": "/usr/bin:/bin",
                          "HOME": str(tmp_path)}, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    log = (folder / "run.log").read_text(encoding="utf-8")
    summary = json.loads(log[log.index("{"):])  # progress lines go to the log first
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as f:
        deals = sum(1 for _ in csv.DictReader(f))
    assert (summary["status"], summary["exit_code"]) == ("ok", 0)
    assert summary["compute"]["deals"] == deals
    assert summary["published"]["database"] == str(folder / "maven.published.duckdb")


def test_scheduling_workflow_schedule_concurrency_and_store() -> None:
    data = _workflow()
    on = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "workflow_dispatch" in on
    (schedule,) = on["schedule"]
    minute = _check_cron(schedule["cron"])[0]
    assert int(minute) % 2 == 1
    assert data["concurrency"] == {"group": "partnerkpi", "cancel-in-progress": False}
    steps = [s for job in data["jobs"].values() for s in job["steps"]]
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert {"actions/cache/restore", "actions/cache/save", "actions/upload-artifact"} <= set(uses)
    saves = [s for s in steps if s.get("uses", "").startswith("actions/cache/save")]
    assert [s.get("if") for s in saves] == ["always()"]
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore"))
    assert restore["with"]["path"] == saves[0]["with"]["path"] == "store"


def test_scheduling_workflow_commands_parse() -> None:
    steps = [s for job in _workflow()["jobs"].values() for s in job["steps"]]
    commands = [c for s in steps if "run" in s for c in _commands(s["run"])]
    assert [c[2] for c in commands] == ["run", "health"]
    for command in commands:
        _check_command(command)
    run_step = next(s for s in steps if "run" in s and " run " in s["run"])
    assert run_step["shell"] == "bash"  # -o pipefail: tee keeps run's exit code


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_scheduling_examples_call_the_library(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                "jobs", "kpi_engine", "connectors"):
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                ours[alias.asname or alias.name] = getattr(module, alias.name)
    assert set(ours) == {"load_config", "run_job"}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id in ours]
    assert {c.func.id for c in calls} == set(ours)  # type: ignore[attr-defined]
    for call in calls:
        params = inspect.signature(ours[call.func.id]).parameters  # type: ignore[attr-defined]
        assert {k.arg for k in call.keywords} <= set(params)
    summary_fields = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                      and isinstance(n.value, ast.Name) and n.value.id == "summary"}
    from jobs.run import RunSummary

    assert summary_fields <= set(dir(RunSummary)) | set(RunSummary.__dataclass_fields__)
    crons = re.findall(r'(?:cron_schedule|schedule)="([^"]+)"', path.read_text(encoding="utf-8"))
    assert crons == ["17 2 * * *"]
    _check_cron(crons[0])
