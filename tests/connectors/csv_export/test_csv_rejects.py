"""The CSV source's bad records: the same ``on_bad_record`` policy and ``rejects`` rows as the
CRM sources (connectors/bad_records.py). A phantom partner (a deal's partner id that the
partners file lacks) and an unknown owner count unattributed / unknown and are listed; a bad
cell no longer blocks the whole import unless ``on_bad_record: stop``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from kpi_engine.store import Store
from tests.helpers.maven import write_config
from tests.helpers.sync_table import stream_cells

DEALS = """id,partner,owner,stage,created,closed,amount,currency
D1,P1,U1,Won,2024-01-02,2024-02-01,100,USD
D2,P9,U1,Won,2024-01-03,2024-02-02,200,USD
D3,P1,U7,Lost,2024-01-04,2024-02-03,300,USD
D4,P2,U2,Won,2024-01-05,2024-02-04,n/a,USD
D5,P2,U2,Won,2024-01-06,2024-13-45,500,USD
D6,P2,U2,Sleeping,2024-01-07,,600,USD
D7,P2,U2,Won,2024-01-08,2024-02-06,700,Dollars
"""
PARTNERS = "id,name\nP1,Acme\nP2,Beta\n"
OWNERS = "owner,name\nU1,Ann\nU2,Bo\n"
LEADS = "id,partner,owner,created\nL1,P1,U1,2024-01-02\nL2,P8,U9,2024-01-03\n"



def _errors(result) -> str:
    """The error lines of standard error (the progress bars are there too)."""
    return "".join(line + "\n" for line in result.stderr.splitlines() if line.startswith("error"))

def _config(tmp_path: Path, **csv_settings: object) -> Path:
    for name, text in (("deals.csv", DEALS), ("partners.csv", PARTNERS),
                       ("owners.csv", OWNERS), ("leads.csv", LEADS)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return write_config(tmp_path / "c.yaml", {
        "database": str(tmp_path / "s.duckdb"),
        "sources": {"csv": {
            "deals": {"path": "deals.csv", "won_stages": ["Won"], "lost_stages": ["Lost"],
                      "columns": {"deal_id": "id", "partner_id": "partner", "owner_id": "owner",
                                  "stage": "stage", "created_at": "created",
                                  "close_date": "closed", "amount": "amount",
                                  "currency": "currency"}},
            "partners": {"path": "partners.csv", "columns": {"partner_id": "id", "name": "name"}},
            "owners": {"path": "owners.csv", "columns": {"owner_id": "owner", "name": "name"}},
            "leads": {"path": "leads.csv",
                      "columns": {"lead_id": "id", "partner_id": "partner", "owner_id": "owner",
                                  "created_at": "created"}},
            **csv_settings,
        }},
    })


def _sync(config: Path):
    return CliRunner().invoke(cli, ["--config", str(config), "sync"])


def _table(tmp_path: Path, sql: str) -> list[tuple]:
    with Store(tmp_path / "s.duckdb", read_only=True) as store:
        return store.con.execute(sql).fetchall()


EARLIER = "(nor in an earlier import)"
REJECTS = [
    ("deals", "D2", "partner", "P9", f"deals.csv:3: is not a partner_id in partners.csv {EARLIER}"),
    ("deals", "D3", "owner", "U7", f"deals.csv:4: is not an owner_id in owners.csv {EARLIER}"),
    ("deals", "D4", "amount", "n/a", "deals.csv:5: 'n/a' is not a number"),
    ("deals", "D5", "closed", "2024-13-45", "deals.csv:6: '2024-13-45' is not a date (YYYY-MM-DD)"),
    ("deals", "D6", "stage", "Sleeping", "deals.csv:7: is not a known stage; add it to "
                                         "won_stages, lost_stages or stage_probability"),
    ("deals", "D7", "currency", "Dollars", "deals.csv:8: not an ISO 4217 code such as USD"),
    ("leads", "L2", "owner", "U9", f"leads.csv:3: is not an owner_id in owners.csv {EARLIER}"),
    ("leads", "L2", "partner", "P8", f"leads.csv:3: is not a partner_id in partners.csv {EARLIER}"),
]


def test_csv_keep_counts_phantom_partner_unattributed_and_lists_every_bad_value(
    tmp_path: Path,
) -> None:
    result = _sync(_config(tmp_path))  # on_bad_record: keep is the default, as for the CRMs
    assert result.exit_code == 0, result.output
    assert ("rejected: 8 bad values (deals 6, leads 2), handled per on_bad_record; partnerkpi "
            "status lists them, and the store's rejects table has them all (SELECT * FROM "
            "rejects WHERE run_id = 1)") in result.stdout
    assert stream_cells(result.stdout, "deals")[1:7] == ['1', '6', '0', '0', '0', '6']
    assert _table(tmp_path, "SELECT stream, record_id, field, value, reason FROM rejects "
                            "ORDER BY stream, record_id, field") == REJECTS
    # D2's phantom P9 is not a partner: unattributed; D3's unknown owner: none; D4's amount and
    # D5's close date NULL (never 0, never a guess); D6 left out (won / closed would be a guess);
    # D7's amount NULL with its currency (the amount's currency is unknown)
    assert _table(tmp_path, "SELECT deal_id, partner_id, owner_id, amount, currency, close_date "
                            "IS NULL FROM deals ORDER BY deal_id") == [
        ("D1", "P1", "U1", Decimal(100), "USD", False),
        ("D2", None, "U1", Decimal(200), "USD", False),
        ("D3", "P1", None, Decimal(300), "USD", False),
        ("D4", "P2", "U2", None, "USD", False),
        ("D5", "P2", "U2", Decimal(500), "USD", True),
        ("D7", "P2", "U2", None, None, False),
    ]
    assert _table(tmp_path, "SELECT partner_id FROM partners ORDER BY 1") == [("P1",), ("P2",)]
    assert _table(tmp_path, "SELECT lead_id, partner_id, owner_id FROM leads ORDER BY 1") == [
        ("L1", "P1", "U1"), ("L2", None, None)]


def test_csv_keep_phantom_partner_counts_under_none(tmp_path: Path) -> None:
    assert _sync(_config(tmp_path)).exit_code == 0
    assert CliRunner().invoke(cli, ["--config", str(tmp_path / "c.yaml"), "compute", "--grain",
                                    "month"]).exit_code == 0
    rows = _table(tmp_path, "SELECT member, value FROM kpi_values WHERE grain = 'month' AND "
                            "period_start = DATE '2024-02-01' AND dimension = 'partner' AND "
                            "kpi = 'won_amount' ORDER BY member")
    # February: P1 D1 100 (D3 lost); P2 D4 (NULL amount) and D7 (NULL): 0; none: D2 200
    assert rows == [("P1", Decimal(100)), ("P2", Decimal(0)), ("none", Decimal(200))]


def test_csv_reject_leaves_records_out(tmp_path: Path) -> None:
    result = _sync(_config(tmp_path, on_bad_record="reject"))
    assert result.exit_code == 0, result.output
    assert _table(tmp_path, "SELECT deal_id FROM deals ORDER BY 1") == [("D1",)]
    assert _table(tmp_path, "SELECT lead_id FROM leads ORDER BY 1") == [("L1",)]
    assert _table(tmp_path, "SELECT stream, record_id, field, value, reason FROM rejects "
                            "ORDER BY stream, record_id, field") == REJECTS


@pytest.mark.parametrize(("line", "message"), [
    ("D2,P9,U1,Won,2024-01-03,2024-02-02,200,USD",
     "error: deals.csv:2: deal 'D2' column 'partner' value 'P9' is not a partner_id in "
     f"partners.csv {EARLIER} (on_bad_record: stop; set it to keep or reject to go on)"),
    ("D3,P1,U7,Lost,2024-01-04,2024-02-03,300,USD",
     "error: deals.csv:2: deal 'D3' column 'owner' value 'U7' is not an owner_id in "
     f"owners.csv {EARLIER} (on_bad_record: stop; set it to keep or reject to go on)"),
    ("D4,P2,U2,Won,2024-01-05,2024-02-04,n/a,USD",
     "error: deals.csv:2: column 'amount' value 'n/a' is not valid for amount ('n/a' is not "
     "a number); fix the cell or the column mapping (on_bad_record: stop; set it to keep or "
     "reject to go on)"),
], ids=["phantom-partner", "unknown-owner", "bad-amount"])
def test_csv_stop_names_file_line_column_value_and_writes_nothing(
    tmp_path: Path, line: str, message: str
) -> None:
    config = _config(tmp_path, on_bad_record="stop")
    (tmp_path / "deals.csv").write_text(DEALS.splitlines()[0] + "\n" + line + "\n",
                                        encoding="utf-8")
    result = _sync(config)
    assert result.exit_code == 1
    assert _errors(result) == message + "\n"
    assert _table(tmp_path, "SELECT count(*) FROM deals") == [(0,)]
    assert _table(tmp_path, "SELECT count(*) FROM partners") == [(0,)]
    assert _table(tmp_path, "SELECT count(*) FROM rejects") == [(0,)]


def test_csv_without_partners_file_partner_ids_are_not_checked(tmp_path: Path) -> None:
    config = _config(tmp_path)
    text = config.read_text(encoding="utf-8")
    data = __import__("yaml").safe_load(text)
    del data["sources"]["csv"]["partners"]
    write_config(config, data)
    assert _sync(config).exit_code == 0
    assert _table(tmp_path, "SELECT deal_id, partner_id FROM deals WHERE deal_id = 'D2'") == [
        ("D2", "P9")]
    assert ("deals", "D2", "partner") not in {r[:3] for r in _table(
        tmp_path, "SELECT stream, record_id, field FROM rejects")}


def test_csv_partner_or_owner_dropped_from_its_file_still_counts(tmp_path: Path) -> None:
    # known = what the store holds for the source (this import or an earlier one; a partner
    # flagged deleted too), plus the file: the same rule as the CRM sources
    config = _config(tmp_path)
    assert _sync(config).exit_code == 0
    (tmp_path / "partners.csv").write_text("id,name\nP1,Acme\n", encoding="utf-8")
    (tmp_path / "owners.csv").write_text("owner,name\nU1,Ann\n", encoding="utf-8")
    (tmp_path / "deals.csv").write_text(DEALS + "D8,P2,U2,Won,2024-01-09,2024-02-07,800,USD\n"
                                        "D9,P3,U3,Won,2024-01-10,2024-02-08,900,USD\n",
                                        encoding="utf-8")
    result = _sync(config)
    assert result.exit_code == 0, result.output
    # P2 is flagged deleted, U2 kept (owners are only added or updated): D4..D8 keep both;
    # only D9's P3 and U3, never seen, are unknown
    assert _table(tmp_path, "SELECT deal_id, partner_id, owner_id FROM deals "
                            "WHERE deal_id >= 'D4' ORDER BY 1") == [
        ("D4", "P2", "U2"), ("D5", "P2", "U2"), ("D7", "P2", "U2"), ("D8", "P2", "U2"),
        ("D9", None, None)]
    assert _table(tmp_path, "SELECT partner_id, is_deleted FROM partners ORDER BY 1") == [
        ("P1", False), ("P2", True)]
    assert _table(tmp_path, "SELECT owner_id FROM owners ORDER BY 1") == [("U1",), ("U2",)]
    assert _table(tmp_path, "SELECT record_id, field, value, reason FROM rejects WHERE run_id "
                            "= 2 AND value IN ('P2', 'P3', 'U2', 'U3') ORDER BY 1, 2") == [
        ("D9", "owner", "U3", "deals.csv:10: is not an owner_id in owners.csv (nor in an "
                              "earlier import)"),
        ("D9", "partner", "P3", "deals.csv:10: is not a partner_id in partners.csv (nor in an "
                                "earlier import)")]
