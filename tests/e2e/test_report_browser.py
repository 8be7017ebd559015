"""The fraud model report (dashboard/report.py) in headless Chromium, opened from file:// with every
request routed and counted: nothing is fetched, the threshold explorer and the latent map draw, arrow
keys on the histogram move the numbers, which equal the engine's ThresholdSweep at the released
threshold, the decision box follows with the alerts per day at the volume typed, and the map recolours
by outcome. The pages' Export buttons download the same report for the view a link opens.

Needs Playwright and Debian's Chromium (/usr/bin/chromium); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from browser_fixtures import DIGITS, FRAUD, app, app_data_dir, browser, e2e_models, server  # noqa: F401
from dashboard.presentation import NO_ALERTS
from testkit.browser import DESKTOP, skip_reason

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")


def engine_text(point) -> dict[str, str]:
    """A SweepPoint as the explorer prints it."""
    return {"alerts": f"{point.alerts:,}", "precision": NO_ALERTS if point.precision is None else f"{point.precision:.3f}",
            "recall": f"{point.recall:.3f}", "f1": f"{point.f1:.3f}", "fpr": f"{point.fpr:.4f}",
            "cost": f"€{point.cost:,.0f}", "TP": f"TP {point.tp:,}", "FP": f"FP {point.fp:,}",
            "FN": f"FN {point.fn:,}", "TN": f"TN {point.tn:,}"}


def last_release(report, sweep) -> tuple[float, dict[str, str]]:
    """(the last threshold the explorer released, what it shows) once it shows the engine's numbers
    at that threshold. On a loaded machine a pause between key presses can release mid-way and the
    keys that follow release again; this waits for the release that matches the pointer's end."""
    deadline = time.monotonic() + 15
    while True:
        released = report.explorer.evaluate("() => window.__thresholdStats.lastSent")
        shown = report.shown()
        expected = engine_text(sweep.at(released))
        if {k: shown[k] for k in expected} == expected or time.monotonic() > deadline:
            return released, shown
        report.page.wait_for_timeout(200)


def hover_isolated_point(page, mapped, spacing: int) -> None:
    """Put the mouse on a point of the report's map with no other point within `spacing` pixels."""
    index = mapped.evaluate(f"() => window.__latentMap.isolated({spacing})")
    assert index >= 0
    at = mapped.evaluate(f"() => window.__latentMap.pixelOf({index})")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + at["x"], box["y"] + at["y"])


@pytest.fixture(scope="module")
def engine(e2e_models, app_data_dir):  # noqa: F811
    """(the model, its scored rows, the sweep) as a separate computation makes them."""
    from vae_core import registry, sources
    from vae_core.tables.fraud import FraudModel, score_dataset
    from vae_core.tables.thresholds import ThresholdSweep

    model = FraudModel.from_loaded(registry.load_model(FRAUD, e2e_models))
    scored = score_dataset(model, sources.transactions(app_data_dir / "creditcard" / "creditcard.csv"))
    return model, scored, ThresholdSweep(scored.scores, scored.labels, scored.amounts, review_fee=5.0, fraud_cost="amount")


@pytest.fixture(scope="module")
def report_file(tmp_path_factory, e2e_models, app_data_dir) -> Path:  # noqa: F811
    from dashboard.report import fraud_report_for, write_new

    target = tmp_path_factory.mktemp("report") / "report.html"
    write_new(target, fraud_report_for(FRAUD, models_dir=str(e2e_models),
                                       data=str(app_data_dir / "creditcard" / "creditcard.csv")))
    return target


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory, e2e_models, app_data_dir) -> Path:  # noqa: F811
    from dashboard.report import report_for, write_new

    target = tmp_path_factory.mktemp("report") / "digits.html"
    write_new(target, report_for(DIGITS, models_dir=str(e2e_models), data=str(app_data_dir / "mnist")))
    return target


class Report:
    """The report open in a tab, every request routed: `requests` holds each one not for a file: URL."""

    def __init__(self, browser, path: Path, components: tuple[str, ...] = ("explorer", "map")):  # noqa: F811
        self.requests: list[str] = []
        self.context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(path.as_uri())
        ready = " && ".join(f"window.__report.frames.{c} && window.__report.frames.{c}.ready" for c in components)
        self.page.wait_for_function(f"() => window.__report && {ready}", timeout=60_000)
        if "explorer" in components:
            self.explorer = self.frame("threshold explorer")
            self.explorer.wait_for_function("() => window.__thresholdStats && window.__thresholdStats.frames > 0")

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            self.requests.append(url)
            route.abort()

    def frame(self, title: str):
        """The component's frame: "threshold explorer" or "latent map"."""
        return self.page.locator({"threshold explorer": "#explorer", "latent map": "#map",
                                  "latent scrub": "#scrub"}[title]).element_handle().content_frame()

    def shown(self) -> dict[str, str]:
        return self.explorer.evaluate("() => window.__thresholdShown()")

    def decision(self) -> dict[str, str]:
        return self.page.evaluate("() => Object.fromEntries(['d-threshold', 'd-rate', 'd-per-day', 'd-sampled']"
                                  ".map(id => [id, document.getElementById(id).textContent]))")

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def report(browser, report_file):  # noqa: F811
    opened = Report(browser, report_file)
    try:
        yield opened
        assert not opened.errors, opened.errors
    finally:
        opened.close()


def test_the_file_opens_with_no_request_and_draws_both_components(report):
    report.page.locator("#map").scroll_into_view_if_needed()
    mapped = report.frame("latent map")
    mapped.wait_for_function("() => window.__latentMap.ready()", timeout=30_000)
    assert mapped.evaluate("() => window.__latentMap.count()") > 0
    assert mapped.evaluate("() => window.__latentMap.legend().names") == ["TP", "FP", "FN", "TN"]
    assert report.page.evaluate("() => document.getElementById('explorer').getBoundingClientRect().height") > 400
    report.page.wait_for_timeout(500)
    assert report.requests == []


def test_arrow_keys_move_the_numbers_which_equal_the_engines_and_the_decision_follows(report, engine):
    model, scored, sweep = engine
    before, decided = report.shown(), report.decision()
    assert before["alerts"] == f"{sweep.at(model.threshold_).alerts:,}"
    assert decided["d-threshold"] == f"{model.threshold_:.6g}"
    hist = report.page.frame_locator("#explorer").locator("#hist")
    hist.focus()
    for _ in range(40):
        hist.press("ArrowLeft")
    report.page.wait_for_function("() => window.__report.state.released > 0", timeout=10_000)
    released, shown = last_release(report, sweep)
    assert released != model.threshold_
    assert shown != before
    expected = engine_text(sweep.at(released))
    assert {k: shown[k] for k in expected} == expected
    decided = report.decision()
    assert decided["d-threshold"] == f"{released:.6g}"
    point = sweep.at(released)
    p = model.deploy_prevalence
    rate = p * point.recall + (1 - p) * point.fpr
    assert decided["d-rate"] == f"{100 * rate:,.3f}%"
    assert decided["d-per-day"] == f"{10_000 * rate:,.1f}"
    assert decided["d-sampled"].startswith(f"{point.alerts:,} of {len(scored.scores):,} rows")
    report.page.fill("#volume", "250000")
    assert report.decision()["d-per-day"] == f"{250_000 * rate:,.1f}"
    # the map follows the release: its outcome counts are the engine's at the released threshold
    from vae_core.tables.fraud_analysis import outcome_codes

    legend = report.frame("latent map").evaluate("() => window.__latentMap.legend()")
    codes = outcome_codes(np.asarray(scored.scores, np.float32), scored.labels, released)
    assert legend["counts"] == np.bincount(codes, minlength=4).tolist()
    assert report.requests == []


def test_a_mouse_drag_moves_the_numbers_while_dragging_and_the_release_sets_the_decision(report, engine):
    model, scored, sweep = engine
    hist = report.page.frame_locator("#explorer").locator("#hist")
    hist.scroll_into_view_if_needed()
    box, plot = hist.bounding_box(), report.explorer.evaluate("() => window.__thresholdPlot()")

    def at(fraction: float) -> tuple[float, float]:
        return box["x"] + plot["left"] + fraction * (plot["right"] - plot["left"]), box["y"] + (plot["top"] + plot["bottom"]) / 2

    before = report.shown()
    report.page.mouse.move(*at(0.85))
    report.page.mouse.down()
    report.page.mouse.move(*at(0.5), steps=5)
    report.explorer.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    during = report.shown()
    assert during["threshold"] != before["threshold"] and report.page.evaluate("() => window.__report.state.released") == 0
    report.page.mouse.move(*at(0.3), steps=5)
    report.page.mouse.up()
    report.page.wait_for_function("() => window.__report.state.released >= 1", timeout=10_000)
    released, shown = last_release(report, sweep)
    expected = engine_text(sweep.at(released))
    assert {k: shown[k] for k in expected} == expected and shown != before
    assert report.decision()["d-threshold"] == f"{released:.6g}"
    assert report.requests == []


def test_hovering_the_map_names_the_row_and_its_outcome(report):
    report.page.locator("#map").scroll_into_view_if_needed()
    mapped = report.frame("latent map")
    mapped.wait_for_function("() => window.__latentMap.ready()", timeout=30_000)
    hover_isolated_point(report.page, mapped, 12)
    report.page.wait_for_function("() => true")
    mapped.wait_for_function("() => window.__latentMap.tipText() !== ''", timeout=5_000)
    tip = mapped.evaluate("() => window.__latentMap.tipText()")
    assert re.search(r"row \d+ · (normal|fraud)", tip) and re.search(r"\((TP|FP|FN|TN)\)", tip), tip


def test_the_threshold_pages_export_carries_a_links_threshold_and_costs(app, browser, tmp_path, engine):  # noqa: F811
    model, scored, sweep = engine
    threshold = float(sweep.grid()[len(sweep.grid()) // 2])
    app.open(f"threshold?model={FRAUD}&threshold={threshold:.6g}&fee=9", heading="Fraud threshold")
    app.wait_drawn()
    with app.page.expect_download(timeout=120_000) as download:
        app.key("thr_export_report").get_by_role("button", name=re.compile("Export report")).click()
    target = tmp_path / "from-link.html"
    download.value.save_as(target)
    text = target.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
    assert data["decision"]["threshold"] == float(f"{threshold:.6g}")
    assert data["explorer"]["review_fee"] == 9.0 and "€9 per alert" in text
    opened = Report(browser, target)
    try:
        assert opened.decision()["d-threshold"] == f"{float(f'{threshold:.6g}'):.6g}"
        assert opened.requests == []
    finally:
        opened.close()


def test_the_latent_pages_export_carries_the_maps_selection(app, browser, tmp_path):  # noqa: F811
    import base64

    from vae_core.selection import Region

    region = Region.from_text("box:-1,-1,1,1")
    app.open(f"latent?model={FRAUD}&sel={region.to_text()}", heading="Latent space")
    app.wait_drawn()
    with app.page.expect_download(timeout=120_000) as download:
        app.key("latent_export_report").get_by_role("button", name=re.compile("Export report")).click()
    target = tmp_path / "latent.html"
    download.value.save_as(target)
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', target.read_text(encoding="utf-8"), re.S).group(1))
    assert data["map"]["legend"]["names"] == ["TP", "FP", "FN", "TN"]
    assert data["map"]["selection"] == json.loads(json.dumps(region.to_dict()))
    xy = np.frombuffer(base64.b64decode(data["map"]["blob_xy"]), np.float32).reshape(-1, 2)
    inside = int(region.contains(xy).sum())
    opened = Report(browser, target)
    try:
        opened.page.locator("#map").scroll_into_view_if_needed()
        mapped = opened.frame("latent map")
        mapped.wait_for_function("() => window.__latentMap.ready()", timeout=30_000)
        assert mapped.evaluate("() => window.__latentMap.selectionCount()") == inside
        assert opened.requests == []
    finally:
        opened.close()


def test_the_mnist_report_decodes_a_digit_and_shows_thumbnails_on_hover_with_no_request(browser, digits_file,  # noqa: F811
                                                                                         e2e_models):  # noqa: F811
    from vae_core import registry

    opened = Report(browser, digits_file, components=("map", "scrub"))
    try:
        opened.page.locator("#scrub").scroll_into_view_if_needed()
        scrub = opened.frame("latent scrub")
        scrub.wait_for_function("() => window.__scrubStats && window.__scrubStats.frames > 0", timeout=30_000)
        low, high = scrub.evaluate("""() => { const c = document.getElementById('digit'), d = c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data; let low = 255, high = 0;
            for (let i = 0; i < d.length; i += 4) { low = Math.min(low, d[i]); high = Math.max(high, d[i]); }
            return [low, high]; }""")
        model = registry.load_model(DIGITS, e2e_models).vae
        at_zero = model.decode(np.zeros((1, 2), np.float32)).reshape(-1)
        # not blank: the canvas spans the decoded digit's range of grey (z starts at 0)
        assert high - low > 20 and abs((high - low) - 255 * (at_zero.max() - at_zero.min())) < 8
        z = [0.7, -0.4]
        browser_pixels = np.array(scrub.evaluate(f"() => window.__scrubDecode({z})"))
        python_pixels = model.decode(np.array([z], np.float32)).reshape(-1)
        assert np.abs(browser_pixels - python_pixels).max() < 0.01  # float16 weights
        before = scrub.evaluate("() => window.__scrubImageHash()")
        plane = scrub.locator("#plane").bounding_box()  # in the page's coordinates
        opened.page.mouse.click(plane["x"] + plane["width"] * 0.85, plane["y"] + plane["height"] * 0.2)
        scrub.wait_for_function(f"() => window.__scrubImageHash() !== {before}", timeout=5_000)

        opened.page.locator("#map").scroll_into_view_if_needed()
        mapped = opened.frame("latent map")
        mapped.wait_for_function("() => window.__latentMap.ready() && window.__latentMap.atlasReady()", timeout=30_000)
        hover_isolated_point(opened.page, mapped, 10)
        mapped.wait_for_function("() => window.__latentMap.tipText() !== ''", timeout=5_000)
        assert all(ink > 0 for ink in mapped.evaluate("() => window.__latentMap.tipInk()"))
        assert opened.page.evaluate("() => document.querySelector('img[alt=\"prior samples\"]').naturalWidth") > 0
        assert opened.requests == [] and not opened.errors
    finally:
        opened.close()


def test_the_latent_pages_export_for_an_mnist_model(app, tmp_path):  # noqa: F811
    app.open(f"latent?model={DIGITS}", heading="Latent space")
    app.wait_drawn()
    with app.page.expect_download(timeout=120_000) as download:
        app.key("latent_export_report").get_by_role("button", name=re.compile("Export report")).click()
    target = tmp_path / "digits.html"
    download.value.save_as(target)
    text = target.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
    assert data["map"]["kind"] == "mnist" and "layers" in data["scrub"]["decoder"]
    assert f"{DIGITS}: MNIST model report" in text
