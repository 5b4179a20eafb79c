"""``export --format xlsx`` and ``--format wide-csv``: one row per period and member, a column per
KPI, values rounded by unit, read back (openpyxl, csv) and compared with ``kpi_wide``.

The expected values are ``kpi_wide``'s own, rounded here by the documented rule (counts whole,
money 2 places, ratios 0..1 4 places, days 1 place, scores 2 places; half away from zero).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.kpis import KPI_NAMES
from kpi_engine.store import Store
from tests.helpers.maven import maven_config, write_config

PLACES = {
    "deals_won": 0, "deals_lost": 0, "deals_closed": 0, "deals_created": 0,
    "won_amount": 2, "average_deal_size": 2, "median_deal_size": 2,
    "pipeline_open_count": 0, "pipeline_open_amount": 2, "pipeline_weighted_amount": 2,
    "pipeline_created_amount": 2, "pipeline_change": 2, "won_amount_share": 4, "win_rate": 4,
    "lead_conversion_rate": 4, "sales_cycle_days": 1, "sales_velocity": 2, "quality_score": 2,
    "quality_score_change": 2, "deal_success_rate": 4,
    **{f"waterfall_{bucket}": 2 for bucket in ("start", "created", "pulled_in", "increased",
                                               "decreased", "pushed_out", "lost", "won", "end")},
}
KEYS = ["grain", "period_start", "period_end", "as_of", "complete", "dimension", "member",
        "member_name"]
TODAY = date.today()  # noqa: DTZ011 - the CLI's "today" in reporting_timezone UTC, below


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wide")
    path = write_config(tmp / "partnerkpi.yaml", maven_config(tmp / "maven.duckdb"))
    for args in (["sync"], ["compute", "--as-of", "2017-11-15"]):
        assert CliRunner().invoke(cli, ["--config", str(path), *args]).exit_code == 0
    return path


def _round(value: Decimal | int | None, places: int) -> Decimal | int | None:
    if value is None:
        return None
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return int(rounded) if places == 0 else rounded


def _expected(config: Path, where: str) -> list[dict]:
    with Store(config.parent / "maven.duckdb", read_only=True) as store:
        cur = store.con.execute(
            f"SELECT * FROM kpi_wide WHERE {where} ORDER BY CASE grain WHEN 'month' THEN 1 "
            "WHEN 'quarter' THEN 2 ELSE 3 END, period_start, CASE dimension WHEN 'overall' "
            "THEN 0 WHEN 'partner' THEN 1 WHEN 'owner' THEN 2 WHEN 'team' THEN 3 WHEN 'unit' "
            "THEN 4 ELSE 5 END, member")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["complete"] = r["as_of"] == r["period_end"] and r["period_end"] <= TODAY
        for kpi, places in PLACES.items():
            r[kpi] = _round(r[kpi], places)
    return rows


def _export(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), "export", *args])
    return result.exit_code, result.stdout, result.stderr


def test_wide_export_places_cover_every_kpi() -> None:
    assert set(PLACES) == set(KPI_NAMES)


def test_wide_export_xlsx_reads_back_equal_to_kpi_wide(config: Path, tmp_path: Path) -> None:
    target = tmp_path / "kpis.xlsx"
    code, _, errs = _export(config, "--format", "xlsx", "--period", "all", "--output",
                            str(target))
    expected = _expected(config, "true")
    assert code == 0
    assert errs == f"wrote {len(expected)} rows to {target}\n"
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["kpis", "columns"]
    sheet = book["kpis"]
    header, *rows = list(sheet.iter_rows(values_only=True))
    assert list(header) == KEYS + list(KPI_NAMES)
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        cells = dict(zip(header, got, strict=True))
        for key in ("period_start", "period_end", "as_of"):
            assert isinstance(cells[key], datetime)
            assert cells[key].date() == want[key]
        assert [cells[k] for k in ("grain", "complete", "dimension", "member", "member_name")] \
            == [want[k] for k in ("grain", "complete", "dimension", "member", "member_name")]
        for kpi in KPI_NAMES:
            value = want[kpi]
            assert cells[kpi] == (None if value is None else float(value)), (want["member"], kpi)
            if PLACES[kpi] == 0 and value is not None:
                assert isinstance(cells[kpi], int)
    formats = {c.column_letter: c.number_format for c in sheet[2]}
    column = {name: openpyxl.utils.get_column_letter(i) for i, name in enumerate(header, 1)}
    assert [formats[column[k]] for k in ("period_start", "won_amount", "win_rate",
                                         "sales_cycle_days", "deals_won")] == [
        "yyyy-mm-dd", "#,##0.00", "0.00%", "0.0", "0"]
    about = list(book["columns"].iter_rows(values_only=True))
    assert about[0] == ("column", "unit", "rounding")
    assert ("win_rate", "ratio 0..1", "4 places") in about
    assert ("deals_won", "deals", "whole number") in about


def test_wide_export_csv_latest_quarter_by_owner(config: Path) -> None:
    code, out, _ = _export(config, "--format", "wide-csv", "--grain", "quarter", "--dimension",
                           "owner", "--period", "latest")
    # --as-of 2017-11-15: the latest complete quarter is Q3 2017
    expected = _expected(config, "grain = 'quarter' AND dimension = 'owner' "
                                 "AND period_start = DATE '2017-07-01'")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(expected)

    def text(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, Decimal):
            return format(v.normalize(), "f")
        return v.isoformat() if isinstance(v, date) else str(v)

    assert rows == [{k: text(r[k]) for k in KEYS + list(KPI_NAMES)} for r in expected]
    assert {r["complete"] for r in rows} == {"true"}


def test_wide_export_one_kpi_of_a_period_cut_by_as_of(config: Path) -> None:
    code, out, _ = _export(config, "--format", "wide-csv", "--grain", "quarter", "--dimension",
                           "overall", "--kpi", "win_rate", "--period", "2017-11-01")
    (want,) = _expected(config, "grain = 'quarter' AND dimension = 'overall' "
                                "AND period_start = DATE '2017-10-01'")
    assert code == 0
    assert out.splitlines() == [
        ",".join([*KEYS, "win_rate"]),
        f"quarter,2017-10-01,2018-01-01,2017-11-15,false,overall,all,All,"
        f"{format(want['win_rate'].normalize(), 'f')}",
    ]


def test_wide_export_xlsx_needs_a_file(config: Path) -> None:
    code, _, errs = _export(config, "--format", "xlsx")
    assert (code, errs) == (1, "error: xlsx needs a file: pass --output PATH\n")
