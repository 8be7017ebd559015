"""Generic labelled tables: scaling that survives constant and near-constant columns, constant columns
refused by name, and the fraud defaults chosen from a table's shape."""

import json

import numpy as np
import pandas as pd
import pytest

from vae_core.config import MODEL_DEFAULTS, TrainConfig, build_configs, fraud_model_defaults
from vae_core.errors import DataError
from vae_core.tables.fraud import SCALED_CLIP, Preprocessor, train_fraud
from vae_core.tables.tabular import TabularDataset

QUICK = TrainConfig(epochs=2, batch_size=64, early_stopping_patience=0)


def awkward_table(n: int = 600, seed: int = 0) -> TabularDataset:
    """Six informative columns, one near-constant column (IQR 0.04, rare values up to 300: the
    issue's case), one mostly-zero column, and positives shifted on the informative ones."""
    rng = np.random.default_rng(seed)
    informative = rng.normal(size=(n, 6))
    near_constant = rng.uniform(0.0, 0.08, n)
    rare = rng.random(n) < 0.03
    near_constant[rare] = rng.uniform(50.0, 300.0, rare.sum())
    mostly_zero = np.where(rng.random(n) < 0.9, 0.0, 1.0)
    labels = (rng.random(n) < 0.1).astype(np.int8)
    informative[labels == 1] += 3.0
    frame = pd.DataFrame(informative, columns=[f"f{j}" for j in range(6)])
    frame["near_constant"], frame["mostly_zero"] = near_constant, mostly_zero
    return TabularDataset(frame, labels, tuple(frame.columns), "generated", label_column="outlier")


def test_near_constant_column_is_scaled_to_bounded_values():
    data = awkward_table()
    normals = data.features[data.labels == 0]
    pre = Preprocessor.fit(normals, data.feature_names)
    x = pre.transform(data.features)
    assert np.isfinite(x).all()
    assert np.abs(x).max() <= SCALED_CLIP == 20.0
    iqr_scale = np.subtract(*np.percentile(normals["near_constant"], [75, 25])) / 1.349
    column = data.feature_names.index("near_constant")
    assert iqr_scale < 0.05  # the IQR alone would put the rare values at ≥ 1,000
    assert pre.scale[column] > 20 * iqr_scale  # the floor from the central 98%'s spread binds
    assert pre.scale[data.feature_names.index("f0")] == pytest.approx(1.0, rel=0.15)  # ordinary columns: IQR/1.349


def test_column_constant_in_training_normals_is_centred_and_clipped():
    frame = pd.DataFrame({"a": np.linspace(-1, 1, 100), "flat": np.full(100, 7.0)})
    pre = Preprocessor.fit(frame, ("a", "flat"))
    assert pre.scale[1] == 1.0 and pre.center[1] == 7.0
    shifted = pre.transform(pd.DataFrame({"a": [0.0, 0.0], "flat": [7.5, 1e6]}))
    assert shifted[:, 1].tolist() == [0.5, 20.0]  # a new value still counts, at most SCALED_CLIP units


def test_old_models_keep_unclipped_scaling():
    saved = {"feature_names": ["a"], "log1p_columns": [], "center": [0.0], "scale": [1.0], "scaling": "robust"}
    pre = Preprocessor.from_dict(saved)
    assert pre.clip is None
    assert pre.transform(pd.DataFrame({"a": [500.0]}))[0, 0] == 500.0


def test_constant_column_is_refused_by_name():
    data = awkward_table()
    frame = data.features.assign(site=3.0, unit=0.0)
    table = TabularDataset(frame, data.labels, tuple(frame.columns), "generated", label_column="outlier")
    with pytest.raises(DataError, match=r"2 feature column\(s\) hold one value in every row: 'site' \(always 3\), "
                                        r"'unit' \(always 0\)"):
        train_fraud(None, table, train_config=QUICK)
    empty = TabularDataset(frame.assign(site=np.nan, unit=1.0 * np.arange(len(frame))), data.labels,
                           tuple(frame.columns), "generated", label_column="outlier")
    with pytest.raises(DataError, match=r"Feature column\(s\) 'site' have no values \(every row is empty\)"):
        train_fraud(None, empty, train_config=QUICK)


def test_training_on_awkward_table_has_sane_first_epoch_kl():
    training = train_fraud(None, awkward_table(), train_config=QUICK)
    assert training.metadata["latent_dim"] == 2  # 8 features: the shape rule's floor of 2
    first_kl = training.result.history["kl"][0]
    assert 0 < first_kl < 50  # nats per row; the IQR-only scaling gave 1e11 on such a table
    assert training.metrics["roc_auc"] > 0.9  # the shift on six informative columns is found


@pytest.mark.parametrize(("n_features", "latent"), [(1, 2), (6, 2), (9, 2), (10, 2), (12, 3), (13, 4), (18, 6), (21, 7), (29, 10), (64, 10)])
def test_latent_size_follows_the_feature_count(n_features, latent):
    assert fraud_model_defaults(n_features)["latent_dim"] == latent
    model, _ = build_configs("fraud", n_features=n_features)
    assert model.latent_dim == latent and model.input_shape == (n_features,)
    assert model.hidden_units == MODEL_DEFAULTS["fraud"]["hidden_units"]


def test_given_settings_override_the_shape_rule():
    assert build_configs("fraud", n_features=6, latent_dim=5)[0].latent_dim == 5
    assert build_configs("fraud")[0].latent_dim == 10  # no shape: the credit-card schema's default


def test_cli_train_on_a_narrow_table_uses_the_shape_rule(tmp_path, capsys):
    from vae_core.cli import main

    awkward_table().to_frame("outlier").to_csv(tmp_path / "narrow.csv", index=False)
    assert main(["train", "--dataset", "fraud", "--data", str(tmp_path / "narrow.csv"), "--label-column", "outlier",
                 "--name", "narrow", "--models-dir", str(tmp_path / "models"), "--epochs", "2", "--json"]) == 0
    capsys.readouterr()
    saved = json.loads((tmp_path / "models" / "narrow" / "metadata.json").read_text())
    assert saved["latent_dim"] == 2
