"""The visual report in a real browser: headless Chromium (Debian's, driven by Playwright) opens the
file from disk with the network unused, every chart renders, nothing is logged to the console, and
the totals on the page are the store's to the last digit."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import traffic

from genai_cost.cli import main
from genai_cost.pricing import PriceCatalog
from genai_cost.reports.query import totals
from genai_cost.store import open_store

DAY, NEXT = traffic.DAY, traffic.DAY + timedelta(days=1)
SINCE = NEXT - timedelta(days=14)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The probe's flags: background networking off, or Chromium reaches for hosts this machine cannot.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report")
    store = str(directory / "spend.duckdb")
    calls = traffic.spiked(list(traffic.steady())) + [c for cs in traffic.plants().values() for c in cs]
    calls.append(traffic.Call(DAY.replace(hour=10), "<script>alert(1)</script>", "x", "gpt-4o", 10, 10))
    open_store(store).write(traffic.rows(calls, PriceCatalog()))
    output = directory / "report.html"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(
            [
                "report",
                "--store",
                store,
                "--since",
                SINCE.isoformat(),
                "--until",
                NEXT.isoformat(),
                "--format",
                "html",
                "--output",
                str(output),
            ]
        )
    assert code == 0
    return store, output


def test_report_renders_in_chromium_with_the_stores_totals(report, tmp_path):
    from playwright.sync_api import sync_playwright

    store, output = report
    expected = totals(open_store(store, create=False), (), SINCE, NEXT)[0]
    by_model = {g.keys["model"]: g.amount for g in totals(open_store(store, create=False), ("model",), SINCE, NEXT)}
    console, errors, requests = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda message: console.append((message.type, message.text)))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(output.as_uri())
        page.wait_for_load_state("load")
        charts = page.evaluate(
            """() => [...document.querySelectorAll('svg.chart')].map(svg => ({
                kind: svg.dataset.chart,
                marks: svg.querySelectorAll('[data-value]').length,
                width: svg.getBoundingClientRect().width,
                height: svg.getBoundingClientRect().height}))"""
        )
        total = float(page.get_attribute("#total", "data-value"))
        calls = int(page.get_attribute("#calls", "data-value"))
        unpriced = int(page.get_attribute("#unpriced", "data-value"))
        donut = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('svg[data-chart=donut] [data-label]')]"
            ".map(e => [e.dataset.label, Number(e.dataset.value)]))"
        )
        injected = page.evaluate("() => document.querySelectorAll('script').length")
        anomalies = int(page.get_attribute("#anomalies", "data-count"))
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("GENAI_COST_REPORT_SCREENSHOT"):  # how docs/images/report.png is made
            page.screenshot(path=os.environ["GENAI_COST_REPORT_SCREENSHOT"], full_page=False)
        browser.close()
    assert errors == [] and [m for m in console if m[0] in ("error", "warning")] == []
    assert requests == [output.as_uri()]  # the file itself and nothing else: no network at view time
    assert sorted(c["kind"] for c in charts) == ["bars-and-line", "donut", "paired-bars", "stacked-bars"]
    assert all(c["marks"] > 0 and c["width"] > 200 and c["height"] > 50 for c in charts), charts
    assert total == pytest.approx(expected.amount, rel=1e-12)
    assert (calls, unpriced) == (expected.calls, expected.unpriced_calls)
    for model, amount in sorted(by_model.items(), key=lambda kv: -(kv[1] or 0))[:5]:
        if amount:
            assert donut[model] == pytest.approx(amount, rel=1e-12)
    assert injected == 0  # a hostile project name is text, not markup
    assert anomalies >= 5
    assert shot.stat().st_size > 20_000


def test_report_file_is_self_contained(report):
    _, output = report
    text = Path(output).read_text()
    for marker in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert marker not in text.replace("http://www.w3.org/2000/svg", ""), marker
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_report_html_needs_an_output_file(report):
    store, _ = report
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", "--store", store, "--format", "html"]) == 2
    assert "--output" in err.getvalue()
