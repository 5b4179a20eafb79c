"""The sync loop writes a page's rejects to the ``rejects`` table in the page's transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from connectors.bad_records import BadRecords
from connectors.base import Page, Reject, Stream
from connectors.errors import RecordError
from connectors.sync import run_sync
from kpi_engine.store import Store

OWNERS = Stream(name="owners", crm_object="User", primary_key="Id")


class Fake:
    """A connector yielding the given pages of the owners stream."""

    source = "salesforce"
    atomic = False

    def __init__(self, *pages: Page | Exception) -> None:
        self.pages = pages

    def streams(self) -> list[Stream]:
        return [OWNERS]

    def pull(self, stream: Stream, watermark: str | None,
             state: Mapping[str, str | None]) -> Iterator[Page]:
        for page in self.pages:
            if isinstance(page, Exception):
                raise page
            yield page


def owner(oid: str) -> dict[str, str]:
    return {"source": "salesforce", "owner_id": oid, "name": oid}


def test_rejects_written_with_the_run_id_and_counted(tmp_path: Path) -> None:
    page = Page({"owners": [owner("U1")]},
                rejects=[Reject("U2", "IsActive", "maybe", "'maybe' is not a boolean")])
    with Store(tmp_path / "s.duckdb") as store:
        result = run_sync(store, Fake(page))
        got = store.con.execute(
            "SELECT source, stream, record_id, field, value, reason, run_id FROM rejects"
        ).fetchall()
        owners = store.con.execute("SELECT owner_id FROM owners").fetchall()
        runs = store.con.execute("SELECT rows FROM sync_runs").fetchall()
    assert got == [("salesforce", "owners", "U2", "IsActive", "maybe", "'maybe' is not a boolean",
                    result.run_id)]
    assert owners == [("U1",)]
    assert result.streams["owners"].rejected == 1
    assert '"rejected": 1' in runs[0][0]


def test_rejects_of_a_failed_page_are_not_kept(tmp_path: Path) -> None:
    bad = Page({"owners": [{"source": "salesforce", "owner_id": None}]},
               rejects=[Reject("U3", "Name", None, "missing")])
    with Store(tmp_path / "s.duckdb") as store:
        with pytest.raises(Exception, match="owners"):
            run_sync(store, Fake(bad))
        assert store.con.execute("SELECT count(*) FROM rejects").fetchall() == [(0,)]


@pytest.mark.parametrize(
    ("policy", "kept"), [("reject", 1), ("stop", 0)], ids=["reject", "stop"]
)
def test_bad_records_policy(policy: str, kept: int) -> None:
    bad = BadRecords(policy)  # type: ignore[arg-type]
    if policy == "stop":
        with pytest.raises(RecordError, match=r"^deal 9: amount 'n/a': 'n/a' is not a number "):
            bad.add("deal", "9", "amount", "n/a", "'n/a' is not a number")
    else:
        bad.add("deal", "9", "amount", "n/a", "'n/a' is not a number")
    assert len(bad.take()) == kept
    assert bad.rejects == []


def test_store_status_lists_the_latest_rejects_per_source() -> None:
    from kpi_engine.status import REJECTS_SHOWN, rejects_query, store_status

    rejects = [Reject(f"U{i:02d}", "Name", "x", "bad") for i in range(REJECTS_SHOWN + 5)]
    with Store(":memory:") as store:
        first = run_sync(store, Fake(Page({"owners": []}, rejects=rejects[:5])))
        second = run_sync(store, Fake(Page({"owners": []}, rejects=rejects[5:])))
        status = store_status(store)
    assert status.rejects_total == {"salesforce": REJECTS_SHOWN + 5}
    assert [(r["run_id"], r["record_id"]) for r in status.rejects] == [
        (second.run_id, f"U{i:02d}") for i in range(5, REJECTS_SHOWN + 5)
    ]
    assert first.streams["owners"].rejected == 5
    assert rejects_query(run_id=second.run_id) == (
        f"SELECT * FROM rejects WHERE run_id = {second.run_id}"
    )
    assert rejects_query(source="o'brien") == (
        "SELECT * FROM rejects WHERE source = 'o''brien' ORDER BY run_id DESC"
    )
