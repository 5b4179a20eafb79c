"""The report as a user sees it: written by ``partnerkpi report`` from the real data set and
opened in headless Chromium (Debian's ``chromium`` and ``chromium-driver``; ``.ci/run`` installs
them). Selenium drives ``/usr/bin/chromedriver``, so nothing is downloaded."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from tests.helpers.report import MavenStore

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHARTS = ("chart-quality-score", "chart-win-rate", "chart-deal-size", "chart-pipeline",
          "chart-channels", "chart-waterfall", "chart-sales-cycle")
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
    size = output.stat().st_size
    assert 4_700_000 < size < 5_100_000  # plotly.js (4.8 MB) and the page
    assert result.stdout.startswith(f"wrote {output} ({size / 1e6:.1f} MB)")
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
        "const wait = () => document.querySelectorAll('.js-plotly-plot, .chart-empty').length"
        " >= 6 ? done() : setTimeout(wait, 50); wait();")


def test_report_in_chromium_renders_every_chart_and_the_leaderboard(
    browser, report_file: Path, maven_store: MavenStore, tmp_path: Path
) -> None:
    _open(browser, report_file)

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []

    charts = browser.execute_script(_CHART_STATE, list(CHARTS))
    # Maven's deals carry no lead source: the channel chart says so in one line, no frame
    channels = browser.find_element("id", "chart-channels")
    assert (channels.tag_name, channels.get_attribute("class")) == ("p", "chart-empty")
    assert channels.text == (
        "Every won deal's lead source is empty or not mapped (2,802,496 USD in channel "
        "unknown): map lead sources to channels under kpis.channels to split it.")
    for chart in charts:
        if chart["id"] == "chart-channels":
            assert (chart["found"], chart["plotted"], chart["svg"]) == (True, False, 0)
            continue
        drawn = {"found": chart["found"], "plotted": chart.get("plotted"),
                 "sized": chart.get("width", 0) > 300 and chart.get("height", 0) > 200,
                 "svg": chart.get("svg", 0) >= 1, "marks": chart.get("marks", 0) >= 1,
                 "points": bool(chart.get("traces")) and all(n > 0 for n in chart["traces"])}
        assert all(drawn.values()), (chart, drawn)
    titles = [c["title"] for c in charts]
    assert titles == [
        "Quality score by team", "Win rate over time (%)", "Average deal size over time (USD)",
        "Open deals by team at 2018-01-01 (count)", "Won amount by channel (USD)",
        "Pipeline waterfall of the quarter (USD)",
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


_FIT = """
return Array.from(document.querySelectorAll('.charts figure')).map(fig => {
  const box = fig.getBoundingClientRect();
  const plot = fig.querySelector('.js-plotly-plot');
  if (!plot) return {id: fig.querySelector('[id]').id, plot: false, box: [box.left, box.right]};
  const svg = plot.querySelector('svg.main-svg').getBoundingClientRect();
  const ticks = Array.from(plot.querySelectorAll('.xtick text, .ytick text')).map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, axis: t.closest('.xtick') ? 'x' : 'y',
            left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  });
  const rect = sel => { const e = plot.querySelector(sel); if (!e) return null;
    const r = e.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; };
  return {id: plot.id, plot: true, box: [box.left, box.right], svg: [svg.left, svg.right,
          svg.top, svg.bottom], ticks: ticks, legend: rect('.legend'),
          modebar: rect('.modebar')};
});
"""


def _settled(browser) -> None:
    """Wait until plotly's resizes are done (it debounces them by 100 ms)."""
    browser.execute_async_script("const done = arguments[arguments.length - 1];"
                                 "setTimeout(done, 300);")


def _misfits(browser) -> list[str]:
    """Every chart whose SVG or tick labels leave its box (1 px of rounding allowed)."""
    problems = []
    for chart in browser.execute_script(_FIT):
        if not chart["plot"]:
            continue
        (left, right), (s_left, s_right, s_top, s_bottom) = chart["box"], chart["svg"]
        if s_left < left - 1 or s_right > right + 1:
            problems.append(f"{chart['id']}: svg {s_left:.0f}..{s_right:.0f} in box "
                            f"{left:.0f}..{right:.0f}")
        legend, bar = chart["legend"], chart["modebar"]
        if legend and bar and bar[0] < legend[1] and legend[0] < bar[1] and bar[2] < legend[3] \
                and legend[2] < bar[3]:
            problems.append(f"{chart['id']}: the mode bar covers the legend")
        if legend and (legend[3] > s_bottom + 1 or legend[1] > s_right + 1):
            problems.append(f"{chart['id']}: the legend leaves the chart")
        for t in chart["ticks"]:
            if (t["left"] < s_left - 1 or t["right"] > s_right + 1 or t["top"] < s_top - 1
                    or t["bottom"] > s_bottom + 1):
                problems.append(f"{chart['id']}: tick {t['text']!r} cut by the chart's edge")
    return problems


@pytest.mark.parametrize("width", [1400, 800])
def test_report_in_chromium_every_chart_fits_its_box(browser, report_file: Path,
                                                      width: int) -> None:
    browser.set_window_size(width, 1000)
    _open(browser, report_file)
    _settled(browser)
    charts = browser.execute_script(_FIT)
    assert [c["id"] for c in charts if c["plot"]] == [c for c in CHARTS if c != "chart-channels"]
    columns = {round(c["box"][0]) for c in charts}
    assert len(columns) == (2 if width == 1400 else 1)  # two columns, or one on a narrow window
    assert _misfits(browser) == []
    # the window narrows with the page open: every chart follows its box
    browser.set_window_size(width - 300, 1000)
    _settled(browser)
    assert _misfits(browser) == []


def test_report_in_chromium_count_axes_have_whole_number_ticks(browser,
                                                               report_file: Path) -> None:
    browser.set_window_size(1400, 1000)
    _open(browser, report_file)
    ticks = browser.execute_script(
        "return ['chart-pipeline', 'chart-sales-cycle'].map(id => Array.from(document"
        ".getElementById(id).querySelectorAll(id === 'chart-pipeline' ? '.xtick text' : "
        "'.ytick text')).map(t => t.textContent));")
    for labels in ticks:
        assert labels, ticks
        assert all(label.replace(",", "").isdigit() for label in labels), labels
        values = [int(label.replace(",", "")) for label in labels]
        assert values == sorted(set(values)), labels  # no repeated label from a 0.5 step


@pytest.fixture(scope="module")
def month_report(maven_store: MavenStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The team report of a month (December 2017): eight month ticks on the trend charts."""
    output = tmp_path_factory.mktemp("month") / "report.html"
    result = CliRunner().invoke(cli, ["--config", str(maven_store.config), "report",
                                      "--grain", "month", "--dimension", "team", "--output",
                                      str(output)])
    assert result.exit_code == 0, result.output
    return output


def test_report_in_chromium_month_ticks_are_short_level_and_whole(
    browser, month_report: Path
) -> None:
    browser.set_window_size(800, 1000)
    _open(browser, month_report)
    _settled(browser)
    ticks = browser.execute_script(
        "return Array.from(document.querySelectorAll('#chart-win-rate .xtick text')).map(t => {"
        "const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.right,"
        " t.getAttribute('transform') || ''];});")
    assert [t[0] for t in ticks] == ["2017-05", "2017-06", "2017-07", "2017-08", "2017-09",
                                     "2017-10", "2017-11", "2017-12"]
    assert all("rotate" not in t[3] for t in ticks)  # level: eight short labels fit
    assert all(a[2] <= b[1] for a, b in pairwise(ticks))  # no overlap
    assert _misfits(browser) == []
