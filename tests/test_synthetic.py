"""The synthetic credit-card generator: seeded, valid for the schema, and seen by the shipped fraud
model as it sees the real held-out rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import REPO_ROOT, shared_path
from vae_core.tables import synthetic
from vae_core.tables.tabular import CREDITCARD_FEATURES, read_creditcard, make_synthetic_creditcard

LAST_SECOND = 172_792  # the largest Time in the ULB data


def test_the_same_seed_gives_the_same_rows_and_another_seed_others():
    a, b, c = (make_synthetic_creditcard(3000, fraud_fraction=0.1, seed=s) for s in (7, 7, 8))
    pd.testing.assert_frame_equal(a.features, b.features)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not a.features.equals(c.features)


@pytest.mark.parametrize(("n_rows", "fraud_fraction"), [(5000, 0.01), (2001, 0.5), (40, 0.0), (2, 0.25)])
def test_rows_fit_the_schema_and_the_asked_class_shares(n_rows, fraud_fraction):
    data = make_synthetic_creditcard(n_rows, fraud_fraction=fraud_fraction, seed=1)
    values = data.features.to_numpy()
    assert list(data.features.columns) == list(CREDITCARD_FEATURES) and values.shape == (n_rows, 30)
    assert data.synthetic and np.isfinite(values).all()
    assert data.labels.sum() == round(n_rows * fraud_fraction)
    time, amount = data.features["Time"].to_numpy(), data.features["Amount"].to_numpy()
    assert (np.diff(time) >= 0).all() and 0 <= time.min() and time.max() <= LAST_SECOND
    assert (time == time.round()).all()
    assert (amount >= 0).all() and np.allclose(amount, amount.round(2), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(data.amount, amount)


def test_classes_differ_as_in_the_real_data():
    """Frauds: smaller median amount, and far lower V14 and V17, as in the ULB data."""
    data = make_synthetic_creditcard(20_000, fraud_fraction=0.2, seed=2)
    fraud = data.labels == 1
    median = data.features.groupby(fraud).median()
    assert median.loc[True, "Amount"] < median.loc[False, "Amount"]
    assert median.loc[True, "V14"] < median.loc[False, "V14"] - 3
    assert median.loc[True, "V17"] < median.loc[False, "V17"] - 2


def test_the_parameter_file_reads_back_and_is_written_byte_for_byte(tmp_path):
    generator = synthetic.shipped_generator()
    generator.save(tmp_path / "a.npz")
    generator.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    again = synthetic.Generator.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(again.sample(300, 30, np.random.default_rng(4)),
                                  generator.sample(300, 30, np.random.default_rng(4)))
    assert synthetic.PARAMETER_FILE.stat().st_size < 1_000_000


def test_fitting_gives_a_generator_of_the_schema():
    data = make_synthetic_creditcard(1500, fraud_fraction=0.2, seed=3)
    generator = synthetic.fit_generator(data.features.to_numpy(), data.labels, seed=0, n_components=(2, 1))
    assert generator.normal.mixture.means.shape == (2, 29) and generator.fraud.mixture.cholesky.shape == (1, 29, 29)
    assert 0 <= generator.normal_like_share < 1
    rows = generator.sample(400, 100, np.random.default_rng(0))
    assert rows.shape == (500, 30) and (rows[:, -1] >= 0).all()
    assert data.features["Time"].min() <= rows[:, 0].min() and rows[:, 0].max() <= data.features["Time"].max()


@pytest.mark.slow
def test_the_shipped_model_flags_synthetic_normals_as_real_ones_and_ranks_frauds_alike():
    from vae_core import registry
    from vae_core.tables.fraud import FraudModel, evaluation_rows

    data = read_creditcard(shared_path("creditcard/creditcard_subset.csv"))
    model = FraudModel.from_loaded(registry.load_model("fraud-subset", REPO_ROOT / "models"))
    rows = evaluation_rows(model, data)[0]
    labels = data.labels[rows]
    real = model.score(data.features.iloc[rows])
    generated = make_synthetic_creditcard(20_000, fraud_fraction=float(data.labels.mean()), seed=0)
    scores = model.score(generated.features)
    for rate in (0.02, 0.13):
        cut = np.quantile(real[labels == 0], 1 - rate)
        assert (scores[generated.labels == 0] > cut).mean() == pytest.approx(rate, abs=0.02)
    assert roc_auc_score(generated.labels, scores) == pytest.approx(roc_auc_score(labels, real), abs=0.03)
