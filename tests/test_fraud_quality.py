"""Fraud quality: learned decoder variance and likelihood scores, the minimum-cost default threshold,
baselines stored with the model (NumPy scoring equal to scikit-learn), and generic labelled tables."""

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

from conftest import REPO_ROOT, shared_path
from vae_core import cli, registry
from vae_core.tables import thresholds
from vae_core.tables.baselines import IsolationForestBaseline, PCABaseline, baseline_from_dict
from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError, RegistryError
from vae_core.config import build_configs
from vae_core.tables.fraud import (FRAUD_FILE, FraudModel, ScoringConfig, evaluation_rows,
                            train_fraud)
from vae_core.tables.tabular import (make_synthetic_creditcard, normal_rows, read_creditcard, read_labelled_csv,
                              stratified_split)

QUICK = TrainConfig(epochs=6, batch_size=64, early_stopping_patience=0)


# --- baselines as arrays ------------------------------------------------------------------------

def default_vae_config(n_features: int) -> VAEConfig:
    """The shipped fraud defaults for rows of `n_features`."""
    return build_configs("fraud", n_features=n_features)[0]


@pytest.mark.parametrize("n_rows, n_features, max_samples, seed", [(1000, 29, "auto", 0), (60, 4, "auto", 1),
                                                                   (2000, 7, 0.5, 2)])
def test_isolation_forest_in_numpy_equals_sklearn(n_rows, n_features, max_samples, seed):
    rng = np.random.default_rng(seed)
    x_train = rng.standard_t(3, size=(n_rows, n_features))
    x = np.vstack([rng.standard_t(3, size=(3000, n_features)) * 2.0, x_train[:50]])  # new rows and training rows
    forest = IsolationForest(max_samples=max_samples, random_state=seed).fit(x_train)
    exported = IsolationForestBaseline.from_sklearn(forest)
    stored = baseline_from_dict(json.loads(json.dumps(exported.to_dict())))
    np.testing.assert_allclose(stored.score(x), -forest.score_samples(x), rtol=0, atol=1e-9)
    fitted = IsolationForestBaseline.fit(x_train, seed=seed)  # the engine's own fit: sklearn defaults
    np.testing.assert_allclose(fitted.score(x), -IsolationForest(random_state=seed).fit(x_train).score_samples(x),
                               rtol=0, atol=1e-9)


def test_pca_baseline_equals_sklearn_reconstruction_error():
    rng = np.random.default_rng(3)
    x_train, x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)), rng.normal(size=(300, 12)) * 3
    pca = PCA(10, random_state=0).fit(x_train)
    expected = ((x - pca.inverse_transform(pca.transform(x))) ** 2).sum(axis=1)
    stored = baseline_from_dict(json.loads(json.dumps(PCABaseline.fit(x_train, 10).to_dict())))
    assert stored.name == "PCA(10)"
    np.testing.assert_allclose(stored.score(x), expected, rtol=1e-9)


def test_damaged_stored_baselines_are_refused():
    entry = IsolationForestBaseline.fit(np.random.default_rng(0).normal(size=(100, 3)), n_estimators=3).to_dict()
    with pytest.raises(ConfigError, match="Unknown stored baseline"):
        baseline_from_dict({"kind": "pickle"})
    with pytest.raises(ConfigError, match="expected"):
        baseline_from_dict({**entry, "threshold": entry["threshold"][:-12]})
    with pytest.raises(ConfigError, match="incomplete"):
        baseline_from_dict({k: v for k, v in entry.items() if k != "feature"})
    children = np.frombuffer(base64.b64decode(entry["children_left"]), "<i4").copy()
    children[0] = 0  # a node that is its own child
    bad = {**entry, "children_left": base64.b64encode(children.tobytes()).decode()}
    with pytest.raises(ConfigError, match="malformed"):
        baseline_from_dict(bad)


# --- costs --------------------------------------------------------------------------------------

def test_naive_costs_recall_at_fpr_and_minimum_cost_on_hand_made_rows():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.8])
    labels = np.array([0, 0, 0, 0, 1, 1])
    amounts = np.array([1.0, 1.0, 1.0, 1.0, 100.0, 3.0])
    assert thresholds.naive_costs(labels, amounts) == {"flag_nothing": 103.0, "flag_everything": 30.0}
    assert thresholds.naive_costs(labels) is None
    assert thresholds.minimum_cost(scores, labels, amounts) == 8.0  # flag the 0.9: €5 + the €3 fraud missed
    assert thresholds.recall_at_fpr(scores, labels, 0.0) == 1.0
    assert thresholds.recall_at_fpr(scores[::-1], labels, 0.25) == 0.0  # frauds score lowest
    assert set(thresholds.ranking_metrics(scores, labels, amounts)) == {
        "roc_auc", "average_precision", "recall_at_1pct_fpr", "min_cost"}


# --- a tiny trained model -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_creditcard(n_rows=3000, fraud_fraction=0.08, seed=5)


@pytest.fixture(scope="module")
def trained(synthetic, tmp_path_factory):
    """The shipped defaults at 6 epochs: unit variance, the constrained score, min-cost threshold."""
    folder = tmp_path_factory.mktemp("models")
    vae_config = VAEConfig(**{**default_vae_config(29).to_dict(), "hidden_units": (16,)})
    training = train_fraud("quality", synthetic, vae_config, QUICK, models_dir=folder)
    return training, folder


def test_default_threshold_never_costs_more_than_the_naive_ones_on_validation(trained, synthetic):
    training, folder = trained
    model = FraudModel.from_loaded(registry.load_model("quality", folder))
    assert model.info["threshold"]["strategy"] == "min_cost"  # the data has amounts
    split = stratified_split(synthetic.labels, seed=model.info["split"]["seed"])
    labels, amounts = synthetic.labels[split.val_idx], synthetic.amount[split.val_idx]
    scores = model.score(synthetic.features.iloc[split.val_idx])
    cost = thresholds.evaluate_at_threshold(scores, labels, model.threshold_, amounts)["cost"]
    naive = thresholds.naive_costs(labels, amounts)
    assert cost <= naive["flag_nothing"] and cost <= naive["flag_everything"]
    assert model.info["threshold"]["validation_cost"] == pytest.approx({"at_threshold": cost, **naive})
    # Chosen at the deployment prevalence: there no threshold costs less.
    deployed = thresholds.ThresholdSweep(scores, labels, amounts, prevalence=model.info["threshold"]["prevalence"])
    assert deployed.at(model.threshold_).cost == pytest.approx(deployed.curve(deployed.grid())["cost"].min())


def test_default_threshold_without_amounts_maximises_f1(synthetic):
    unpriced = type(synthetic)(synthetic.features.drop(columns="Amount"), synthetic.labels,
                               synthetic.feature_names[:-1], synthetic.source, synthetic.synthetic, None)
    training = train_fraud(None, unpriced, VAEConfig(**{**default_vae_config(28).to_dict(), "hidden_units": (8,)}),
                           TrainConfig(epochs=1, early_stopping_patience=0))
    assert training.model.info["threshold"]["strategy"] == "max_f1"
    assert "validation_cost" not in training.model.info["threshold"] and "cost" not in training.metrics


def test_baselines_are_stored_scored_and_measured_on_the_test_rows(trained, synthetic):
    training, folder = trained
    model = FraudModel.from_loaded(registry.load_model("quality", folder))
    split = stratified_split(synthetic.labels, seed=0)
    train_normals = normal_rows(split.train_idx, synthetic.labels.astype(np.int64))
    x_train = model.preprocessor.transform(synthetic.features.iloc[train_normals]).astype(np.float64)
    test_rows = synthetic.features.iloc[split.test_idx]
    x_test = model.preprocessor.transform(test_rows).astype(np.float64)
    scores = model.baseline_scores(test_rows)
    assert set(scores) == {"PCA(10)", "IsolationForest"}
    pca = PCA(10, random_state=0).fit(x_train)
    np.testing.assert_allclose(scores["PCA(10)"], ((x_test - pca.inverse_transform(pca.transform(x_test))) ** 2).sum(1),
                               rtol=1e-6)
    forest = IsolationForest(random_state=QUICK.seed).fit(x_train)
    np.testing.assert_allclose(scores["IsolationForest"], -forest.score_samples(x_test), atol=1e-9)
    stored = training.metrics["baselines"]
    for name, values in scores.items():
        expected = thresholds.ranking_metrics(values, synthetic.labels[split.test_idx],
                                              synthetic.amount[split.test_idx])
        assert stored[name] == pytest.approx(expected)
    assert {"roc_auc", "average_precision", "recall_at_1pct_fpr", "min_cost"} <= set(training.metrics)
    assert (folder / "quality" / FRAUD_FILE).stat().st_size < 400_000  # base64 arrays keep it small


def test_models_saved_without_baselines_still_load(trained, tmp_path):
    _, folder = trained
    old = tmp_path / "old"
    shutil.copytree(folder / "quality", old / "quality")
    info = json.loads((old / "quality" / FRAUD_FILE).read_text())
    info.pop("baselines")
    for key in ("label_column", "positive"):
        info["data"].pop(key)
    (old / "quality" / FRAUD_FILE).write_text(json.dumps(info))
    model = FraudModel.from_loaded(registry.load_model("quality", old))
    assert model.baseline_scores(make_synthetic_creditcard(n_rows=10).features) == {}
    assert (model.label_column, model.positive) == ("Class", 1)


def test_a_baseline_of_the_wrong_width_is_refused(trained, tmp_path):
    _, folder = trained
    shutil.copytree(folder / "quality", tmp_path / "quality")
    info = json.loads((tmp_path / "quality" / FRAUD_FILE).read_text())
    info["baselines"][0] = PCABaseline.fit(np.random.default_rng(0).normal(size=(50, 5)), 2).to_dict()
    (tmp_path / "quality" / FRAUD_FILE).write_text(json.dumps(info))
    with pytest.raises(RegistryError, match="baseline"):
        FraudModel.from_loaded(registry.load_model("quality", tmp_path))


# --- learned variance and likelihood scores -----------------------------------------------------

def test_learned_variance_scores_round_trip_and_bound_each_other(synthetic, tmp_path):
    vae_config = VAEConfig(**{**default_vae_config(29).to_dict(), "hidden_units": (16,),
                              "decoder_variance": "heteroscedastic"})
    training = train_fraud("learned-variance", synthetic, vae_config, QUICK, scoring=ScoringConfig("nll"),
                           models_dir=tmp_path)
    loaded = FraudModel.from_loaded(registry.load_model("learned-variance", tmp_path))
    assert loaded.scoring.mode == "nll" and "residual_constraints" not in loaded.info
    rows = synthetic.features.iloc[:300]
    np.testing.assert_allclose(loaded.score(rows), training.model.score(rows), rtol=1e-5)
    x = loaded.preprocessor.transform(rows)
    mu = loaded.vae.encode(x)[0]
    log_var = loaded.vae.decoder_log_var(mu)
    expected = 0.5 * ((x - loaded.vae.decode(mu)) ** 2 * np.exp(-log_var) + log_var + np.log(2 * np.pi))
    np.testing.assert_allclose(loaded.vae.decoder_feature_nll(x, mu), expected, rtol=1e-4, atol=1e-4)
    # The bars a flagged row shows are each feature's part of its score: they add up to it.
    np.testing.assert_allclose(loaded.feature_errors(rows), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(loaded.feature_errors(rows).sum(axis=1), loaded.score(rows), rtol=1e-4, atol=1e-3)
    squared = FraudModel(loaded.vae, loaded.preprocessor, ScoringConfig("mean"), 0.0, {})
    np.testing.assert_allclose(squared.feature_errors(rows), (x - loaded.vae.decode(mu)) ** 2, rtol=1e-5, atol=1e-6)
    by_mode = {mode: FraudModel(loaded.vae, loaded.preprocessor, ScoringConfig(mode, 32), 0.0, {}).score(rows)
               for mode in ("nll", "neg_elbo", "iw_nll")}
    assert all(np.isfinite(s).all() and s.shape == (300,) for s in by_mode.values())
    assert by_mode["iw_nll"].mean() <= by_mode["neg_elbo"].mean()  # the IWAE bound is tighter


def _related_rows(n_rows: int, seed: int) -> pd.DataFrame:
    """Normal rows keep V4 = V1 + V2 − V3 (within 0.02); positives break it by 0.3–0.6, far less than
    each feature's spread (≈ 1–2), so their squared errors alone look ordinary."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n_rows, 3)), columns=["V1", "V2", "V3"])
    positive = rng.random(n_rows) < 0.1
    broken = rng.uniform(0.3, 0.6, n_rows) * rng.choice([-1.0, 1.0], n_rows)
    frame["V4"] = frame.V1 + frame.V2 - frame.V3 + rng.normal(scale=0.02, size=n_rows) + np.where(positive, broken, 0.0)
    frame["V5"] = rng.normal(size=n_rows)
    frame["Amount"] = rng.exponential(50.0, n_rows)
    frame["Class"] = positive.astype(int)
    return frame


def test_the_constrained_score_catches_rows_that_break_a_relation_normal_rows_keep(tmp_path):
    frame = _related_rows(4000, seed=3)
    frame.to_csv(tmp_path / "related.csv", index=False)
    data = read_labelled_csv(tmp_path / "related.csv")
    vae_config = VAEConfig(input_shape=(6,), latent_dim=4, hidden_units=(16,), likelihood="gaussian")
    quick = TrainConfig(epochs=30, batch_size=64, early_stopping_patience=0)
    constrained = train_fraud("related", data, vae_config, quick, models_dir=tmp_path / "models")
    plain = train_fraud(None, data, vae_config, quick, scoring=ScoringConfig("mean"))
    assert constrained.metrics["roc_auc"] > 0.97
    assert plain.metrics["roc_auc"] < constrained.metrics["roc_auc"] - 0.1
    model = FraudModel.from_loaded(registry.load_model("related", tmp_path / "models"))
    assert model.scoring == ScoringConfig("constrained", constraints=1)
    (relation,) = model.constraints.describe(model.feature_names)
    assert set(re.findall(r"·(\w+)", relation.split(" stays")[0])) == {"V1", "V2", "V3", "V4"}
    rows = data.features.iloc[:200]
    np.testing.assert_allclose(model.score(rows), constrained.model.score(rows), rtol=1e-5)
    # The bars a flagged row shows are each feature's part of its score: they add up to it.
    np.testing.assert_allclose(model.feature_errors(rows).sum(axis=1), model.score(rows), rtol=1e-4)
    x = model.preprocessor.transform(rows)
    error = x - model.vae.decode(model.vae.encode(x)[0])
    (u,), (s,) = model.constraints.directions, model.constraints.variances
    np.testing.assert_allclose(model.score(rows), (error ** 2).sum(axis=1) + (1 / s - 1) * (error @ u) ** 2, rtol=1e-4)


def test_damaged_residual_constraints_are_refused(tmp_path):
    frame = _related_rows(1500, seed=4)
    frame.to_csv(tmp_path / "related.csv", index=False)
    vae_config = VAEConfig(input_shape=(6,), latent_dim=2, hidden_units=(8,), likelihood="gaussian")
    train_fraud("related", read_labelled_csv(tmp_path / "related.csv"), vae_config,
                TrainConfig(epochs=1, early_stopping_patience=0), models_dir=tmp_path)
    fraud_file = tmp_path / "related" / FRAUD_FILE
    info = json.loads(fraud_file.read_text())
    for damage, message in ((lambda c: c.update(variances=[0.0]), "not finite positive"),
                            (lambda c: c.update(directions=[[1.0, 0.0]]), "constraints do not read"),
                            (lambda c: c.clear(), "incomplete or invalid")):
        constraints = json.loads(json.dumps(info["residual_constraints"]))
        damage(constraints)
        fraud_file.write_text(json.dumps({**info, "residual_constraints": constraints}))
        with pytest.raises(RegistryError, match=message):
            FraudModel.from_loaded(registry.load_model("related", tmp_path))


def test_each_decoder_variance_saves_and_loads(tmp_path):
    from vae_core.training import fit_vae

    x = np.random.default_rng(0).normal(size=(256, 5)).astype(np.float32)
    for variance in ("unit", "per_feature", "heteroscedastic"):
        config = VAEConfig(input_shape=(5,), latent_dim=2, hidden_units=(8,), likelihood="gaussian",
                           decoder_variance=variance)
        vae = fit_vae(x, config, TrainConfig(epochs=2, early_stopping_patience=0)).model
        registry.save_model(vae, variance.replace("_", "-"), kind="fraud", metadata={}, directory=tmp_path)
        again = registry.load_model(variance.replace("_", "-"), tmp_path).vae
        mu = vae.encode(x)[0]
        np.testing.assert_allclose(again.decoder_nll(x, mu), vae.decoder_nll(x, mu), rtol=1e-6)
        np.testing.assert_allclose(again.importance_weighted_nll(x, n_samples=4),
                                   vae.importance_weighted_nll(x, n_samples=4), rtol=1e-6)
    assert VAEConfig.from_dict({k: v for k, v in config.to_dict().items() if k != "decoder_variance"}
                               ).decoder_variance == "unit"  # configs saved before the field load unchanged
    with pytest.raises(ConfigError, match="Gaussian"):
        VAEConfig(likelihood="bernoulli", decoder_variance="per_feature")


# --- a generic labelled table through the CLI ---------------------------------------------------

def _generic_table(n_rows: int = 1200, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    positive = rng.uniform(size=n_rows) < 0.1
    values = rng.normal(size=(n_rows, 6)) + positive[:, None] * np.array([4.0, -3.0, 0, 0, 2.5, 0])
    frame = pd.DataFrame(values, columns=[f"f{i}" for i in range(6)])
    frame.insert(0, "customer", [f"c{i}" for i in range(n_rows)])  # text: not a feature
    frame["label"] = np.where(positive, "yes", "no")
    return frame


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generic_labelled_csv_trains_evaluates_and_scores_through_the_cli(tmp_path, capsys):
    frame = _generic_table()
    csv = tmp_path / "table.csv"
    frame.to_csv(csv, index=False)
    models = tmp_path / "models"
    code, out, err = _cli(capsys, "train", "--dataset", "fraud", "--data", csv, "--label-column", "label",
                          "--positive", "yes", "--epochs", 4, "--hidden", "8", "--name", "generic",
                          "--models-dir", models, "--json")
    assert code == 0, err
    trained = json.loads(out)
    info = json.loads((models / "generic" / FRAUD_FILE).read_text())
    assert (info["data"]["label_column"], info["data"]["positive"]) == ("label", "yes")
    assert info["threshold"]["strategy"] == "max_f1"  # no Amount column: no money to minimise
    assert json.loads((models / "generic" / "metadata.json").read_text())["features"] == [f"f{i}" for i in range(6)]

    code, out, err = _cli(capsys, "evaluate", "--name", "generic", "--data", csv, "--models-dir", models, "--json")
    assert code == 0, err
    evaluated = json.loads(out)
    assert "held-out test split" in evaluated["evaluated_on"]
    for key in ("roc_auc", "average_precision", "threshold", "precision", "recall", "tp", "fp", "n"):
        assert evaluated[key] == pytest.approx(trained[key]), key
    code, out, err = _cli(capsys, "evaluate", "--name", "generic", "--models-dir", models, "--json")
    assert code == 0 and json.loads(out)["roc_auc"] == pytest.approx(trained["roc_auc"])  # the training file

    relabelled = frame.rename(columns={"label": "truth"}).assign(truth=np.where(frame["label"] == "yes", "Y", "N"))
    relabelled.to_csv(tmp_path / "relabelled.csv", index=False)
    code, out, err = _cli(capsys, "evaluate", "--name", "generic", "--data", tmp_path / "relabelled.csv",
                          "--label-column", "truth", "--positive", "Y", "--models-dir", models, "--json")
    assert code == 0, err
    overridden = json.loads(out)  # the same rows and labels under other names: still the held-out split
    assert "held-out test split" in overridden["evaluated_on"]
    assert (overridden["roc_auc"], overridden["tp"]) == pytest.approx((trained["roc_auc"], trained["tp"]))

    code, out, err = _cli(capsys, "score", "--name", "generic", "--input", csv, "--output", tmp_path / "scored.csv",
                          "--models-dir", models)
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "scored.csv")
    model = FraudModel.from_loaded(registry.load_model("generic", models))
    np.testing.assert_allclose(scored["score"], model.score(frame), rtol=1e-5)
    assert list(scored.columns) == [*frame.columns, "score", "flag"]
    flags, positives = scored["flag"].to_numpy(), (frame["label"] == "yes").to_numpy()
    assert f"'tp': {int((flags & positives).sum())}" in out and f"'fp': {int((flags & ~positives).sum())}" in out


@pytest.mark.parametrize("mangle, args, message", [
    (lambda f: f.drop(columns="label"), [], "missing the column(s) 'label'"),
    (lambda f: f, ["--positive", "fraud"], "should hold two values"),
    (lambda f: f.assign(label="yes"), [], "labelled positive"),
    (lambda f: f.assign(f2=f["f2"].where(f.index != 5, np.nan)), [], "missing"),
])
def test_bad_generic_files_get_one_clear_error_and_save_nothing(tmp_path, capsys, mangle, args, message):
    csv = tmp_path / "bad.csv"
    mangle(_generic_table(200)).to_csv(csv, index=False)
    arguments = ["--label-column", "label", "--positive", "yes", *args] if "--positive" not in args else \
        ["--label-column", "label", *args]
    code, out, err = _cli(capsys, "train", "--dataset", "fraud", "--data", csv, *arguments, "--epochs", 1,
                          "--name", "bad", "--models-dir", tmp_path / "models")
    assert code == 1 and message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


# --- the real subset ----------------------------------------------------------------------------

@pytest.mark.slow
def test_shipped_model_is_the_default_and_reproduces_its_baselines_on_the_real_subset():
    data = read_creditcard(shared_path("creditcard/creditcard_subset.csv"))
    loaded = registry.load_model("fraud-subset", REPO_ROOT / "models")
    model = FraudModel.from_loaded(loaded)
    assert model.scoring == ScoringConfig()
    assert model.vae.vae_config == VAEConfig(**{**default_vae_config(29).to_dict(), "input_shape": (29,)})
    rows = evaluation_rows(model, data)[0]
    labels, amounts = data.labels[rows], data.amount[rows]
    assert labels.mean() == pytest.approx(148 / 1001, abs=0.01)  # the subset's 14.8%, not the full data's 0.172%
    stored = loaded.metadata["metrics"]["baselines"]
    for name, scores in model.baseline_scores(data.features.iloc[rows]).items():
        assert thresholds.ranking_metrics(scores, labels, amounts) == pytest.approx(stored[name])
    validation = model.info["threshold"]["validation_cost"]
    assert model.info["threshold"]["strategy"] == "min_cost"
    assert validation["at_threshold"] <= min(validation["flag_nothing"], validation["flag_everything"])
