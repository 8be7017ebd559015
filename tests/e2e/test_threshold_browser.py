"""The Fraud threshold explorer in headless Chromium on `streamlit run app.py`: dragging the threshold
changes the counts and metrics while the pointer moves, with no script run and nothing sent to the
server; the release runs the script once, and the server's numbers then equal the browser's and the
engine's ThresholdSweep at the released threshold. Arrow keys step the threshold; the link and the
downloaded settings carry the released value.

Needs Playwright and Debian's Chromium (/usr/bin/chromium); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import re

import pytest

from browser_fixtures import FRAUD, app, app_data_dir, browser, e2e_models, server  # noqa: F401
from testkit.browser import skip_reason
from dashboard.presentation import NO_ALERTS
from testkit.threshold import Explorer

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

SERVER_METRICS = {"alerts": "Alerts", "precision": "Precision", "recall": "Recall", "f1": "F1",
                  "fpr": "False-positive rate", "cost": "Total cost"}


@pytest.fixture(scope="module")
def engine_sweep(e2e_models, app_data_dir):  # noqa: F811
    """The engine's sweep over the rows the page scores (the fraud model's held-out test split), as a
    separate process computes it: no shared cache with the server."""
    from vae_core import registry, sources
    from vae_core.tables.fraud import FraudModel, score_dataset
    from vae_core.tables.thresholds import ThresholdSweep

    model = FraudModel.from_loaded(registry.load_model(FRAUD, e2e_models))
    scored = score_dataset(model, sources.transactions(app_data_dir / "creditcard" / "creditcard.csv"))
    return ThresholdSweep(scored.scores, scored.labels, scored.amounts, review_fee=5.0, fraud_cost="amount")


def open_explorer(app) -> Explorer:
    app.open("threshold", heading="Fraud threshold")
    if not app.picked("_pick_fraud").startswith(f"{FRAUD} "):
        app.choose("_pick_fraud", re.compile(f"^{re.escape(FRAUD)} "))
    app.wait_drawn()
    return Explorer(app)


def engine_text(point) -> dict[str, str]:
    """A SweepPoint as the page prints it."""
    return {"alerts": f"{point.alerts:,}", "precision": NO_ALERTS if point.precision is None else f"{point.precision:.3f}",
            "recall": f"{point.recall:.3f}", "f1": f"{point.f1:.3f}", "fpr": f"{point.fpr:.4f}",
            "cost": f"€{point.cost:,.0f}", "TP": f"TP {point.tp:,}", "FP": f"FP {point.fp:,}",
            "FN": f"FN {point.fn:,}", "TN": f"TN {point.tn:,}"}


def test_drag_counts_change_without_a_rerun_and_the_release_agrees_with_the_engine(app, engine_sweep):
    explorer = open_explorer(app)
    before = explorer.shown()
    server_before = app.metric("Alerts")
    assert before["alerts"] == server_before
    explorer.count_runs()
    sent_before, renders_before = len(explorer.sent), explorer.stats()["renders"]

    during = explorer.drag(0.85, 0.2, steps=24)  # leftwards: a lower threshold flags more rows
    alerts = [int(s["alerts"].replace(",", "")) for s in during]
    assert len(set(alerts)) >= 8, alerts  # the counts followed the pointer
    assert alerts == sorted(alerts)  # and only grew as the threshold fell
    assert all(int(s["TP"].split()[1]) + int(s["FP"].split()[1]) == a for s, a in zip(during, alerts))
    assert explorer.runs() == 0 and len(explorer.sent) == sent_before  # no rerun, nothing sent
    assert explorer.stats()["renders"] == renders_before
    assert app.metric("Alerts") == server_before  # the server has heard nothing yet
    at_release = explorer.shown()

    explorer.release()
    app.page.wait_for_function("() => window.__scriptRuns >= 1")
    app.wait_drawn()
    assert explorer.runs() == 1  # the release costs exactly one script run
    released = explorer.last_sent()
    assert released == float(app.query()["threshold"]) and app.query()["strategy"] == "manual"
    assert f"Threshold in force: {released:.6g}" in app.text().replace("*", "")
    assert explorer.shown() == at_release  # the server's reply changed nothing the browser showed
    server = {key: app.metric(label) for key, label in SERVER_METRICS.items()}
    assert server == {key: at_release[key] for key in SERVER_METRICS}
    engine = engine_text(engine_sweep.at(released))
    assert {key: at_release[key] for key in engine} == engine  # equal to the engine, digit for digit


def test_arrow_keys_step_the_threshold_and_apply_after_a_pause(app, engine_sweep):
    explorer = open_explorer(app)
    explorer.canvas.focus()
    explorer.count_runs()
    start = explorer.shown()
    for _ in range(5):
        app.page.keyboard.press("Shift+ArrowLeft")  # ten stops down each time
    explorer.next_frame()
    moved = explorer.shown()
    assert int(moved["alerts"].replace(",", "")) >= int(start["alerts"].replace(",", ""))
    assert moved["threshold"] != start["threshold"]
    app.page.wait_for_function("() => window.__scriptRuns >= 1")  # one run after the keys pause
    app.wait_drawn()
    assert explorer.runs() == 1
    released = explorer.last_sent()
    assert float(app.query()["threshold"]) == released
    assert {key: app.metric(label) for key, label in SERVER_METRICS.items()} == \
        {key: engine_text(engine_sweep.at(released))[key] for key in SERVER_METRICS}


def test_the_estimate_and_intervals_after_a_release_and_the_downloaded_settings(app, engine_sweep):
    explorer = open_explorer(app)
    explorer.count_runs()
    explorer.drag(0.7, 0.5, steps=6)
    explorer.release()
    app.page.wait_for_function("() => window.__scriptRuns >= 1")
    app.wait_drawn()
    released = explorer.last_sent()
    shown = explorer.shown()
    assert shown["estimate_precision"] == app.metric("Precision at deployment")
    assert shown["estimate_alerts"] == app.metric("Expected alerts")
    cells = explorer.frame.evaluate("() => Array.from(document.querySelectorAll('#readout .ci')).map(e => e.textContent)")
    assert any(re.fullmatch(r"0\.\d{3}–[01]\.\d{3}", text) for text in cells)  # intervals under the numbers
    with app.page.expect_download() as download:
        app.click("thr_export_json")
    settings = json.loads(open(download.value.path()).read())
    assert settings["threshold"] == released and settings["strategy"] == "manual"
    assert settings["scorer"] == "VAE" and settings["decided_at_prevalence"] == pytest.approx(0.00172)
    point = engine_sweep.at(released)
    assert settings["at_threshold"]["alerts"] == point.alerts and settings["at_threshold"]["tp"] == point.tp
    low, high = settings["bootstrap_intervals"]["recall"]
    assert low <= point.recall <= high and settings["bootstrap_intervals"]["resamples"] == 1000
    estimate = settings["estimate_at_prevalence"]
    assert estimate["prevalence"] == pytest.approx(0.00172) and f"{estimate['precision']:.3f}" == shown["estimate_precision"]


def test_a_threshold_above_every_score_reads_no_alerts_in_the_explorer_as_in_the_metrics(app):
    app.open(f"threshold?model={FRAUD}&threshold=1e12", heading="Fraud threshold")
    app.wait_drawn()
    shown = Explorer(app).shown()
    assert shown["alerts"] == "0" == app.metric("Alerts")
    assert shown["precision"] == NO_ALERTS == app.metric("Precision")
    assert shown["estimate_precision"] == NO_ALERTS == app.metric("Precision at deployment")
    assert shown["recall"] == "0.000" == app.metric("Recall")


def test_the_deployment_prevalence_moves_the_chosen_threshold_the_numbers_and_the_link(app):
    open_explorer(app)
    assert "At deployment prevalence (0.172% positives)" in app.text()  # the model's own, by default
    app.choose("thr_strategy", "Minimum cost")
    app.click("thr_apply")
    app.wait_for("() => new URLSearchParams(location.search).get('strategy') === 'min_cost'")
    app.wait_idle()
    assert not app.errors()
    rare = float(app.query()["threshold"])
    rare_alerts = int(app.metric("Alerts").replace(",", ""))
    assert "prev" not in app.query() and app.query()["strategy"] == "min_cost"

    app.fill("thr_prevalence", 5)
    assert app.query()["prev"] == "0.05"
    assert "At deployment prevalence (5.000% positives)" in app.text()
    app.click("thr_apply")
    app.wait_for(f"() => new URLSearchParams(location.search).get('threshold') !== '{app.query()['threshold']}'")
    app.wait_idle()
    common = float(app.query()["threshold"])
    assert common < rare  # 29× more frauds: reviewing more rows pays
    assert int(app.metric("Alerts").replace(",", "")) > rare_alerts
    assert "per 1,000 transactions at 5.000%" in app.text()
    app.assert_no_traceback()


def test_the_explorers_legend_lists_the_baselines_and_writes_the_fee_as_every_page_does(app):
    app.open(f"threshold?model={FRAUD}&fee=1234.5", heading="Fraud threshold")
    app.wait_drawn()
    legend = app.page.frame_locator("iframe[src*='threshold_explorer']").first.locator("#legend").inner_text()
    assert re.search(r"Dashed, fitted on the same training normals: PCA\(\d+\), IsolationForest\. "
                     r"Cost: €1,234\.50 per alert, a missed fraud costs its amount\.$", legend), legend
