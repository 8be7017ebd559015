"""The fraud engine end to end on tiny generated data (and the real subset when ../shared exists)."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO_ROOT, shared_path
from vae_core import registry
from vae_core.config import TrainConfig, build_configs
from vae_core.errors import DataError
from vae_core.tables.fraud import (DEFAULT_STRATEGY_PARAMS, FraudModel, Preprocessor, evaluate_fraud, recorded_split,
                            score_csv, score_dataset, train_fraud)
from vae_core.tables.tabular import make_synthetic_creditcard, read_creditcard, stratified_split

QUICK = TrainConfig(epochs=8, batch_size=64, early_stopping_patience=0)


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_creditcard(n_rows=3000, fraud_fraction=0.05, seed=1)


@pytest.fixture(scope="module")
def trained(synthetic, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    training = train_fraud("fraud-tiny", synthetic, build_configs("fraud", latent_dim=2, hidden_units=(16,))[0], QUICK,
                           models_dir=folder)
    return training, folder


def test_preprocessor_is_fitted_on_given_rows_and_inverts():
    frame = pd.DataFrame({"V1": [1.0, 2.0, 3.0, 4.0], "Amount": [0.0, 9.0, 99.0, 999.0], "K": [5.0] * 4})
    pre = Preprocessor.fit(frame, ("V1", "Amount", "K"), scaling="standard")
    x = pre.transform(frame)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(x[:, :2].std(axis=0), 1, rtol=1e-5)
    np.testing.assert_allclose(np.log1p([0, 9, 99, 999]).mean(), pre.center[1])  # log1p before scaling
    np.testing.assert_allclose(x[:, 2], 0)  # constant column: centred, not divided by zero
    np.testing.assert_allclose(pre.inverse_transform(x).to_numpy(), frame.to_numpy(), rtol=1e-5, atol=1e-5)
    assert Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict()))) == pre
    with pytest.raises(DataError, match="lacks the model's feature column"):
        pre.transform(frame.drop(columns="Amount"))


def test_robust_scaling_ignores_heavy_tails():
    frame = pd.DataFrame({"V1": np.r_[np.linspace(-1.0, 1.0, 995), [1000.0] * 5]})  # 0.5% far out
    robust = Preprocessor.fit(frame, ("V1",), scaling="robust")
    assert robust.center[0] == pytest.approx(0.0, abs=0.01)
    assert robust.scale[0] == pytest.approx(1.0 / 1.349, rel=0.01)  # IQR 1 (−0.5..0.5), not inflated by the 1000s
    assert Preprocessor.fit(frame, ("V1",), scaling="standard").scale[0] > 60


def test_training_reports_test_metrics_and_saves_everything(trained, synthetic):
    training, folder = trained
    metrics = training.metrics
    for key in ("roc_auc", "average_precision", "threshold", "precision", "recall", "f1", "fpr"):
        assert key in metrics
    assert metrics["evaluated_on"] == "held-out test split"
    assert metrics["roc_auc"] > 0.75  # generated frauds are shifted: even 8 epochs separate them
    loaded = registry.load_model("fraud-tiny", folder)
    assert loaded.metadata["synthetic"] is True and "synthetic" in loaded.metadata["data_source"]
    assert loaded.metadata["dataset"] == "fraud-synthetic"
    model = FraudModel.from_loaded(loaded)
    assert set(model.info["thresholds_by_strategy"]) == set(DEFAULT_STRATEGY_PARAMS)
    assert model.feature_names == synthetic.feature_names[1:]  # Time left out by default
    split = model.info["split"]
    assert split["n_test"] == 900 and split["n_train_normals_used"] < split["n_train"]


def test_saved_model_scores_like_the_trained_one(trained, synthetic):
    training, folder = trained
    model = FraudModel.from_loaded(registry.load_model("fraud-tiny", folder))
    rows = synthetic.features.iloc[:200]
    np.testing.assert_allclose(model.score(rows), training.model.score(rows), rtol=1e-6)
    assert model.feature_errors(rows).shape == (200, 29)
    assert model.latent_mean(rows).shape == (200, 2)
    decoded = model.decode_features(np.zeros(2))
    assert list(decoded.columns) == list(model.feature_names) and decoded["Amount"].iloc[0] > 0


def test_evaluation_uses_the_held_out_split_only_for_the_training_file(trained, synthetic):
    _, folder = trained
    model = FraudModel.from_loaded(registry.load_model("fraud-tiny", folder))
    same = score_dataset(model, synthetic)
    assert len(same.rows) == 900 and "held-out" in same.evaluated_on
    np.testing.assert_array_equal(same.rows, stratified_split(synthetic.labels).test_idx)  # the recorded split
    assert "rows" in model.info["split"]
    older = {key: value for key, value in model.info["split"].items() if key != "rows"}  # saved before rows were kept
    np.testing.assert_array_equal(recorded_split(older, synthetic.labels).test_idx, same.rows)
    with pytest.raises(DataError, match="saved split covers 3,000 rows but its training file has 2,999"):
        recorded_split(model.info["split"], synthetic.labels[:-1])
    other = make_synthetic_creditcard(n_rows=500, fraud_fraction=0.1, seed=9)
    result = evaluate_fraud(model, other)
    assert result["n"] == 500 and "all rows" in result["evaluated_on"]
    assert result["threshold"] == model.threshold_
    assert evaluate_fraud(model, other, threshold=0.0)["recall"] == 1.0


def test_score_csv_streams_chunks_and_matches_in_memory_scores(trained, synthetic, tmp_path):
    _, folder = trained
    loaded = registry.load_model("fraud-tiny", folder)
    model = FraudModel.from_loaded(loaded)
    frame = synthetic.features.iloc[:1000].copy()
    frame.insert(0, "txn_id", np.arange(1000))  # extra columns pass through
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    progress = []
    summary = score_csv(loaded, source, tmp_path / "out.csv", chunk_size=100, on_progress=progress.append)
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == [*frame.columns, "score", "flag"]
    np.testing.assert_array_equal(out["txn_id"], frame["txn_id"])
    np.testing.assert_allclose(out["score"], model.score(frame), rtol=1e-5)
    np.testing.assert_array_equal(out["flag"], (out["score"] >= model.threshold_).astype(int))
    assert summary["rows"] == 1000 and summary["flagged"] == int(out["flag"].sum())
    assert progress[-1] == 1.0 and len(progress) > 2  # several chunks
    strict = score_csv(loaded, source, tmp_path / "strict.csv", strategy="percentile")
    assert strict["threshold"] == model.info["thresholds_by_strategy"]["percentile"]["value"]


@pytest.mark.parametrize("mangle, message", [
    (lambda f: f.drop(columns="V3"), "lacks the model's feature column"),
    (lambda f: f.assign(V5=f["V5"].astype(object).where(f.index != 7, "abc")), "non-numeric value"),
    (lambda f: f.assign(V2=f["V2"].where(f.index != 3, np.nan)), "missing or non-numeric value in column 'V2'"),
    (lambda f: f.assign(V2=f["V2"].where(f.index != 3, np.inf)), "infinite value in column 'V2' on data row 4"),
    (lambda f: f.rename(columns={"V7": "V6"}), "repeats the column name"),
    (lambda f: f.iloc[:0], "no data rows"),
])
def test_score_csv_rejects_bad_files_and_writes_nothing(trained, synthetic, tmp_path, mangle, message):
    _, folder = trained
    source = tmp_path / "bad.csv"
    mangle(synthetic.features.iloc[:20].copy()).to_csv(source, index=False)
    with pytest.raises(DataError, match=message):
        score_csv(registry.load_model("fraud-tiny", folder), source, tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_fraud_cli_train_evaluate_score(synthetic, tmp_path):
    csv = tmp_path / "tx.csv"
    synthetic.to_frame().to_csv(csv, index=False)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAE_OFFLINE": "1"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "vae_core", *map(str, args), "--models-dir", tmp_path / "m"],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)

    trained = cli("train", "--dataset", "fraud", "--data", csv, "--epochs", 3, "--hidden", "16", "--name", "f1",
                  "--json")
    assert trained.returncode == 0, trained.stderr
    evaluated = cli("evaluate", "--name", "f1", "--data", csv, "--json")
    result = json.loads(evaluated.stdout)
    assert {"roc_auc", "average_precision", "threshold", "precision", "recall", "f1", "fpr"} <= set(result)
    assert "held-out test split" in result["evaluated_on"]
    scored = cli("score", "--name", "f1", "--input", csv, "--output", tmp_path / "scored.csv")
    assert scored.returncode == 0, scored.stderr
    assert len(pd.read_csv(tmp_path / "scored.csv")) == 3000
    wrong = cli("train", "--dataset", "fraud", "--data", tmp_path / "nope.csv", "--name", "f2")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr and "error:" in wrong.stderr


@pytest.mark.slow
def test_real_subset_beats_chance_by_far():
    data = read_creditcard(shared_path("creditcard/creditcard_subset.csv"))
    training = train_fraud(None, data, train_config=TrainConfig(epochs=40, batch_size=64))
    assert training.metrics["roc_auc"] > 0.93
    assert training.metrics["prevalence"] == pytest.approx(148 / 1001, abs=0.01)
