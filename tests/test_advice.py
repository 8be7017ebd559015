"""Honest advice: a stored baseline that beats the VAE on validation beyond its bootstrap interval is named,
in the engine, in `evaluate --json` and on the Models page; a VAE that holds its own gets no advice."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from app_fixtures import app_data_dir, app_env  # noqa: F401
from conftest import REPO_ROOT
from vae_core.tables.advice import _grouped_auc, advice, validation_comparison
from vae_core.config import TrainConfig
from vae_core.tables.fraud import train_fraud
from vae_core.tables.tabular import TabularDataset

QUICK = TrainConfig(epochs=5, batch_size=64, early_stopping_patience=0)


def line_table(n: int = 800, seed: int = 0) -> TabularDataset:
    """Normals in two clusters along one line in 6-D; positives on the same line, in the empty middle:
    the reconstruction follows them, while isolation finds the gap."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.12).astype(np.int8)
    t = np.where(rng.random(n) < 0.5, -1.0, 1.0) * rng.uniform(4, 6, n)
    t[labels == 1] = rng.uniform(-1, 1, labels.sum())
    x = t[:, None] * np.array([1.0, 0.5, -0.5, 0.8, 0.3, -0.2]) + rng.normal(scale=0.1, size=(n, 6))
    frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(6)])
    return TabularDataset(frame, labels, tuple(frame.columns), "generated", label_column="outlier")


def subspace_table(n: int = 800, seed: int = 0) -> TabularDataset:
    """Normals near a 3-D subspace of 12-D; positives pushed well off it: reconstruction's home ground."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.12).astype(np.int8)
    basis = np.linalg.qr(rng.normal(size=(12, 12)))[0]
    x = rng.normal(size=(n, 3)) @ basis[:, :3].T + rng.normal(scale=0.05, size=(n, 12))
    x[labels == 1] += rng.normal(size=(labels.sum(), 9)) @ basis[:, 3:].T * 1.5
    frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(12)])
    return TabularDataset(frame, labels, tuple(frame.columns), "generated", label_column="outlier")


def test_grouped_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(3)
    labels = rng.random(400) < 0.2
    scores = np.round(rng.normal(size=400) + labels, 1)  # many ties
    assert _grouped_auc(scores, labels, np.ones((1, 400)))[0] == pytest.approx(roc_auc_score(labels, scores))


def test_clear_win_is_named_with_its_interval_and_a_tie_is_not():
    rng = np.random.default_rng(1)
    labels = rng.random(300) < 0.2
    vae, forest = rng.normal(size=300) + labels * 1.0, rng.normal(size=300) + labels * 3.0
    comparison = validation_comparison({"VAE": vae, "IsolationForest": forest, "PCA(10)": vae + 1e-3}, labels)
    assert comparison["scorers"]["VAE"]["roc_auc"] == pytest.approx(roc_auc_score(labels, vae), abs=1e-4)
    low, high = comparison["scorers"]["IsolationForest"]["roc_auc_interval"]
    assert low < comparison["scorers"]["IsolationForest"]["roc_auc"] < high
    wins = advice(comparison)
    assert [item["scorer"] for item in wins] == ["IsolationForest"]  # PCA's copy of the VAE's scores ties
    text = wins[0]["text"]
    assert text.startswith(f"IsolationForest beats the VAE on validation: ROC AUC "
                           f"{comparison['scorers']['IsolationForest']['roc_auc']:.2f} [")
    assert f"vs {comparison['scorers']['VAE']['roc_auc']:.2f} [" in text
    assert "over 1,000 resamples of the 300 validation rows); consider using IsolationForest as the scorer." in text
    assert advice(None) == [] and advice({}) == []


@pytest.fixture(scope="module")
def line_registry(tmp_path_factory):
    """A registry holding 'line', trained on `line_table`, and that table as a CSV."""
    folder = tmp_path_factory.mktemp("advice")
    training = train_fraud("line", line_table(), train_config=QUICK, models_dir=folder / "models")
    line_table().to_frame("outlier").to_csv(folder / "line.csv", index=False)
    return training, folder


def test_isolation_forest_win_is_advised_after_training_and_in_evaluate_json(line_registry, capsys):
    from vae_core.cli import main

    training, folder = line_registry
    comparison = training.metrics["validation_comparison"]
    assert comparison["scorers"]["IsolationForest"]["roc_auc"] > 0.95
    assert comparison["scorers"]["VAE"]["roc_auc"] < 0.6
    wins = advice(comparison)
    assert wins[0]["scorer"] == "IsolationForest"
    assert wins[0]["difference_interval"][0] > 0.3
    saved = json.loads((folder / "models" / "line" / "metadata.json").read_text())
    assert saved["metrics"]["validation_comparison"] == comparison

    assert main(["evaluate", "--name", "line", "--models-dir", str(folder / "models"), "--data",
                 str(folder / "line.csv"), "--label-column", "outlier", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["advice"] == [wins[0]["text"]]
    assert "consider using IsolationForest as the scorer" in printed["advice"][0]


def test_models_page_shows_the_advice(line_registry, app_env):
    from streamlit.testing.v1 import AppTest

    training, folder = line_registry
    app_env(folder / "models")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=90).run()
    at = at.switch_page("dashboard/pages/models.py").run()
    at.selectbox(key="models_inspect").set_value("line").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [w.value for w in at.warning] == [advice(training.metrics["validation_comparison"])[0]["text"]]


def test_vae_that_holds_its_own_gets_no_advice():
    training = train_fraud(None, subspace_table(), train_config=QUICK)
    comparison = training.metrics["validation_comparison"]
    assert comparison["scorers"]["VAE"]["roc_auc"] > 0.97
    assert comparison["scorers"]["VAE"]["roc_auc"] > comparison["scorers"]["IsolationForest"]["roc_auc"]
    assert advice(comparison) == []
