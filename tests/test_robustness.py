"""How robust the threshold is (vae_core.tables.fraud_analysis: segments, time windows, the curves' CSV) and
the Fraud threshold page's "How robust is this threshold" section and curves download, with a tiny
real model (AppTest). The download itself in a browser: tests/e2e/test_browser.py."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from app_fixtures import FRAUD_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from fault_kit import open_link, shown_errors, values
from vae_core.tables import fraud_analysis, thresholds
from vae_core.tables.fraud import ScoredData

PAGE_ROWS = ("model", None, "", "")


def scored_rows(n: int = 2000, seed: int = 0, *, labelled: bool = True, with_time: bool = True) -> ScoredData:
    """Scores that rise with the label; Amount in every bucket; Time over two days."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.1).astype(np.int8)
    scores = rng.normal(size=n) + 2.5 * labels
    amounts = rng.choice([3.0, 20.0, 80.0, 500.0, 4000.0], n)
    features = pd.DataFrame({"Amount": amounts, **({"Time": np.sort(rng.uniform(0, 172_800, n))} if with_time else {})})
    return ScoredData(rows=np.arange(n), scores=scores, labels=labels if labelled else None, amounts=amounts,
                      latent=np.zeros((n, 2)), feature_errors=np.zeros((n, 1)), evaluated_on="test", source="made",
                      synthetic=True, features=features)


def test_segments_count_each_bucket_and_block_as_the_rows_say():
    rows = scored_rows()
    threshold = 1.5
    flags = rows.scores >= threshold
    segments = fraud_analysis.segment_rows(rows, threshold)
    assert [r["segment"] for r in segments["amount"]] == ["€0–10", "€10–50", "€50–200", "€200–1,000",
                                                          "€1,000 and more"]
    for row, amount in zip(segments["amount"], [3.0, 20.0, 80.0, 500.0, 4000.0]):
        mask = rows.amounts == amount
        tp = int((flags & mask & (rows.labels == 1)).sum())
        fp = int((flags & mask & (rows.labels == 0)).sum())
        assert row["rows"] == mask.sum() and row["flagged"] == tp + fp
        assert row["frauds"] == int((mask & (rows.labels == 1)).sum())
        assert row["recall"] == pytest.approx(tp / row["frauds"]) and row["precision"] == pytest.approx(tp / (tp + fp))
        assert row["alert_rate"] == pytest.approx((tp + fp) / mask.sum())
    hours = rows.features["Time"].to_numpy() // 3600 % 24
    assert [r["segment"] for r in segments["hour"]] == [f"{h:02d}:00–{h + 4:02d}:00" for h in range(0, 24, 4)]
    assert [r["rows"] for r in segments["hour"]] == [int(((hours >= h) & (hours < h + 4)).sum()) for h in range(0, 24, 4)]
    assert sum(r["flagged"] for r in segments["hour"]) == flags.sum()


def test_windows_follow_time_and_an_unlabelled_or_timeless_table_says_less():
    rows = scored_rows()
    windows = fraud_analysis.window_rows(rows, 1.5)
    assert len(windows) == fraud_analysis.TIME_WINDOWS and sum(w["rows"] for w in windows) == 2000
    first = np.argsort(rows.features["Time"].to_numpy())[:windows[0]["rows"]]
    assert windows[0]["flagged"] == int((rows.scores[first] >= 1.5).sum())
    assert windows[0]["segment"].startswith("hours 0.")

    unlabelled = fraud_analysis.window_rows(scored_rows(labelled=False), 1.5)
    assert "recall" not in unlabelled[0] and unlabelled[0]["flagged"] == windows[0]["flagged"]
    timeless = scored_rows(with_time=False)
    assert fraud_analysis.window_rows(timeless, 1.5) is None
    assert set(fraud_analysis.segment_rows(timeless, 1.5)) == {"amount"}


def test_the_curves_csv_holds_every_threshold_of_each_scorer_as_sampled_and_at_deployment():
    rows = scored_rows()
    other = -rows.scores  # a scorer that ranks the wrong way round
    data = pd.read_csv(io.BytesIO(fraud_analysis.curves_csv(
        {"VAE": rows.scores, "worse": other}, rows.labels, rows.amounts, review_fee=5.0, fraud_cost="amount",
        prevalence=0.002)))
    assert data["scorer"].unique().tolist() == ["VAE", "worse"]
    vae = data[data["scorer"] == "VAE"].sort_values("threshold")
    assert len(vae) == len(np.unique(rows.scores)) + 1  # every distinct score, and one above them all
    sweep = thresholds.ThresholdSweep(rows.scores, rows.labels, rows.amounts, review_fee=5.0)
    line = vae.iloc[len(vae) // 2]
    point = sweep.at(float(line["threshold"]))
    assert (line["tp"], line["fp"], line["cost"]) == (point.tp, point.fp, pytest.approx(point.cost))
    # The ROC curve's area from the file is the scorer's ROC AUC.
    by_fpr = vae.sort_values(["fpr", "recall"])
    assert np.trapezoid(by_fpr["recall"], by_fpr["fpr"]) == pytest.approx(thresholds.roc_auc(rows.scores, rows.labels))
    deployed = thresholds.ThresholdSweep(rows.scores, rows.labels, rows.amounts, review_fee=5.0,
                                         prevalence=0.002).at(float(line["threshold"]))
    assert line["alerts_per_1000_at_deployment"] == pytest.approx(deployed.alerts * 1000 / len(rows.scores))
    assert line["precision_at_deployment"] == pytest.approx(deployed.precision)
    worse = data[data["scorer"] == "worse"].sort_values(["fpr", "recall"])
    assert np.trapezoid(worse["recall"], worse["fpr"]) < 0.2


def test_a_long_table_keeps_at_most_max_rows_thresholds_spread_over_them():
    rows = scored_rows(5000)
    data = pd.read_csv(io.BytesIO(fraud_analysis.curves_csv({"VAE": rows.scores}, rows.labels, None, review_fee=5.0,
                                                            fraud_cost=100.0, max_rows=300)))
    assert len(data) == 300 and data["alerts"].iloc[0] == 5000 and data["alerts"].iloc[-1] == 0


def segment_tables(at) -> dict[str, pd.DataFrame]:
    """The section's tables by their first column: Amount, Hour of day, Window."""
    return {d.value.columns[0]: d.value for d in at.dataframe if d.value.columns[0] in ("Amount", "Hour of day", "Window")}


def test_the_page_shows_the_segments_and_windows_of_the_threshold_in_force(app_env, trained_models_dir):
    from dashboard import loaders

    app_env(trained_models_dir)
    at = open_link("threshold")
    assert not shown_errors(at)
    threshold = float(at.number_input(key="thr_exact").value)
    rows = loaders.scored(loaders.model_key(FRAUD_MODEL), PAGE_ROWS)
    tables = segment_tables(at)
    amount, windows = tables["Amount"], tables["Window"]
    expected = fraud_analysis.segment_rows(rows, threshold)["amount"]
    assert amount["Amount"].tolist() == [r["segment"] for r in expected]
    assert amount["rows"].sum() == len(rows.scores) and amount["flagged"].tolist() == [r["flagged"] for r in expected]
    assert amount["frauds"].sum() == int(rows.labels.sum())
    assert tables["Hour of day"]["rows"].sum() == len(rows.scores)
    assert windows["flagged"].sum() == int((rows.scores >= threshold).sum())
    spread = fraud_analysis.window_rows(rows, threshold)
    assert any(c.value.startswith(f"Across {len(spread)} time windows") for c in at.caption)

    at.number_input(key="thr_exact").set_value(float(np.quantile(rows.scores, 0.5))).run()
    moved = segment_tables(at)["Window"]
    assert moved["flagged"].sum() == int((rows.scores >= float(at.number_input(key="thr_exact").value)).sum())
    assert moved["flagged"].sum() > windows["flagged"].sum()


def test_cost_curves_share_one_scale_and_end_where_flagging_everything_and_nothing_cost():
    rows = scored_rows()
    curves = fraud_analysis.scorer_cost_curves({"VAE": rows.scores, "worse": -rows.scores}, rows.labels, rows.amounts,
                                               review_fee=5.0, fraud_cost="amount", prevalence=0.002)
    naive = thresholds.ThresholdSweep(rows.scores, rows.labels, rows.amounts, review_fee=5.0, prevalence=0.002)
    nothing, everything = (naive.at(t).cost * 1000 / len(rows.scores) for t in (np.inf, -np.inf))
    for curve in curves.values():
        assert curve["alerts_per_1000"][0] == 0 and curve["alerts_per_1000"][-1] == pytest.approx(1000)
        assert np.all(np.diff(curve["alerts_per_1000"]) >= 0)
        assert curve["cost_per_1000"][0] == pytest.approx(nothing) and curve["cost_per_1000"][-1] == pytest.approx(everything)
    assert curves["VAE"]["cost_per_1000"].min() < curves["worse"]["cost_per_1000"].min()
    assert fraud_analysis.scorer_cost_curves({"VAE": rows.scores}, rows.labels, None, review_fee=5.0,
                                             fraud_cost="amount") == {}


def test_the_page_draws_the_scorers_cost_curves_at_the_prevalence_decisions_use(app_env, trained_models_dir):
    from dashboard import loaders

    app_env(trained_models_dir)
    at = open_link("threshold")
    chart = next(c for c in at.get("plotly_chart") if "Cost by how much each scorer flags" in c.proto.spec)
    spec = __import__("json").loads(chart.proto.spec)
    assert [trace["name"] for trace in spec["data"]] == ["VAE (this model)", "PCA(10)", "IsolationForest"]
    assert "at the deployment prevalence (0.172%)" in spec["layout"]["title"]["text"]
    expected = loaders.scorer_costs(loaders.model_key(FRAUD_MODEL), (*PAGE_ROWS, "VAE"), 5.0, "amount", 0.00172)
    assert values(spec["data"][0]["y"]).min() == pytest.approx(expected["VAE (this model)"]["cost_per_1000"].min())


def test_the_cost_chart_shows_up_to_one_and_a_half_times_flagging_nothing():
    from dashboard import figures

    rows = scored_rows()
    curves = fraud_analysis.scorer_cost_curves({"VAE": rows.scores}, rows.labels, rows.amounts, review_fee=5.0,
                                               fraud_cost="amount", prevalence=0.002)
    low, high = figures.scorer_costs(curves, "at 0.2%").layout.yaxis.range
    assert high == pytest.approx(1.5 * curves["VAE"]["cost_per_1000"][0])
    assert high < curves["VAE"]["cost_per_1000"][-1]  # flagging everything is off the chart
    assert low == pytest.approx(0.9 * curves["VAE"]["cost_per_1000"].min())
