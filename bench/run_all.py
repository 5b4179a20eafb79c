"""Run every benchmark at its documented default size and print one summary table.

Run by hand from the checkout: ``python bench/run_all.py [--quick] [--only NAME,...]
[--log-dir DIR]``. Each benchmark runs as its own subprocess (so each has its own peak RSS,
read from the kernel's accounting of that child) with its output shown as it runs and kept in
``DIR/<name>.log``. The table lists each figure against its goal (issue 7) with PASS / MISS;
figures without a goal are listed as ``info``. ``--quick`` runs smaller sizes and single runs
(a smoke test of the suite, minutes instead of the better part of an hour): its figures are not
the documented ones. ``--from-logs DIR`` prints the summary of an earlier run's logs again.

Figures of ``push_writeback.py`` and ``incremental_resync.py`` come from their ``--json-out``;
the others are read from their printed lines (a line that is not found reads ``?``: see the log).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

Row = tuple[str, str, str, str]  # figure, goal, measured, verdict


@dataclass
class Bench:
    """One benchmark script: its arguments (full and ``--quick``) and how to read its figures."""

    name: str
    args: list[str]
    quick: list[str]
    rows: Callable[[str, dict | None], list[Row]]
    json_out: bool = False
    extra: list[str] = field(default_factory=list)


def _num(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return float(match.group(1).replace(",", "")) if match else None


def _first(text: str, *patterns: str) -> float | None:
    """The first pattern's number found (scripts' newer output formats first)."""
    for pattern in patterns:
        value = _num(pattern, text)
        if value is not None:
            return value
    return None


def _verdict(value: float | None, goal: float) -> str:
    if value is None:
        return "?"
    return "PASS" if value <= goal else "MISS"


def _fmt(value: float | None, unit: str = "") -> str:
    return "?" if value is None else f"{value:,.2f}{unit}"


def compute_rows(out: str, _: dict | None) -> list[Row]:
    """``compute_kpis.py``: median seconds (goal 2 s at 1M deals)."""
    deals = _num(r"compute, ([\d,]+) deals", out)
    median = _num(r"median ([\d.]+) s of", out)
    size = f"{deals:,.0f}" if deals else "?"
    goal = "<= 2 s (1M deals)"
    verdict = _verdict(median, 2.0) if deals == 1_000_000 else "info"
    return [(f"KPI compute, {size} deals, 3 grains", goal, _fmt(median, " s"), verdict)]


def hubspot_rows(out: str, _: dict | None) -> list[Row]:
    """``hubspot_pull.py``: sync / bare loop ratio (goal 1.5x)."""
    ratio = _first(
        out, r"median of \d+:.*?ratio ([\d.]+)x", r"ratio connector / bare loop: ([\d.]+)"
    )
    deals = _num(r"sandbox: ([\d,]+) deals", out)
    size = f"{deals:,.0f}" if deals else "?"
    rss = _num(r"peak RSS: connector process ([\d,]+) MB", out)
    return [
        (
            f"HubSpot full sync / bare loop, {size} deals",
            "<= 1.5x",
            _fmt(ratio, "x"),
            _verdict(ratio, 1.5),
        ),
        (
            f"HubSpot full sync peak RSS (connector process), {size} deals",
            "<= 250 MB (1M deals)",
            _fmt(rss, " MB"),
            _verdict(rss, 250.0) if deals == 1_000_000 else "info",
        ),
    ]


def salesforce_rows(out: str, _: dict | None) -> list[Row]:
    """``salesforce_pull.py``: sync / bare loop ratio per path, REST and Bulk (goal 1.5x)."""
    deals = _first(out, r"sandbox: ([\d,]+) opportunities", r"\), ([\d,]+) opportunities")
    size = f"{deals:,.0f}" if deals else "?"
    paths = re.findall(r"^(rest|bulk): median of \d+:.*?ratio ([\d.]+)x", out, re.MULTILINE)
    if not paths:  # the older output: one path, "ratio sync / bare loop: X"
        ratio = _num(r"ratio sync / bare loop: ([\d.]+)", out)
        paths = [("rest" if "(REST)" in out else "bulk", str(ratio))] if ratio else []
    if not paths:
        return [(f"Salesforce full sync / bare loop, {size} opps", "<= 1.5x", "?", "?")]
    return [
        (
            f"Salesforce full sync ({path}) / bare loop, {size} opps",
            "<= 1.5x",
            _fmt(float(ratio), "x"),
            _verdict(float(ratio), 1.5),
        )
        for path, ratio in paths
    ]


def serving_rows(out: str, _: dict | None) -> list[Row]:
    """``sandbox_serving.py``: seconds to serve every deal page (no goal)."""
    rows = []
    for label, pattern in (
        ("HubSpot", r"hubspot list.*?median ([\d.]+) s"),
        ("Salesforce", r"salesforce queryAll.*?median ([\d.]+) s"),
    ):
        rows.append(
            (
                f"sandbox serving all deal pages, {label}",
                "(info)",
                _fmt(_num(pattern, out), " s"),
                "info",
            )
        )
    return rows


def push_rows(_: str, data: dict | None) -> list[Row]:
    """``push_writeback.py``: write calls of a first and a no-change push."""
    if not data:
        return [("push", "", "?", "?")]
    n, rows = data["partners"], []
    for crm, d in data["crms"].items():
        rows.append(
            (
                f"{crm} push, {n:,} partners: write calls",
                f"= {d['first_goal']}",
                f"{d['first_writes']} ({d['first_seconds']:.1f} s)",
                "PASS" if d["first_pass"] else "MISS",
            )
        )
        rows.append(
            (
                f"{crm} push again, nothing changed: write calls",
                "= 0",
                f"{d['second_writes']} ({d['second_seconds']:.2f} s)",
                "PASS" if d["second_pass"] else "MISS",
            )
        )
        if "recompute_writes" in d:
            rows.append(
                (
                    f"{crm} push after a re-compute, same data: write calls",
                    "= 0",
                    str(d["recompute_writes"]),
                    "PASS" if d["recompute_pass"] else "MISS",
                )
            )
    return rows


def resync_rows(_: str, data: dict | None) -> list[Row]:
    """``incremental_resync.py``: re-sync after 1% changes / full sync (time; calls as info)."""
    if not data:
        return [("incremental re-sync", "", "?", "?")]
    rows = []
    for crm, d in data["crms"].items():
        rows.append(
            (
                f"{crm} re-sync after {d['changed']:,} changes / full sync of {d['deals']:,}",
                "<= 3%",
                f"{d['ratio']:.1%} ({d['resync_seconds']:.2f} / {d['full_seconds']:.1f} s)",
                "PASS" if d["pass"] else "MISS",
            )
        )
        rows.append(
            (
                f"{crm} re-sync / full sync, API calls",
                "(info)",
                f"{d['resync_calls'] / d['full_calls']:.1%} "
                f"({d['resync_calls']} / {d['full_calls']})",
                "info",
            )
        )
    return rows


BENCHES = [
    Bench(
        "compute_kpis",
        ["--deals", "1000000", "--runs", "3"],
        ["--deals", "100000", "--runs", "1"],
        compute_rows,
    ),
    Bench(
        "hubspot_pull",
        ["--deals", "50000", "--runs", "3"],
        ["--deals", "10000", "--runs", "1"],
        hubspot_rows,
    ),
    Bench(
        "salesforce_pull",
        ["--deals", "100000", "--runs", "3"],
        ["--deals", "20000", "--runs", "1"],
        salesforce_rows,
    ),
    Bench(
        "sandbox_serving",
        ["--deals", "50000", "--runs", "3"],
        ["--deals", "10000", "--runs", "1"],
        serving_rows,
    ),
    Bench(
        "push_writeback",
        ["--partners", "10000", "--runs", "3"],
        ["--partners", "2000", "--runs", "1"],
        push_rows,
        json_out=True,
    ),
    Bench(
        "incremental_resync",
        ["--deals", "50000", "--runs", "3"],
        ["--deals", "10000", "--runs", "1"],
        resync_rows,
        json_out=True,
    ),
]


def run_one(bench: Bench, quick: bool, log_dir: Path) -> tuple[list[Row], float, float, int]:
    """Run one benchmark; returns its rows, wall seconds, the child's peak RSS (MB), exit code."""
    cmd = [sys.executable, str(HERE / f"{bench.name}.py"), *(bench.quick if quick else bench.args)]
    json_path = log_dir / f"{bench.name}.json"
    if bench.json_out:
        json_path.unlink(missing_ok=True)
        cmd += ["--json-out", str(json_path)]
    print(f"\n=== {bench.name}: {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    lines = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE.parent
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    out = "".join(lines)
    (log_dir / f"{bench.name}.log").write_text(out, encoding="utf-8")
    data = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else None
    rows = (
        bench.rows(out, data)
        if proc.returncode == 0
        else [(bench.name, "", f"failed (exit {proc.returncode})", "FAIL")]
    )
    return rows, seconds, usage.ru_maxrss / 1024, proc.returncode


def summary_from_logs(chosen: list[Bench], log_dir: Path) -> list[Row]:
    """The summary rows of the logs (and JSON figures) an earlier run left in ``log_dir``."""
    table: list[Row] = []
    for bench in chosen:
        log, js = log_dir / f"{bench.name}.log", log_dir / f"{bench.name}.json"
        if not log.exists():
            continue
        data = json.loads(js.read_text(encoding="utf-8")) if js.exists() else None
        table += bench.rows(log.read_text(encoding="utf-8"), data)
    return table


def print_table(table: list[Row]) -> None:
    """The summary table: figure, goal, measured, result."""
    if not table:
        print("(no figures)")
        return
    width = max(len(r[0]) for r in table)
    print(f"{'figure':<{width}}  {'goal':<18} {'measured':<26} result")
    for figure, goal, measured, verdict in table:
        print(f"{figure:<{width}}  {goal:<18} {measured:<26} {verdict}")


def main() -> None:
    """Run the selected benchmarks one after the other, then print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument(
        "--only", help="comma-separated names: " + ", ".join(b.name for b in BENCHES)
    )
    parser.add_argument("--log-dir", type=Path, help="keep each benchmark's output here")
    parser.add_argument(
        "--from-logs", type=Path, metavar="DIR", help="print the summary of an earlier run's logs"
    )
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    if args.from_logs:
        print_table(summary_from_logs(chosen, args.from_logs))
        return
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="partnerkpi-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    table: list[Row] = []
    runs = []
    for bench in chosen:
        rows, seconds, rss, code = run_one(bench, args.quick, log_dir)
        table += rows
        runs.append((bench.name, seconds, rss, code))
    load_after = os.getloadavg()
    print(
        f"\n=== summary ({'--quick sizes' if args.quick else 'documented sizes'}; "
        f"{os.cpu_count()} CPUs; load average before {load_before[0]:.1f}, after "
        f"{load_after[0]:.1f}; logs in {log_dir})"
    )
    print_table(table)
    print(
        "\nbenchmark            wall s   peak RSS MB  exit   (RSS of the benchmark's own process; "
        "a sandbox in a process of its own is in the script's output)"
    )
    for name, seconds, rss, code in runs:
        print(f"{name:<20} {seconds:7.1f}   {rss:11,.0f}  {code}")
    sys.exit(1 if any(code for *_, code in runs) else 0)


if __name__ == "__main__":
    main()
