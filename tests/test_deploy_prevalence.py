"""Deciding at the deployment prevalence: the reweighted sweep, the strategies, the model's own
threshold, and the CLI's train / evaluate / score / threshold."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT
from vae_core import registry
from vae_core.tables import bootstrap, fraud_analysis, thresholds
from vae_core.config import TrainConfig, build_configs
from vae_core.errors import ConfigError, DataError
from vae_core.tables.fraud import FULL_PREVALENCE, FraudModel, deployment_prevalence, evaluate_fraud, train_fraud
from vae_core.tables.tabular import make_synthetic_creditcard

# 2 positives and 4 normals; at prevalence 2/3 each positive weighs 2 and each normal 0.5, which is
# the same as repeating every positive 4 times (then scaling the counts by 1/2).
SCORES = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
LABELS = np.array([0, 0, 1, 0, 1, 0])
AMOUNTS = np.array([0.0, 0.0, 40.0, 0.0, 100.0, 0.0])


def repeated(times: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    positive = LABELS == 1
    index = np.concatenate([np.flatnonzero(~positive), np.repeat(np.flatnonzero(positive), times)])
    return SCORES[index], LABELS[index], AMOUNTS[index]


def test_reweighted_sweep_equals_repeating_the_positives():
    weighted = thresholds.ThresholdSweep(SCORES, LABELS, AMOUNTS, review_fee=5.0, prevalence=2 / 3)
    plain = thresholds.ThresholdSweep(*repeated(4), review_fee=5.0)
    grid = weighted.grid()
    ours, theirs = weighted.curve(grid), plain.curve(grid)
    for key in ("tp", "fp", "fn", "tn", "alerts", "cost"):
        np.testing.assert_allclose(ours[key], theirs[key] / 2, err_msg=key)  # 12 repeated rows → 6 weighted
    for key in ("precision", "recall", "f1", "fpr"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key)


def test_reweighted_point_matches_the_pages_estimate():
    sweep = thresholds.ThresholdSweep(SCORES, LABELS, AMOUNTS, review_fee=5.0)
    point = sweep.at(0.3)
    estimate = fraud_analysis.at_prevalence(point.tp, point.fp, 2, 4, 0.01, missed=float(sweep.missed_cost([0.3])[0]),
                                            review_fee=5.0, per=1000)
    deployed = thresholds.at_deployment(SCORES, LABELS, 0.3, AMOUNTS, prevalence=0.01, review_fee=5.0, per=1000)
    assert deployed["alerts"] == pytest.approx(estimate.alerts)
    assert deployed["precision"] == pytest.approx(estimate.precision)
    assert deployed["cost"] == pytest.approx(estimate.cost)
    # 10 frauds per 1,000 with a mean missed cost of €70 each: flagging nothing costs €700.
    assert deployed["flag_nothing"] == pytest.approx(700.0)
    assert deployed["flag_everything"] == pytest.approx(5000.0)


def test_min_cost_flags_fewer_rows_at_a_low_prevalence():
    sampled = thresholds.min_cost_threshold(SCORES, LABELS, AMOUNTS, review_fee=5.0)
    rare = thresholds.min_cost_threshold(SCORES, LABELS, AMOUNTS, review_fee=5.0, prevalence=0.001)
    assert sampled == 0.3  # at a third fraud, reviewing from 0.3 up catches both frauds cheaply
    assert rare > 0.9  # at 0.1%, a review costs more than the frauds it could catch: flag nothing


@pytest.mark.parametrize("strategy, params", [("max_f1", {}), ("precision_at_recall", {"min_recall": 0.5}),
                                              ("alert_budget", {"per_thousand": 400.0}), ("min_cost", {})])
def test_every_labelled_strategy_decides_at_the_given_prevalence(strategy, params):
    at_two_thirds = thresholds.run_strategy(strategy, params, SCORES, LABELS, AMOUNTS, prevalence=2 / 3)
    assert at_two_thirds == thresholds.run_strategy(strategy, params, *repeated(4))


def test_alert_budget_counts_expected_alerts_at_the_prevalence():
    # At 1% fraud, flagging from 0.7 up (half the frauds, a quarter of the normals) raises
    # 0.5·1% + 0.25·99% = 25.25% alerts; from 0.9 up (a quarter of the normals) 24.75%.
    assert thresholds.alert_budget_threshold(SCORES, per_thousand=253.0, labels=LABELS, prevalence=0.01) == 0.7
    assert thresholds.alert_budget_threshold(SCORES, per_thousand=250.0, labels=LABELS, prevalence=0.01) == 0.9
    assert thresholds.alert_budget_threshold(SCORES, per_thousand=240.0, labels=LABELS, prevalence=0.01) > 0.9
    assert thresholds.alert_budget_threshold(SCORES, per_thousand=340.0) == 0.7  # unweighted: 2 of 6 rows


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0, -0.1, 1.5, float("nan")])
def test_a_prevalence_outside_zero_and_one_is_refused(value):
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        thresholds.ThresholdSweep(SCORES, LABELS, prevalence=value)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        thresholds.run_strategy("min_cost", {}, SCORES, LABELS, AMOUNTS, prevalence=value)


def test_reweighting_needs_both_classes():
    with pytest.raises(DataError, match="needs normal rows"):
        thresholds.ThresholdSweep(SCORES, np.ones(6, int), prevalence=0.01)


def test_bootstrap_cost_at_prevalence_brackets_the_point_estimate():
    sweep = thresholds.ThresholdSweep(*repeated(20), review_fee=5.0)
    deployed = thresholds.at_deployment(*repeated(20)[:2], 0.3, repeated(20)[2], prevalence=0.01, review_fee=5.0)
    interval = bootstrap.bootstrap(sweep, 0.3, prevalence=0.01).at(0)
    low, high = interval["cost_at_prevalence"]
    assert low <= deployed["cost"] <= high
    saving_low, saving_high = interval["saving_at_prevalence"]
    assert saving_low <= deployed["flag_nothing"] - deployed["cost"] <= saving_high


def test_default_deployment_prevalence_by_schema():
    creditcard = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount")
    assert deployment_prevalence(creditcard[1:], 0.148)["value"] == FULL_PREVALENCE
    generic = deployment_prevalence(("a", "b"), 0.2)
    assert generic["value"] == 0.2 and "training data's prevalence" in generic["source"]
    assert deployment_prevalence(("a", "b"), 0.2, 0.05) == {"value": 0.05, "source": "given"}


@pytest.fixture(scope="module")
def deployed_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    data = make_synthetic_creditcard(n_rows=2400, fraud_fraction=0.1, seed=3)
    training = train_fraud("deployed", data, build_configs("fraud", latent_dim=2, hidden_units=(16,))[0],
                           TrainConfig(epochs=4, batch_size=64, early_stopping_patience=0), models_dir=folder)
    return training, data, folder


def test_the_models_threshold_is_chosen_at_the_deployment_prevalence(deployed_model):
    training, data, folder = deployed_model
    info = json.loads((folder / "deployed" / "fraud.json").read_text())
    assert info["deploy_prevalence"]["value"] == FULL_PREVALENCE
    assert info["threshold"]["prevalence"] == FULL_PREVALENCE
    split_scores = training.model.score(data.features.iloc[np.arange(len(data))])
    assert np.isfinite(split_scores).all()
    deployment = info["threshold"]["validation_cost_at_deployment"]
    assert deployment["at_threshold"] <= min(deployment["flag_nothing"], deployment["flag_everything"]) + 1e-6
    assert training.metrics["at_deployment"]["prevalence"] == FULL_PREVALENCE


def test_evaluate_reports_as_sampled_and_at_deployment(deployed_model):
    training, data, folder = deployed_model
    model = FraudModel.from_loaded(registry.load_model("deployed", folder))
    report = evaluate_fraud(model, data)
    assert report["deploy_prevalence"]["value"] == FULL_PREVALENCE
    assert report["prevalence"] == pytest.approx(0.1, abs=0.01)  # as sampled
    assert report["at_deployment"]["recall"] == pytest.approx(report["recall"])
    other = evaluate_fraud(model, data, deploy_prevalence=0.05)
    assert other["deploy_prevalence"] == {"value": 0.05, "source": "given"}
    assert other["at_deployment"]["alerts"] != report["at_deployment"]["alerts"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vae_core", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)


@pytest.mark.parametrize("command", [["train", "--dataset", "fraud", "--name", "x"], ["evaluate", "--name", "x"],
                                     ["threshold", "--name", "x"]])
@pytest.mark.parametrize("value", ["0", "1", "-0.2", "2"])
def test_cli_refuses_a_prevalence_outside_zero_and_one(command, value):
    result = run_cli(*command, "--deploy-prevalence", value)
    assert result.returncode == 2
    assert f"expected a fraction strictly between 0 and 1 (0.00172 for 0.172%), got '{value}'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_threshold_rechooses_at_a_new_prevalence(deployed_model, tmp_path):
    training, data, folder = deployed_model
    csv = tmp_path / "rows.csv"
    data.to_frame().to_csv(csv, index=False)
    before = json.loads((folder / "deployed" / "fraud.json").read_text())
    result = run_cli("threshold", "--name", "deployed", "--models-dir", str(folder), "--data", str(csv),
                     "--deploy-prevalence", "0.1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    after = json.loads((folder / "deployed" / "fraud.json").read_text())
    assert after["deploy_prevalence"] == {"value": 0.1, "source": "given"}
    assert after["threshold"]["value"] == report["threshold"]
    assert after["threshold"]["value"] <= before["threshold"]["value"]  # frauds are 58× commoner: flag more
    assert report["at_deployment"]["prevalence"] == 0.1
    saved = json.loads((folder / "deployed" / "metadata.json").read_text())
    assert saved["metrics"]["threshold"] == report["threshold"]


def test_cli_scores_with_a_stored_baseline_at_its_own_threshold(deployed_model, tmp_path):
    training, data, folder = deployed_model
    csv, out = tmp_path / "rows.csv", tmp_path / "scored.csv"
    data.to_frame().to_csv(csv, index=False)
    info = json.loads((folder / "deployed" / "fraud.json").read_text())
    own = info["baseline_thresholds"]["IsolationForest"]
    assert own["prevalence"] == info["deploy_prevalence"]["value"] and own["chosen_on"] == "validation split"
    result = run_cli("score", "--name", "deployed", "--models-dir", str(folder), "--input", str(csv), "--output",
                     str(out), "--scorer", "IsolationForest")
    assert result.returncode == 0, result.stderr
    assert "scorer: IsolationForest" in result.stdout and f"threshold: {own['value']!r}" in result.stdout
    import pandas as pd

    written = pd.read_csv(out)
    model = FraudModel.from_loaded(registry.load_model("deployed", folder))
    expected = model.baseline_scores(data.features)["IsolationForest"]
    np.testing.assert_allclose(written["score"], expected, rtol=1e-5)
    assert (written["flag"] == (written["score"] >= own["value"])).mean() > 0.999
    bad = run_cli("score", "--name", "deployed", "--models-dir", str(folder), "--input", str(csv), "--output",
                  str(tmp_path / "x.csv"), "--scorer", "Bogus")
    assert bad.returncode == 1 and "Unknown scorer 'Bogus'; 'deployed' has VAE, PCA(10), IsolationForest" in bad.stderr
    assert not (tmp_path / "x.csv").exists()
