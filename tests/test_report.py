"""The fraud model report (dashboard/report.py, `vae-explorer report`): one self-contained HTML file.

The CLI writes it through the "vae_explorer.commands" entry point without Streamlit, Plotly or
TensorFlow; it never overwrites a file and says clearly when the model is missing or not a fraud
model; the file holds every script and byte inline; the explorer's counts in it are the engine's;
the map samples rows (seeded, every fraud kept) above its limit and says so; the shipped model's
report stays under 10 MB. tests/e2e/test_report_browser.py opens the file in Chromium.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, trained_models_dir  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models"
SHARED_DATA = Path(os.environ.get("VAE_DATA_DIR") or ROOT.parent / "shared" / "data")
LIMIT_BYTES = 10 * 1000 * 1000


def payload(text: str) -> dict:
    """The report's inline data (the JSON in <script id="report-data">)."""
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    assert found, "no report data in the file"
    return json.loads(found.group(1))


def run_cli(args: list[str], env: dict[str, str], check_modules: bool = False) -> subprocess.CompletedProcess:
    """`vae-explorer ARGS` in a fresh interpreter; with `check_modules`, the last stdout line lists the
    heavy modules it imported."""
    code = ("import sys\nfrom vae_core.cli import main\nrc = main(sys.argv[1:])\n"
            + ("print(sorted(m for m in ('streamlit', 'plotly', 'tensorflow') if m in sys.modules))\n" if check_modules else "")
            + "sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, **env})


@pytest.fixture(scope="module")
def env(trained_models_dir, app_data_dir) -> dict[str, str]:  # noqa: F811
    return {"VAE_MODELS_DIR": str(trained_models_dir), "VAE_DATA_DIR": str(app_data_dir), "VAE_OFFLINE": "1"}


@pytest.fixture(scope="module")
def written(tmp_path_factory, env) -> tuple[Path, subprocess.CompletedProcess]:
    """The tiny fraud model's report, written by the CLI at a threshold given by hand."""
    target = tmp_path_factory.mktemp("report") / "tiny.html"
    done = run_cli(["report", "--name", FRAUD_MODEL, "--output", str(target), "--review-fee", "7"], env,
                   check_modules=True)
    return target, done


def test_importing_the_report_starts_no_streamlit_and_help_lists_report_quickly():
    code = ("import sys, time; t = time.perf_counter(); import dashboard.report; from vae_core import cli; "
            "cli.build_parser(); print(time.perf_counter() - t, "
            "[m for m in ('streamlit', 'plotly', 'tensorflow', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    seconds, modules = out.stdout.split(" ", 1)
    assert modules.strip() == "[]", out.stdout
    assert float(seconds) < 1.0
    started = time.perf_counter()
    helped = subprocess.run([sys.executable, "-m", "vae_core", "--help"], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert helped.returncode == 0 and re.search(r"^\s+report\s+write a model's report", helped.stdout, re.M), helped.stdout
    assert time.perf_counter() - started < 5.0


def test_the_cli_writes_the_report_without_streamlit_plotly_or_tensorflow(written):
    target, done = written
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"report written to {target}" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"  # a dense model loads in NumPy
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and f"{FRAUD_MODEL}: fraud model report" in text


def test_the_file_is_self_contained(written):
    text = written[0].read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=|<link\b|<img[^>]+src=\"(?!data:)|@import|url\(", text, re.I)
    assert not re.search(r"https?://", text.replace("http-equiv", "")), re.search(r".{40}https?://.{40}", text).group(0)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    data = payload(text)
    assert "<script>" in data["explorer_html"] and "explorer.js" not in data["explorer_html"]
    assert "<script>" in data["map_html"] and "map.js" not in data["map_html"]


def test_the_explorer_counts_and_the_decision_are_the_engines(written, env, app_data_dir):  # noqa: F811
    from dashboard.components.threshold_explorer import unpack
    from vae_core import registry, sources
    from vae_core.tables.fraud import FraudModel, score_dataset
    from vae_core.tables.thresholds import ThresholdSweep

    data = payload(written[0].read_text(encoding="utf-8"))
    model = FraudModel.from_loaded(registry.load_model(FRAUD_MODEL, env["VAE_MODELS_DIR"]))
    scored = score_dataset(model, sources.transactions(app_data_dir / "creditcard" / "creditcard.csv"))
    sweep = ThresholdSweep(scored.scores, scored.labels, scored.amounts, review_fee=7.0, fraud_cost="amount")
    explorer = data["explorer"]
    import base64

    arrays = unpack(base64.b64decode(explorer["data_b64"]), explorer["layout"])
    curve = sweep.curve(arrays["stops"])
    assert np.array_equal(arrays["alerts"], curve["alerts"]) and np.array_equal(arrays["fn"], curve["fn"])
    assert explorer["n"] == len(scored.scores) and explorer["review_fee"] == 7.0
    decision = data["decision"]
    point = sweep.at(model.threshold_)
    assert decision["threshold"] == model.threshold_ and decision["alerts"] == point.alerts and decision["fn"] == point.fn
    assert explorer["current"]["threshold"] == model.threshold_
    assert decision["prevalence"] == pytest.approx(model.deploy_prevalence)


def test_the_report_carries_the_segments_and_time_windows_at_the_threshold_in_force(written, env, app_data_dir):  # noqa: F811
    import pandas as pd

    from vae_core import registry, sources
    from vae_core.tables.fraud import FraudModel, score_dataset

    text = written[0].read_text(encoding="utf-8")
    model = FraudModel.from_loaded(registry.load_model(FRAUD_MODEL, env["VAE_MODELS_DIR"]))
    scored = score_dataset(model, sources.transactions(app_data_dir / "creditcard" / "creditcard.csv"))
    section = text[text.index("<h2>How robust is this decision</h2>"):]
    assert f"The threshold {model.threshold_:.6g}" in section
    tables = [[re.findall(r"<t[hd]>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]
              for table in re.findall(r'<table class="segments">(.*?)</table>', section)]
    by_first = {rows[0][0]: pd.DataFrame(rows[1:], columns=rows[0]).astype({"rows": int, "flagged": int})
                for rows in tables}
    assert set(by_first) == {"Amount", "Hour of day", "Window"}
    flagged = int((scored.scores >= model.threshold_).sum())
    for table in by_first.values():
        assert table["rows"].sum() == len(scored.scores) and table["flagged"].sum() == flagged

    # Every scorer's cost curve on one scale, drawn inline: the VAE solid, the baselines dashed.
    chart = re.search(r'<svg[^>]*aria-label="Cost per 1,000 transactions[^"]*at 0.172%"[^>]*>(.*?)</svg>', section)
    assert [m for m in re.findall(r"— ([^<]+)</text>", chart.group(1))] == ["VAE (this model)", "PCA(10)",
                                                                              "IsolationForest"]
    lines = re.findall(r"<polyline[^>]*?( stroke-dasharray=\"5 3\")? points=\"([^\"]+)\"", chart.group(1))
    assert [bool(dash) for dash, _ in lines] == [False, True, True] and all(len(p.split()) > 10 for _, p in lines)

    # The curves' data travels in the file: at the first VAE threshold at or above the one in force, the same flags.
    import base64

    link = re.search(r'<a id="curves-csv" download="([^"]+)" href="data:text/csv;base64,([^"]+)"', text)
    assert link.group(1) == f"{FRAUD_MODEL}-curves.csv"
    curves = pd.read_csv(io.BytesIO(base64.b64decode(link.group(2))))
    assert curves["scorer"].unique().tolist() == ["VAE (this model)", "PCA(10)", "IsolationForest"]
    vae = curves[(curves["scorer"] == "VAE (this model)") & (curves["threshold"] >= model.threshold_)]
    line = vae.loc[vae["threshold"].idxmin()]
    assert line["tp"] + line["fp"] == flagged and line["cost"] > 0
    assert {"precision_at_deployment", "cost_per_1000_at_deployment"} <= set(curves.columns)


def test_the_cli_never_overwrites_and_names_what_is_wrong(written, env, tmp_path):
    target, _ = written
    before = target.read_bytes()
    again = run_cli(["report", "--name", FRAUD_MODEL, "--output", str(target)], env)
    assert again.returncode == 1 and target.read_bytes() == before
    assert again.stderr.strip().splitlines() == [
        f"error: {target} exists; choose a new file for the report (it is never overwritten)."]
    missing = run_cli(["report", "--name", "no-such-model", "--output", str(tmp_path / "a.html")], env)
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1
    assert missing.stderr.startswith("error: No model named 'no-such-model'")
    digits = run_cli(["report", "--name", MNIST_MODEL, "--output", str(tmp_path / "b.html"), "--threshold", "3"], env)
    assert digits.returncode == 1 and digits.stderr.strip().splitlines() == [
        f"error: {MNIST_MODEL!r} is an MNIST model; --threshold is for fraud models' reports."]
    both = run_cli(["report", "--name", FRAUD_MODEL, "--output", str(tmp_path / "c.html"), "--threshold", "1",
                    "--strategy", "max_f1"], env)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    assert not any(tmp_path.iterdir())


def test_a_stored_strategy_sets_the_threshold(env, tmp_path):
    from vae_core import registry
    from vae_core.tables.fraud import FraudModel

    model = FraudModel.from_loaded(registry.load_model(FRAUD_MODEL, env["VAE_MODELS_DIR"]))
    target = tmp_path / "f1.html"
    done = run_cli(["report", "--name", FRAUD_MODEL, "--output", str(target), "--strategy", "max_f1"], env)
    assert done.returncode == 0, done.stderr
    decision = payload(target.read_text(encoding="utf-8"))["decision"]
    assert decision["threshold"] == model.info["thresholds_by_strategy"]["max_f1"]["value"]
    assert decision["how"].startswith("Maximum F1, chosen on the validation split")


def test_unlabelled_rows_get_the_explorer_and_the_alert_rate_as_sampled(env, app_data_dir, tmp_path):  # noqa: F811
    import pandas as pd

    rows = tmp_path / "unlabelled.csv"
    pd.read_csv(app_data_dir / "creditcard" / "creditcard.csv").drop(columns=["Class"]).head(300).to_csv(rows, index=False)
    target = tmp_path / "unlabelled.html"
    done = run_cli(["report", "--name", FRAUD_MODEL, "--output", str(target), "--data", str(rows)], env)
    assert done.returncode == 0, done.stderr[-2000:]
    text = target.read_text(encoding="utf-8")
    data = payload(text)
    assert data["explorer"]["n"] == 300 and data["explorer"]["n_pos"] is None
    assert data["decision"]["prevalence"] is None and data["decision"]["n_pos"] is None
    assert data["map"]["legend"]["names"] == ["unlabelled"] and "their outcomes (TP, FP, FN, TN) are unknown" in text


def test_the_map_samples_rows_above_its_limit_keeping_every_fraud(env, app_data_dir, monkeypatch):  # noqa: F811
    from dashboard import report
    from vae_core import registry, sources
    from vae_core.tables.fraud import FraudModel, score_dataset

    monkeypatch.setenv("VAE_DATA_DIR", env["VAE_DATA_DIR"])
    info = registry.check_model(FRAUD_MODEL, env["VAE_MODELS_DIR"])
    model = FraudModel.from_loaded(registry.load_model(FRAUD_MODEL, env["VAE_MODELS_DIR"]))
    scored = score_dataset(model, sources.transactions(app_data_dir / "creditcard" / "creditcard.csv"))
    frauds = int(scored.labels.sum())
    limit = max(2 * frauds, 40)
    assert limit < len(scored.scores)
    text = report.fraud_report(info, model, scored, threshold=model.threshold_, how="test", review_fee=5.0,
                               fraud_cost="amount", map_limit=limit)
    data = payload(text)
    assert data["map"]["n"] == limit
    labels = np.frombuffer(__import__("base64").b64decode(data["map"]["blob_labels"]), np.uint8)
    assert int(labels.sum()) == frauds
    assert f"The map shows {limit:,} of the {len(scored.scores):,} rows" in text and "seed 0" in text
    again = report.fraud_report(info, model, scored, threshold=model.threshold_, how="test", review_fee=5.0,
                                fraud_cost="amount", map_limit=limit)
    assert payload(again)["map"]["blob_xy"] == data["map"]["blob_xy"]  # seeded: the same rows every time


def test_the_reports_colours_are_the_dashboards():
    from dashboard import figures, report

    assert report.OUTCOME_COLOURS == figures.OUTCOME_COLOURS and report.CLASS_COLOURS == figures.CLASS_COLOURS


def test_an_mnist_models_report_has_the_map_with_thumbnails_the_decoder_prior_samples_and_the_elbo(env, tmp_path):
    from vae_core import registry
    from vae_core.export import export_dense_decoder

    target = tmp_path / "digits.html"
    done = run_cli(["report", "--name", MNIST_MODEL, "--output", str(target)], env, check_modules=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    text = target.read_text(encoding="utf-8")
    assert f"{MNIST_MODEL}: MNIST model report" in text and "test −ELBO (single sample)" in text
    assert "Protocol: continuous MNIST" in text and '<img src="data:image/png;base64,' in text
    assert not re.search(r"https?://|<script[^>]+src=|<link\b", text)
    data = payload(text)
    assert data["map"]["kind"] == "mnist" and data["map"]["atlas"]["count"] == data["map"]["n"] == 200
    assert "blob_atlas" in data["map"] and "blob_recon" in data["map"]
    assert "The map shows all 200 test digits" in text
    # the decoder's weights as float16: within float16's rounding of the model's float32 weights
    exported = export_dense_decoder(registry.load_model(MNIST_MODEL, env["VAE_MODELS_DIR"]).vae)
    layers = data["scrub"]["decoder"]["layers"]
    assert len(layers) == len(exported["layers"])
    import base64

    for mine, theirs in zip(layers, exported["layers"]):
        half = np.frombuffer(base64.b64decode(mine["kernel_f16"]), "<f2").astype(np.float32)
        full = np.frombuffer(base64.b64decode(theirs["kernel"]), "<f4")
        assert np.allclose(half, full, rtol=1e-3, atol=1e-4)


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason=f"no MNIST under {SHARED_DATA}")
@pytest.mark.parametrize("name", ["mnist-dense-2d", "mnist-dense-20d"])
def test_the_shipped_mnist_models_reports_are_under_10_mb(tmp_path, name):
    target = tmp_path / f"{name}.html"
    done = run_cli(["report", "--name", name, "--output", str(target)],
                   {"VAE_MODELS_DIR": str(SHIPPED), "VAE_DATA_DIR": str(SHARED_DATA)})
    assert done.returncode == 0, done.stderr[-2000:]
    size = target.stat().st_size
    print(f"{name} report: {size / 1e6:.2f} MB")
    assert "The map shows 5,000 of the 10,000 test digits, a random sample (seed 0)" in target.read_text(encoding="utf-8")
    assert 1_000_000 < size <= LIMIT_BYTES


@pytest.mark.skipif(not (SHARED_DATA / "creditcard").is_dir(), reason=f"no credit-card data under {SHARED_DATA}")
def test_the_shipped_fraud_models_report_is_under_10_mb(tmp_path):
    target = tmp_path / "fraud-subset.html"
    done = run_cli(["report", "--name", "fraud-subset", "--output", str(target)],
                   {"VAE_MODELS_DIR": str(SHIPPED), "VAE_DATA_DIR": str(SHARED_DATA)})
    assert done.returncode == 0, done.stderr[-2000:]
    size = target.stat().st_size
    print(f"fraud-subset report: {size / 1e6:.2f} MB")
    assert 100_000 < size <= LIMIT_BYTES
