"""The Fraud threshold page through AppTest with tiny real models: what the browser-side explorer is
given (it must reproduce the server's numbers), bootstrap intervals under the metrics, the estimate at
another prevalence, the explanation of a flagged row, and a labelled table of another schema.
The drag itself, in a real browser: tests/e2e/test_threshold_browser.py."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from app_fixtures import FRAUD_MODEL, app_data_dir, app_env, models_copy, trained_models_dir  # noqa: F401
from dashboard.components.threshold_explorer import explorer_args, pack, released_threshold, unpack
from fault_kit import explorer, metric, open_link, shown_errors
from vae_core.tables import fraud_analysis
from vae_core.errors import ConfigError
from vae_core.tables.thresholds import ThresholdSweep


def number(text: str) -> float:
    return float(text.replace("€", "").replace(",", ""))


def page_sweep(at, fee: float = 5.0):
    """The engine's sweep over the rows the page scored (its own cached one)."""
    from dashboard import loaders

    return loaders.sweep(loaders.model_key(FRAUD_MODEL), ("model", None, "", ""), fee, "amount", None)


# --- the explorer's data ------------------------------------------------------------------------------

def test_every_stop_gives_the_numbers_the_engine_gives(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    args, data = explorer(at)
    sweep = page_sweep(at)
    n, n_pos, fee = args["n"], args["n_pos"], args["review_fee"]
    assert (n, n_pos) == (sweep.n, sweep.n_pos)
    stops = data["stops"]
    assert len(stops) > 500 and np.all(np.diff(stops) > 0)
    for k in np.linspace(0, len(stops) - 1, 60).round().astype(int):
        point = sweep.at(float(stops[k]))
        # What explorer.js does with the counts at stop k, operation for operation.
        alerts, fn = int(data["alerts"][k]), int(data["fn"][k])
        tp = n_pos - fn
        fp, tn = alerts - tp, n - alerts - fn
        assert (point.alerts, point.tp, point.fp, point.fn, point.tn) == (alerts, tp, fp, fn, tn)
        assert point.recall == tp / n_pos and point.fpr == fp / (n - n_pos) and point.f1 == 2 * tp / (2 * tp + fp + fn)
        assert point.precision == (tp / alerts if alerts else None)
        assert point.cost == fee * alerts + float(data["missed"][k])  # bit for bit
    assert data["alerts"][0] == n and data["alerts"][-1] == 0  # the ends flag everything and nothing


def test_stops_survive_the_link_and_cover_the_highest_scores(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    _, data = explorer(at)
    stops = data["stops"]
    assert all(float(f"{s:.6g}") == s for s in stops.tolist())  # the URL's 6 digits restore a stop exactly
    sweep = page_sweep(at)
    top = sweep.candidates()[-50:]
    # Near the top every distinct score has a stop of its own: each of those alert counts can be reached.
    assert set(sweep.curve(top)["alerts"].tolist()) <= set(data["alerts"].tolist())


def test_the_explorer_starts_at_the_threshold_in_force_with_its_intervals(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold", threshold="0.5", strategy="manual")
    args, _ = explorer(at)
    current = args["current"]
    assert current["threshold"] == 0.5 and f"{current['alerts']:,}" == metric(at, "Alerts")
    assert args["review_fee"] == 5.0 and args["cost_note"] == "its amount"
    assert number(metric(at, "Total cost")) == pytest.approx(5.0 * current["alerts"] + current["missed"], abs=0.5)
    low, high = current["intervals"]["recall"]
    assert low <= float(metric(at, "Recall")) <= high
    at.toggle(key="thr_log_x").set_value(False).run()
    assert explorer(at)[0]["log_x"] is False


def test_a_release_is_read_only_when_it_carries_a_number():
    assert released_threshold({"threshold": 1.25, "seq": 3, "instance": "ab"}) == 1.25
    assert released_threshold(None) is None and released_threshold({"threshold": "1"}) is None
    assert released_threshold({"threshold": float("nan")}) is None


def test_packed_arrays_round_trip_aligned():
    data, layout, digest = pack({"a": ("f8", np.array([0.1, 2.5])), "b": ("i4", np.array([1, 2, 3])),
                                 "c": ("f4", np.array([0.5]))})
    assert all(offset % 8 == 0 for _, offset, _ in layout.values())
    arrays = unpack(data, layout)
    assert arrays["a"].tolist() == [0.1, 2.5] and arrays["b"].tolist() == [1, 2, 3] and arrays["c"].tolist() == [0.5]
    assert digest == pack({"a": ("f8", np.array([0.1, 2.5])), "b": ("i4", np.array([1, 2, 3])),
                           "c": ("f4", np.array([0.5]))})[2]


def test_baseline_curves_and_metrics_travel_to_the_explorer():
    """The explorer draws each baseline's ROC and PR curves beside the VAE's."""
    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.2).astype(int)
    vae, pca = rng.normal(size=400) + 2 * labels, rng.normal(size=400) + labels
    amounts = rng.exponential(50.0, 400)
    table = fraud_analysis.scorer_table({"VAE": vae, "PCA(10)": pca}, labels, amounts, review_fee=5.0,
                                        fraud_cost="amount")
    assert [row["scorer"] for row in table] == ["VAE", "PCA(10)"]
    assert table[0]["auroc"] > table[1]["auroc"] and table[0]["recall_at_fpr"] > table[1]["recall_at_fpr"]
    sweep = ThresholdSweep(vae, labels, amounts)
    assert table[0]["min_cost"] == pytest.approx(float(sweep.curve(sweep.grid())["cost"].min()))
    summary = fraud_analysis.summarise(_scored(vae, labels, amounts))
    args = explorer_args(table=fraud_analysis.stop_table(sweep, fraud_analysis.explorer_stops(sweep)), summary=summary,
                         current={"threshold": 1.0, "alerts": 1, "fn": 0, "missed": 0.0}, log_x=False, log_y=False,
                         names=("normal", "fraud"), review_fee=5.0, cost_note="its amount", prevalence=None, per=100_000,
                         baselines={"PCA(10)": fraud_analysis.scorer_curves(pca, labels)},
                         baseline_metrics={"PCA(10)": {"auroc": table[1]["auroc"]}})
    arrays = unpack(args["data"], args["layout"])
    assert args["baselines"] == [{"name": "PCA(10)", "auroc": table[1]["auroc"]}]
    assert arrays["baseline0_fpr"][-1] == 1.0 and len(arrays["baseline0_precision"]) == len(arrays["baseline0_recall"])


def test_the_page_shows_the_stored_baselines_beside_the_vae(app_env, trained_models_dir):
    from dashboard import loaders
    from vae_core.tables import thresholds

    app_env(trained_models_dir)
    at = open_link("threshold")
    table = next(d.value for d in at.dataframe if "scorer" in d.value.columns)
    assert table["scorer"].tolist() == ["VAE (this model)", "PCA(10)", "IsolationForest"]
    rows = loaders.scored(loaders.model_key(FRAUD_MODEL), ("model", None, "", ""))
    others = loaders.fraud_model(FRAUD_MODEL).baseline_scores(rows.features)
    for scorer, scores in (("VAE (this model)", rows.scores), *others.items()):
        shown = table.set_index("scorer").loc[scorer]
        assert shown["auroc"] == pytest.approx(thresholds.roc_auc(scores, rows.labels))
        assert shown["average_precision"] == pytest.approx(thresholds.average_precision(scores, rows.labels))
    args, data = explorer(at)
    assert [b["name"] for b in args["baselines"]] == ["PCA(10)", "IsolationForest"]
    assert args["baselines"][0]["auroc"] == pytest.approx(table["auroc"][1])
    assert data["baseline1_tpr"][-1] == 1.0


def _scored(scores, labels, amounts):
    from vae_core.tables.fraud import ScoredData

    n = len(scores)
    return ScoredData(rows=np.arange(n), scores=scores, labels=labels, amounts=amounts, latent=np.zeros((n, 2)),
                      feature_errors=np.zeros((n, 1)), evaluated_on="test", source="hand-made", synthetic=True)


# --- intervals, prevalence --------------------------------------------------------------------------------

def test_bootstrap_intervals_sit_under_each_metric_and_hold_its_value(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    captions = [c.value for c in at.caption if c.value.startswith("95% CI ")]
    assert len(captions) >= 5  # precision, recall, F1, false-positive rate, cost (and the estimate's precision)
    for label, caption in zip(("Precision", "Recall", "F1", "False-positive rate", "Total cost"), captions):
        low, high = (number(part) for part in caption.removeprefix("95% CI ").split("–"))
        assert low <= number(metric(at, label)) <= high, (label, caption)
    assert any("resample these rows 1000 times" in m.value for m in at.markdown)


def test_reweighting_to_another_prevalence_on_hand_made_counts():
    # 10 frauds, 90 normals; 8 frauds and 20 normals flagged; the 2 missed frauds cost €100 each.
    same = fraud_analysis.at_prevalence(8, 20, 10, 90, 0.1, missed=200.0, review_fee=5.0, per=100)
    assert same.normal_weight == pytest.approx(1.0)  # the rows' own prevalence: nothing changes
    assert (same.alerts, same.precision, same.cost) == pytest.approx((28, 8 / 28, 5 * 28 + 200))
    rare = fraud_analysis.at_prevalence(8, 20, 10, 90, 0.01, missed=200.0, review_fee=5.0, per=1000)
    # Per 1,000 transactions: 10 frauds (each fraud row counts once), 990 normals (each normal row 11 times).
    assert rare.frauds == pytest.approx(10) and rare.normal_weight == pytest.approx(11)
    assert rare.alerts == pytest.approx(8 + 220) and rare.precision == pytest.approx(8 / 228)
    assert rare.cost == pytest.approx(5 * 228 + 200)
    assert fraud_analysis.at_prevalence(0, 0, 10, 90, 0.01).precision is None  # nothing flagged
    assert fraud_analysis.at_prevalence(1, 1, 0, 90, 0.01) is None  # no frauds to reweight
    with pytest.raises(ConfigError, match="fraction between 0 and 1"):
        fraud_analysis.at_prevalence(1, 1, 10, 90, 1.72)


def test_the_page_estimates_precision_at_the_full_datas_prevalence(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    args, _ = explorer(at)
    assert args["target_prevalence"] == pytest.approx(0.00172)  # the credit-card schema's deployment prevalence
    assert at.number_input(key="thr_prevalence").value == pytest.approx(0.172)
    point = page_sweep(at).at(args["current"]["threshold"])
    n_pos = args["n_pos"]
    expected = fraud_analysis.at_prevalence(point.tp, point.fp, n_pos, args["n"] - n_pos, 0.00172,
                                            missed=args["current"]["missed"], review_fee=5.0)
    assert metric(at, "Precision at deployment") == f"{expected.precision:.3f}"
    assert metric(at, "Expected alerts") == f"{expected.alerts:,.0f}"
    assert number(metric(at, "Precision at deployment")) < number(metric(at, "Precision"))  # fewer frauds
    assert any("At deployment prevalence (0.172% positives)" in m.value for m in at.markdown)
    assert any("as sampled" in m.value and f"{args['n']:,} rows" in m.value for m in at.markdown)
    at.number_input(key="thr_prevalence").set_value(14.8).run()
    assert any("At deployment prevalence (14.800% positives)" in m.value for m in at.markdown)
    assert explorer(at)[0]["target_prevalence"] == pytest.approx(0.148)
    assert at.query_params["prev"] == "0.148"


def test_strategies_decide_at_the_deployment_prevalence_and_the_link_carries_it(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    at.selectbox(key="thr_strategy").select("min_cost").run()
    at.button(key="thr_apply").click().run()
    at_deployment = float(at.query_params["threshold"])
    sweep = page_sweep(at)
    scores, labels, missed = sweep.sorted_rows()
    from vae_core.tables import thresholds

    assert at_deployment == thresholds.min_cost_threshold(scores, labels, missed * labels, prevalence=0.00172)
    at.radio(key="thr_decide_at").set_value("sampled").run()
    at.button(key="thr_apply").click().run()
    as_sampled = float(at.query_params["threshold"])
    assert as_sampled == thresholds.min_cost_threshold(scores, labels, missed * labels)
    assert as_sampled < at_deployment  # 14.8% frauds make reviews worth more of them
    assert at.query_params["decide"] == "sampled"
    alerts_sampled = number(metric(at, "Alerts"))
    at.radio(key="thr_decide_at").set_value("deployment").run()
    at.number_input(key="thr_prevalence").set_value(5.0).run()
    at.button(key="thr_apply").click().run()
    at_five = float(at.query_params["threshold"])
    assert at_five == thresholds.min_cost_threshold(scores, labels, missed * labels, prevalence=0.05)
    assert at.query_params["prev"] == "0.05" and "decide" not in at.query_params
    assert any("per 1,000 transactions at 5.000%" in m.value for m in at.markdown)
    shared = open_link("threshold", prev="0.05", threshold=at.query_params["threshold"], strategy="min_cost")
    assert shared.number_input(key="thr_prevalence").value == pytest.approx(5.0)
    assert explorer(shared)[0]["target_prevalence"] == pytest.approx(0.05)
    assert number(metric(shared, "Alerts")) == number(metric(at, "Alerts")) and alerts_sampled > 0


@pytest.mark.parametrize("value", ["0", "1", "-0.1", "abc"])
def test_a_link_with_an_unusable_prevalence_says_so_and_keeps_the_models(app_env, trained_models_dir, value):
    app_env(trained_models_dir)
    at = open_link("threshold", prev=value)
    assert any(f"prev={value!r} is not a fraction strictly between 0 and 1" in w.value for w in at.warning)
    assert at.number_input(key="thr_prevalence").value == pytest.approx(0.172)
    assert "prev" not in at.query_params


# --- explaining a flagged row ---------------------------------------------------------------------------

def test_a_flagged_row_shows_what_would_make_it_look_normal(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")  # the model's own threshold
    assert not shown_errors(at)
    assert any(m.value.startswith("**What would make it look normal**") for m in at.markdown)
    table = next(d.value for d in at.dataframe if "looks normal" in d.value.columns)
    assert list(table.columns) == ["feature", "this row", "looks normal", "change", "standardised change"]
    assert len(table) == 10 and set(table["feature"]) <= {f"V{i}" for i in range(1, 29)} | {"Amount"}
    changes = np.abs(table["standardised change"].to_numpy())
    assert np.all(np.diff(changes) <= 1e-9)  # biggest changes first
    np.testing.assert_allclose(table["looks normal"] - table["this row"], table["change"], rtol=1e-5, atol=1e-6)
    assert any("nearest transaction the model finds normal" in c.value or "of the way toward the prior's centre" in c.value
               for c in at.caption)
    relation = next(c.value for c in at.caption if c.value.startswith("Beyond the squared error"))
    assert re.search(r"keep, in standardised units: \d\.\d\d·(V\d+|Amount) .* stays within ±\d", relation)
    at = open_link("threshold", threshold="1e-06", strategy="manual")  # under every decoded point's score
    assert any("no point on the way looks normal" in w.value for w in at.warning)


# --- a labelled table of another schema ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def generic_csv() -> bytes:
    """600 rows of five numeric columns a…e and a label column "outcome" ("bad" for 10% of them)."""
    rng = np.random.default_rng(0)
    bad = rng.random(600) < 0.1
    frame = pd.DataFrame(rng.normal(size=(600, 5)) + 3.0 * bad[:, None] * np.array([1, -1, 0, 0, 1]),
                         columns=list("abcde"))
    frame["outcome"] = np.where(bad, "bad", "good")
    return frame.to_csv(index=False).encode()


def test_a_generic_labelled_csv_works_with_a_fixed_miss_cost(app_env, models_copy, generic_csv):
    from vae_core import sources
    from vae_core.config import TrainConfig, build_configs
    from vae_core.tables.fraud import train_fraud

    data = sources.read_upload(generic_csv, "generic.csv", "outcome", "bad")
    train_fraud("generic", data, build_configs("fraud", latent_dim=2, hidden_units=(16,))[0],
                TrainConfig(epochs=2, batch_size=32, seed=0), models_dir=str(models_copy))
    app_env(models_copy)
    at = open_link("threshold", model="generic")
    at.radio(key="fraud_view_data").set_value("upload").run()
    at.text_input(key="fraud_view_label_column").set_value("outcome").run()
    at.text_input(key="fraud_view_positive").set_value("bad").run()
    at.file_uploader(key="fraud_view_upload").upload("generic.csv", generic_csv, "text/csv").run()
    assert not shown_errors(at) and not at.exception
    assert at.radio(key="thr_cost_mode").options == ["a fixed sum"]  # no Amount column
    args, data = explorer(at)
    assert args["names"] == ["normal", "positive"] and args["cost_note"] == "€100"
    current = args["current"]
    fn = current["fn"]
    # Each missed positive costs the fixed €100; each alert €5.
    assert number(metric(at, "Total cost")) == pytest.approx(5.0 * current["alerts"] + 100.0 * fn, abs=0.5)
    assert current["missed"] == 100.0 * fn
    flagged = next(d.value for d in at.dataframe if "label" in d.value.columns)
    assert set(flagged["label"]) <= {"positive", "normal"} and "positive" in set(flagged["label"])
    assert at.selectbox(key="thr_inspect").options[0].endswith(("· positive", "· normal"))


def test_a_stored_baseline_can_score_the_rows_at_its_own_threshold(app_env, trained_models_dir):
    from dashboard import loaders
    from vae_core.tables.fraud import FraudModel
    from vae_core import registry

    app_env(trained_models_dir)
    at = open_link("threshold")
    assert at.selectbox(key="thr_scorer").options == ["VAE (this model)", "PCA(10) (stored baseline)",
                                                      "IsolationForest (stored baseline)"]
    at.selectbox(key="thr_scorer").set_value("IsolationForest").run()
    assert not shown_errors(at)
    model = FraudModel.from_loaded(registry.load_model(FRAUD_MODEL, trained_models_dir))
    rows = loaders.scored(loaders.model_key(FRAUD_MODEL), ("model", None, "", "", "IsolationForest"))
    np.testing.assert_allclose(rows.scores, model.baseline_scores(rows.features)["IsolationForest"])
    point = ThresholdSweep(rows.scores, rows.labels, rows.amounts).at(model.scorer_threshold("IsolationForest"))
    assert metric(at, "Alerts") == f"{point.alerts:,}"
    assert any("IsolationForest's own threshold" in m.value for m in [*at.markdown, *at.caption])
    assert at.query_params["scorer"] == "IsolationForest"
    assert any("Explanations read the VAE's reconstruction" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "scorer" in d.value.columns)
    assert table["scorer"].iloc[0] == "VAE (this model)"  # the comparison still lists the VAE's own scores


def test_a_link_naming_an_unknown_scorer_says_so(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold", scorer="bogus")
    assert any("no scorer named 'bogus'" in w.value for w in at.warning)
    assert at.selectbox(key="thr_scorer").value == "VAE"


def test_a_link_with_a_negative_fee_says_so_and_uses_the_default(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold", fee="-5", miss="-1", prev="0")
    notice = next(w.value for w in at.warning if "fee='-5'" in w.value)
    assert "fee='-5' and miss='-1' are not non-negative numbers of euros" in notice
    assert "prev='0' is not a fraction strictly between 0 and 1" in notice
    assert at.number_input(key="thr_fee").value == 5.0
    assert "fee" not in at.query_params and "miss" not in at.query_params and "prev" not in at.query_params
