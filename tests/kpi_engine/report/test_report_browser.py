"""The report as a user sees it: written by ``partnerkpi report`` from the real data set and
opened in headless Chromium (Debian's ``chromium`` and ``chromium-driver``; ``.ci/run`` installs
them). Selenium drives ``/usr/bin/chromedriver``, so nothing is downloaded."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from tests.helpers.report import MavenStore

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHARTS = ("chart-quality-score", "chart-win-rate", "chart-deal-size", "chart-pipeline",
          "chart-channels", "chart-sales-cycle")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")

if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)) and os.environ.get("CI") != "true":
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver)", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")


@pytest.fixture(scope="module")
def report_file(maven_store: MavenStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's report (dimension team, latest quarter) written through the CLI."""
    output = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli, ["--config", str(maven_store.config), "report",
                                      "--dimension", "team", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {output} (4.9 MB)")
    return output


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a new profile, keeping console and network (performance) logs.

    One per module: its first page load compiles plotly.js (seconds on a busy 2-core machine).
    """
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


_CHART_STATE = """
return arguments[0].map(id => {
  const el = document.getElementById(id);
  if (!el) return {id: id, found: false};
  const box = el.getBoundingClientRect();
  const traces = (el.data || []).map(t => (t.x || []).filter(v => v !== null).length);
  return {id: id, found: true, plotted: el.classList.contains('js-plotly-plot'),
          width: box.width, height: box.height, traces: traces,
          svg: el.querySelectorAll('svg.main-svg').length,
          marks: el.querySelectorAll('.trace').length,
          title: el.closest('figure').querySelector('figcaption').textContent};
});
"""


def _open(browser, report: Path) -> None:
    browser.get_log("performance")  # drop earlier pages' entries
    browser.get_log("browser")
    browser.get(report.as_uri())
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const wait = () => document.querySelectorAll('.js-plotly-plot').length >= 6"
        " ? done() : setTimeout(wait, 50); wait();")


def test_report_in_chromium_renders_every_chart_and_the_leaderboard(
    browser, report_file: Path, maven_store: MavenStore, tmp_path: Path
) -> None:
    _open(browser, report_file)

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []

    charts = browser.execute_script(_CHART_STATE, list(CHARTS))
    for chart in charts:
        drawn = {"found": chart["found"], "plotted": chart.get("plotted"),
                 "sized": chart.get("width", 0) > 300 and chart.get("height", 0) > 200,
                 "svg": chart.get("svg", 0) >= 1, "marks": chart.get("marks", 0) >= 1,
                 "points": bool(chart.get("traces")) and all(n > 0 for n in chart["traces"])}
        assert all(drawn.values()), (chart, drawn)
    titles = [c["title"] for c in charts]
    assert titles == [
        "Quality score by team", "Win rate over time (%)", "Average deal size over time (USD)",
        "Open and weighted pipeline by team at 2018-01-01 (USD)", "Won amount by channel (USD)",
        "Sales cycle of the won deals closed in the period (days)",
    ]

    # the first row is the top quality score in kpi_values (ties broken by won amount)
    with maven_store.open() as store:
        top_name, top_score = store.con.execute(
            "SELECT q.member_name, q.value FROM kpi_values q JOIN kpi_values w "
            "USING (grain, period_start, dimension, member) "
            "WHERE q.grain = 'quarter' AND q.dimension = 'team' AND q.kpi = 'quality_score' "
            "AND w.kpi = 'won_amount' AND q.period_start = (SELECT max(period_start) "
            "FROM kpi_values WHERE grain = 'quarter') "
            "ORDER BY q.value DESC NULLS LAST, w.value DESC LIMIT 1").fetchone()
    first = browser.find_element("css selector", "#leaderboard tbody tr")
    cells = first.find_elements("css selector", "td")
    assert cells[0].text == "1"
    assert cells[1].text == top_name == "Melvin Marxen"
    score = first.find_element("css selector", 'td[data-kpi="quality_score"] .value').text
    assert Decimal(score) == top_score.quantize(Decimal("0.01")) == Decimal("91.67")
    assert "insufficient data" not in browser.find_element("id", "leaderboard").text

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, height)
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000


def test_report_in_chromium_makes_no_network_request(browser, report_file: Path) -> None:
    _open(browser, report_file)
    # hover a bar: a tooltip draws, still without fetching anything
    browser.execute_script(
        "Plotly.Fx.hover('chart-quality-score', [{curveNumber: 0, pointNumber: 0}]);")
    events = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    requests = [e["params"]["request"]["url"] for e in events
                if e["method"] == "Network.requestWillBeSent"]
    # chrome:// pages are the browser's own (its start page); data: URLs are inline
    fetched = [url for url in requests
               if not url.startswith(("chrome://", "chrome-untrusted://", "data:"))]
    assert fetched == [report_file.as_uri()]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
