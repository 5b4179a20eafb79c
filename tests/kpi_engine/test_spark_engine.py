"""``compute --engine spark``: the KPI steps on Spark local mode give DuckDB's numbers.

Every cell of the wide KPI rows is compared with the store's DuckDB compute: counts, dates and
names exactly, money to the cent, ratios / days / scores to 1e-9 (tests/helpers/spark.py). The
Spark tests are ``slow`` (a JVM, local[2]); the layout, config and store-loading tests are not.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from bench.compute_kpis import GENERATE as BENCH_GENERATE
from cli import cli
from kpi_engine.canonical import EXPORTED_TABLES, export_canonical, load_wide
from kpi_engine.errors import ComputeError
from kpi_engine.kpis import ComputeSummary, compute
from kpi_engine.settings import KpiSettings, QualityScoreSettings
from kpi_engine.store import Store
from tests.helpers.history import HISTORY
from tests.helpers.maven import maven_config, write_config
from tests.helpers.regression import CHANNELS, GENERATE
from tests.helpers.spark import TEST_SPARK, needs_spark, spark_session, wide_differences

#: Partner links of tenant a: every 5th deal with a partner gets its partner as 'Sourced'
#: (primary, share 0.6) and the next partner as 'Influencer' (0.4); every 35th a role no
#: attribution.roles maps ('Mystery'), which the credit's warnings count.
LINKS = """
INSERT INTO deal_partners
SELECT source, deal_id || '-s', deal_id, partner_id, 'Sourced', NULL, true, 0.6, 'test',
       NULL, false
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE partner_id IS NOT NULL AND i % 5 = 0
UNION ALL
SELECT source, deal_id || '-i', deal_id,
       'P' || ((CAST(substr(partner_id, 2) AS BIGINT) + 1) % 6),
       CASE WHEN i % 35 = 0 THEN 'Mystery' ELSE 'Influencer' END, NULL, false, 0.4, 'test',
       NULL, false
FROM (SELECT *, CAST(substr(deal_id, 2) AS BIGINT) AS i FROM deals) d
WHERE partner_id IS NOT NULL AND i % 5 = 0;
"""

AS_OF = "2017-12-31"
SETTINGS = KpiSettings(reporting_currency="USD", channels=CHANNELS,
                       quality_score=QualityScoreSettings(
                           min_closed_deals=5, weights={"won_amount": 0.5, "deals_won": 0.5}))


def _invoke(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def _copy_wide(database: Path, target: Path) -> None:
    target.mkdir()
    con = duckdb.connect(str(database), read_only=True)
    con.execute(f"COPY kpi_wide TO '{target / 'rows.parquet'}' (FORMAT parquet)")
    con.close()


@pytest.mark.slow
def test_spark_compute_equals_duckdb_on_maven_and_copies_into_store(tmp_path: Path) -> None:
    needs_spark()
    data = maven_config(tmp_path / "s.duckdb")
    data["spark"] = {**TEST_SPARK, "input": {"parquet": "canonical"},
                     "output": {"parquet": "out/kpi_wide"}}
    config = write_config(tmp_path / "c.yaml", data)
    _invoke(config, "sync")
    duck = _invoke(config, "compute", "--as-of", AS_OF)
    _copy_wide(tmp_path / "s.duckdb", tmp_path / "duck_rows")
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    (team_wins,) = con.execute("SELECT sum(deals_won) FROM kpi_wide WHERE grain = 'year' AND "
                               "dimension = 'team' AND period_start = '2017-01-01'").fetchone()
    con.close()
    exported = _invoke(config, "export-canonical", "--to", str(tmp_path / "canonical"))
    assert exported.startswith("wrote partners 0, owners 35, stages 4, deals 8800, ")
    spark = _invoke(config, "compute", "--engine", "spark", "--as-of", AS_OF, "--into-store")
    # the same summary: deals, rows per grain, warnings; the reader copy refreshed as after
    # the DuckDB compute
    published = f"published {tmp_path / 's.published.duckdb'}"
    assert duck.splitlines()[-1] == published
    assert spark.splitlines()[:-3] == duck.splitlines()[:-1]
    assert spark.splitlines()[-3:] == [f"wrote the KPI rows to {tmp_path / 'out' / 'kpi_wide'}",
                                       f"copied them into {tmp_path / 's.duckdb'}", published]
    # Spark's rows, as written and as copied into the store, equal DuckDB's
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    con.execute(f"CREATE TEMP TABLE duck_wide AS SELECT * FROM "
                f"'{tmp_path / 'duck_rows' / 'rows.parquet'}'")
    assert wide_differences(con, "duck_wide", tmp_path / "out" / "kpi_wide") == []
    (rows,) = con.execute("SELECT count(*) FROM spark_rows").fetchone()
    assert rows == con.execute("SELECT count(*) FROM duck_wide").fetchone()[0] > 500
    con.execute("CREATE TEMP TABLE store_wide AS SELECT * FROM kpi_wide")
    assert wide_differences(con, "store_wide", tmp_path / "duck_rows") == []
    (runs,) = con.execute("SELECT count(*) FROM kpi_runs").fetchone()
    assert runs == 6  # the DuckDB compute's 3 grains and the Spark copy's 3
    con.close()
    export = _invoke(config, "export", "--grain", "year", "--dimension", "team", "--kpi",
                     "deals_won", "--period", "all")
    assert sum(int(line.split(",")[6]) for line in export.splitlines()[1:]
               if line.startswith("year,2017")) == team_wins > 4000


def _store(path: Path, generate: str) -> Store:
    store = Store(path)
    store.con.execute(generate)
    return store


@pytest.mark.slow
def test_spark_compute_equals_duckdb_on_100k_synthetic_deals(tmp_path: Path) -> None:
    needs_spark()
    from kpi_engine.spark_engine import compute_spark, read_canonical

    store = _store(tmp_path / "s.duckdb", BENCH_GENERATE.format(n=100_000))
    today = date(2025, 3, 15)
    summary = compute(store, SETTINGS, today=today)
    (live,) = store.con.execute("SELECT count(*) FROM deals WHERE NOT is_deleted").fetchone()
    assert summary.deals == live > 98_000
    export_canonical(store, tmp_path / "canonical")
    store.close()
    spark = spark_session()
    result = compute_spark(spark, read_canonical(spark, tmp_path / "canonical"), SETTINGS,
                           today=today)
    # the same summary; targets are the DuckDB compute's alone (docs/scale.md)
    assert summary.targets is not None
    assert not summary.targets.lines()
    assert result.summaries[""] == replace(summary, targets=None)
    result.wide.write.mode("overwrite").parquet(str(tmp_path / "wide"))
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    assert wide_differences(con, "kpi_wide", tmp_path / "wide") == []
    con.close()


@pytest.mark.slow
def test_spark_compute_two_tenants_each_equals_its_own_duckdb_compute(tmp_path: Path) -> None:
    """Tenant a: the regression data set (nulls, a currency without rate, instants on
    midnights) with amount / close-date history, pipeline snapshots (the waterfall) and
    partner links (the credit); tenant b: 3,000 bench deals with a fiscal year from April.
    One folder, one Spark compute; each tenant's rows equal its own store's, and its summary
    (the credit's warnings too) is its DuckDB compute's."""
    needs_spark()
    configs = {}
    duck: dict[str, list[str]] = {}
    for tenant, generate, fiscal in (("a", GENERATE, 1), ("b", BENCH_GENERATE.format(n=3000), 4)):
        folder = tmp_path / tenant
        folder.mkdir()
        store = _store(folder / "s.duckdb", generate)
        if tenant == "a":
            store.con.execute(HISTORY + LINKS)
        store.close()
        configs[tenant] = write_config(folder / "partnerkpi.yaml", {
            "database": "s.duckdb", "reporting_currency": "USD",
            "kpis": {"fiscal_year_start_month": fiscal, "channels": CHANNELS,
                     "quality_score": {"min_closed_deals": 5,
                                       "weights": {"won_amount": 0.5, "deals_won": 0.5}}}})
        duck[tenant] = [line for line in _invoke(configs[tenant], "compute", "--as-of",
                                                  "2024-07-15").splitlines()
                        if not line.startswith("published ")]
        _invoke(configs[tenant], "export-canonical", "--to", str(tmp_path / "lake"),
                "--tenant", tenant)
    assert sorted(p.name for p in (tmp_path / "lake" / "deals").iterdir()) == [
        "a.parquet", "b.parquet"]
    main = write_config(tmp_path / "spark.yaml", {"spark": {
        **TEST_SPARK, "input": {"parquet": "lake"}, "output": {"parquet": "out"},
        "tenants": {"a": "a/partnerkpi.yaml", "b": "b/partnerkpi.yaml"}}})
    printed = _invoke(main, "compute", "--engine", "spark", "--as-of", "2024-07-15")
    lines = printed.splitlines()
    b_at = lines.index("tenant b:")
    assert lines[0] == "tenant a:"
    assert lines[1:b_at] == duck["a"]
    assert lines[b_at + 1:b_at + 1 + len(duck["b"])] == duck["b"]
    assert any("attribution roles" in line for line in duck["a"])
    for tenant in ("a", "b"):
        con = duckdb.connect(str(tmp_path / tenant / "s.duckdb"), read_only=True)
        assert wide_differences(con, "kpi_wide", tmp_path / "out",
                                where=f"tenant = '{tenant}'") == []
        (n,) = con.execute("SELECT count(*) FROM spark_rows").fetchone()
        assert n == con.execute("SELECT count(*) FROM kpi_wide").fetchone()[0] > 500
        if tenant == "a":  # the waterfall moved: versions pulled in, pushed out, raised, cut
            moved = con.execute(
                "SELECT count(*) FILTER (WHERE waterfall_pulled_in > 0), count(*) FILTER "
                "(WHERE waterfall_pushed_out > 0), count(*) FILTER (WHERE waterfall_increased "
                "> 0), count(*) FILTER (WHERE waterfall_decreased > 0) FROM kpi_wide").fetchone()
            assert min(moved) > 0
        con.close()


@pytest.mark.slow
def test_read_canonical_takes_metastore_tables_by_name_over_the_parquet_folder(
    tmp_path: Path,
) -> None:
    needs_spark()
    from kpi_engine.spark_engine import read_canonical

    store = _store(tmp_path / "s.duckdb", GENERATE)
    export_canonical(store, tmp_path / "canonical")
    (won,) = store.con.execute("SELECT count(*) FROM deals WHERE is_won").fetchone()
    store.close()
    spark = spark_session()
    spark.read.parquet(str(tmp_path / "canonical" / "deals")).where("is_won") \
        .createOrReplaceGlobalTempView("crm_won_deals")
    frames = read_canonical(spark, tmp_path / "canonical", {"deals": "global_temp.crm_won_deals"})
    assert sorted(frames) == sorted(EXPORTED_TABLES)
    assert frames["deals"].count() == won < 3000
    assert frames["leads"].count() == 900
    with pytest.raises(ComputeError, match=r"spark\.input\.tables: 'opportunities' is not a "):
        read_canonical(spark, tmp_path / "canonical", {"opportunities": "x"})
    with pytest.raises(ComputeError, match="canonical table 'partners': no "):
        read_canonical(spark, tmp_path / "nothing", {"deals": "global_temp.crm_won_deals"})


@pytest.mark.slow
def test_spark_compute_refuses_a_reporting_time_zone_other_than_utc(tmp_path: Path) -> None:
    """The Spark macros bucket days in UTC: a store whose source keeps its calendar in New
    York (source_calendar), or a configured zone, is refused naming reporting_timezone,
    never computed in UTC; reporting_timezone: UTC settles it (the rows equal DuckDB's)."""
    needs_spark()
    from kpi_engine.spark_engine import compute_spark, read_canonical

    store = _store(tmp_path / "s.duckdb", GENERATE)
    store.con.execute("INSERT INTO source_calendar VALUES ('hubspot', 'America/New_York')")
    utc = KpiSettings(reporting_currency="USD", channels=CHANNELS, reporting_timezone="UTC",
                      quality_score=SETTINGS.quality_score)
    today = date(2024, 7, 15)
    compute(store, utc, ["year"], today=today)
    export_canonical(store, tmp_path / "canonical")
    store.close()
    spark = spark_session()
    tables = read_canonical(spark, tmp_path / "canonical")
    with pytest.raises(ComputeError, match=r"^reporting_timezone is America/New_York: "):
        compute_spark(spark, tables, SETTINGS, ["year"], today=today)
    berlin = KpiSettings(reporting_currency="USD", reporting_timezone="Europe/Berlin")
    with pytest.raises(ComputeError, match=r"^reporting_timezone is Europe/Berlin: "):
        compute_spark(spark, tables, berlin, ["year"], today=today)
    result = compute_spark(spark, tables, utc, ["year"], today=today)
    result.wide.write.mode("overwrite").parquet(str(tmp_path / "wide"))
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    assert wide_differences(con, "kpi_wide", tmp_path / "wide") == []
    con.close()


# ------------------------------------------------------------------ without Spark


def test_export_canonical_writes_every_table_and_refuses_mixed_layouts(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.duckdb", GENERATE)
    counts = export_canonical(store, tmp_path / "one")
    assert counts["deals"] == 3000
    assert counts["leads"] == 900
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted(EXPORTED_TABLES)
    assert {"deal_history", "pipeline_snapshots", "source_calendar", "deal_partners"} <= set(
        EXPORTED_TABLES)
    assert counts["deal_history"] == store.con.execute(
        "SELECT count(*) FROM deal_history").fetchone()[0]
    con = duckdb.connect()
    back = con.execute(f"SELECT count(*), sum(amount), count(*) FILTER (WHERE is_deleted) "
                       f"FROM '{tmp_path / 'one' / 'deals' / 'data.parquet'}'").fetchone()
    assert back == store.con.execute("SELECT count(*), sum(amount), count(*) FILTER "
                                     "(WHERE is_deleted) FROM deals").fetchone()
    with pytest.raises(ComputeError, match="holds a single store's files"):
        export_canonical(store, tmp_path / "one", tenant="acme")
    export_canonical(store, tmp_path / "many", tenant="acme")
    tenants = con.execute(f"SELECT DISTINCT tenant FROM "
                          f"'{tmp_path / 'many' / 'owners' / 'acme.parquet'}'").fetchall()
    assert tenants == [("acme",)]
    with pytest.raises(ComputeError, match="holds tenants' files"):
        export_canonical(store, tmp_path / "many")
    with pytest.raises(ComputeError, match="--tenant 'a/b': use letters"):
        export_canonical(store, tmp_path / "many", tenant="a/b")
    store.close()


def test_load_wide_replaces_the_store_rows_and_records_the_run(tmp_path: Path) -> None:
    """Rows written as Spark writes them (Parquet, kpi_wide's columns and a tenant) are what
    the store holds after load_wide, and the run is recorded."""
    store = _store(tmp_path / "s.duckdb", GENERATE)
    summary = compute(store, SETTINGS, today=date(2024, 7, 15))
    expected = store.con.execute("SELECT * EXCLUDE (computed_at) FROM kpi_wide "
                                 "ORDER BY ALL").fetchall()
    (tmp_path / "rows").mkdir()
    store.con.execute(f"COPY (SELECT 'x' AS tenant, * REPLACE "
                      f"(TIMESTAMPTZ '2024-07-15 10:00:00+00' AS computed_at) FROM kpi_wide "
                      f"UNION ALL SELECT 'y', * FROM kpi_wide "
                      f"WHERE grain = 'year') TO '{tmp_path / 'rows' / 'p.parquet'}'")
    store.con.execute("DELETE FROM kpi_wide")
    fresh = ComputeSummary(today=summary.today, as_of=summary.as_of, warnings=summary.warnings)
    load_wide(store, SETTINGS, tmp_path / "rows", ["month", "quarter", "year"], fresh, tenant="x")
    assert store.con.execute("SELECT * EXCLUDE (computed_at) FROM kpi_wide "
                             "ORDER BY ALL").fetchall() == expected
    assert fresh.rows == summary.rows
    assert store.con.execute("SELECT DISTINCT computed_at FROM kpi_wide").fetchall() == [
        (store.con.execute("SELECT TIMESTAMPTZ '2024-07-15 10:00:00+00'").fetchone()[0],)]
    (runs,) = store.con.execute("SELECT count(*) FROM kpi_runs WHERE computed_at = "
                                "TIMESTAMPTZ '2024-07-15 10:00:00+00'").fetchone()
    assert runs == 3
    with pytest.raises(ComputeError, match="no rows of tenant 'z'"):
        load_wide(store, SETTINGS, tmp_path / "rows", ["year"], fresh, tenant="z")
    store.close()


def test_wide_differences_sees_a_cent_a_ratio_digit_and_a_missing_row(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.duckdb", GENERATE)
    compute(store, SETTINGS, today=date(2024, 7, 15))
    store.close()
    (tmp_path / "rows").mkdir()
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    con.execute("CREATE TEMP TABLE w AS SELECT * FROM kpi_wide")
    con.execute(f"COPY w TO '{tmp_path / 'rows' / 'p.parquet'}'")
    assert wide_differences(con, "w", tmp_path / "rows") == []
    key = ("grain = 'month' AND dimension = 'overall' AND period_start = "
           "(SELECT min(period_start) FROM w WHERE grain = 'month' AND win_rate IS NOT NULL)")
    # within the tolerances: half a cent less a hair, a ratio's 10th digit
    con.execute(f"UPDATE w SET won_amount = won_amount + 0.0049, win_rate = win_rate + 1e-10 "
                f"WHERE {key}")
    assert wide_differences(con, "w", tmp_path / "rows") == []
    con.execute(f"UPDATE w SET won_amount = won_amount + 0.0101, win_rate = win_rate + 1e-9, "
                f"deals_won = deals_won + 1 WHERE {key}")
    gone = "grain = 'year' AND dimension = 'owner' AND member = 'U1'"
    (n,) = con.execute(f"SELECT count(*) FROM w WHERE {gone}").fetchone()
    con.execute(f"DELETE FROM w WHERE {gone}")
    found = wide_differences(con, "w", tmp_path / "rows")
    assert n > 0
    assert [line.split(":")[0].split(" e.g.")[0] for line in found] == [
        f"{n} rows only in Spark", "deals_won", "won_amount", "win_rate"]
    con.close()


def test_cli_compute_engine_spark_without_spark_section_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", maven_config(tmp_path / "s.duckdb"))
    result = CliRunner().invoke(cli, ["--config", str(config), "compute", "--engine", "spark"])
    assert result.exit_code == 1
    assert result.stderr == ("error: compute --engine spark needs a spark: section in the "
                             "config (config.example.yaml)\n")
    data = maven_config(tmp_path / "s.duckdb")
    data.update(engine="spark", spark={"master": "local[1]"})
    config = write_config(tmp_path / "d.yaml", data)
    result = CliRunner().invoke(cli, ["--config", str(config), "compute"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: spark.input: set parquet")


def test_spark_session_refuses_a_session_time_zone_other_than_utc() -> None:
    from kpi_engine.spark_engine import SparkSettings, session

    with pytest.raises(ComputeError, match=r"spark\.sql\.session\.timeZone is 'Europe/Paris'"):
        session(SparkSettings(configs={"spark.sql.session.timeZone": "Europe/Paris"}))


def test_config_example_spark_block_is_valid() -> None:
    import re

    import yaml

    from jobs.config import AppConfig

    text = (Path(__file__).resolve().parents[2] / "config.example.yaml").read_text("utf-8")
    block = re.search(r"# >>> spark.*?\n(.*?)# <<< spark", text, flags=re.DOTALL)
    assert block is not None
    body = block.group(1)
    body = body[body.index("# engine:"):]
    data = yaml.safe_load("\n".join(line.removeprefix("# ") for line in body.splitlines()))
    config = AppConfig.model_validate(data)
    assert config.engine == "duckdb"
    assert config.spark is not None
    assert config.spark.settings().configs == {"spark.sql.shuffle.partitions": "8",
                                                "spark.executor.memory": "4g"}
    assert config.spark.input.tables == {"deals": "crm.partnerkpi_deals"}
    assert sorted(config.spark.tenants) == ["acme", "globex"]


@pytest.mark.parametrize("fiscal", [1, 4, 11])
@pytest.mark.parametrize("grain", ["month", "quarter", "year"])
def test_spark_from_date_period_start_equals_the_duckdb_macro(grain: str, fiscal: int) -> None:
    """compute_spark's --from cut (the period holding the day) is DuckDB's period_start_of."""
    from kpi_engine.kpis import GRAINS
    from kpi_engine.spark_engine import _period_start

    macros = (Path(__file__).resolve().parents[2] / "kpi_engine" / "sql" / "macros"
              / "duckdb.sql").read_text("utf-8")
    con = duckdb.connect()
    con.execute("CREATE TABLE deals (source VARCHAR)")  # keyed_deals() reads it
    con.execute(macros)
    days = [date(2023, 1, 1), date(2023, 3, 31), date(2023, 4, 1), date(2024, 2, 29),
            date(2024, 10, 31), date(2024, 11, 1), date(2024, 12, 31)]
    for day in days:
        (expected,) = con.execute("SELECT period_start_of(?::DATE, ?, ?)",
                                  [day, GRAINS[grain], fiscal - 1]).fetchone()
        assert _period_start(day, grain, fiscal) == expected, day
