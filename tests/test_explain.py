"""The counterfactual of a flagged transaction, on a tiny real fraud VAE (real ULB rows when
../shared/data has them, else the synthetic generator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vae_core.errors import DataError
from vae_core.tables.explain import counterfactual, decoded_transactions, walk

SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "creditcard" / "creditcard_subset.csv"


@pytest.fixture(scope="module")
def fraud():
    """(model, scored test split) of a fraud VAE (latent 3, 32 hidden units, 4 epochs)."""
    from vae_core import sources
    from vae_core.config import TrainConfig, build_configs
    from vae_core.tables.fraud import score_dataset, train_fraud
    from vae_core.tables.tabular import make_synthetic_creditcard

    data = sources.transactions(SUBSET) if SUBSET.is_file() else make_synthetic_creditcard(3000, 0.1, seed=0)
    model = train_fraud(None, data, build_configs("fraud", latent_dim=3, hidden_units=(32,))[0],
                        TrainConfig(epochs=4, batch_size=64, seed=0)).model
    return model, score_dataset(model, data)


def flagged_frauds(model, scored):
    """Positions of flagged frauds, highest score first."""
    positions = np.flatnonzero((scored.scores >= model.threshold_) & (scored.labels == 1))
    return positions[np.argsort(-scored.scores[positions])]


def score_at(model, cf, alpha: float) -> float:
    mu = model.latent_mean(cf_row(model, cf))[0]
    return float(model.score(decoded_transactions(model, (mu + alpha * (0 - mu))[None, :]))[0])


def cf_row(model, cf):
    import pandas as pd

    return pd.DataFrame([cf.original], columns=list(model.feature_names))


def test_the_counterfactual_scores_under_the_threshold_and_is_the_first_such_point(fraud):
    model, scored = fraud
    position = flagged_frauds(model, scored)[0]
    row = scored.features.iloc[[position]]
    reconstruction = counterfactual(model, row, model.threshold_)
    assert reconstruction.score == pytest.approx(scored.scores[position], rel=1e-5)  # the row's own score
    assert reconstruction.found and reconstruction.counterfactual_score < model.threshold_
    # A threshold under the reconstruction's score forces a walk toward the prior's mode.
    path = walk(model, row, steps=512).scores
    assert path.min() < path[0]
    threshold = float(path[0] + path.min()) / 2
    cf = counterfactual(model, row, threshold, steps=512)
    assert cf.found and 0 < cf.alpha <= 1 and cf.counterfactual_score < threshold
    assert score_at(model, cf, cf.alpha) == pytest.approx(cf.counterfactual_score, rel=1e-4)
    # Every point before it on the walk scores at or above the threshold; the step just before, too.
    before = cf.path_alpha < cf.alpha
    assert before.sum() == round(cf.alpha * 512) and np.all(cf.path_score[before] >= threshold)
    assert score_at(model, cf, cf.alpha - 1 / 512) >= threshold
    np.testing.assert_allclose(cf.z, model.latent_mean(row)[0] * (1 - cf.alpha), rtol=1e-5, atol=1e-6)


def test_the_features_that_stand_out_move_back_toward_normal(fraud):
    model, scored = fraud
    for position in flagged_frauds(model, scored)[:5]:
        row = scored.features.iloc[[position]]
        cf = counterfactual(model, row, model.threshold_)
        standardised = model.preprocessor.transform(row)[0]  # 0 is the training normals' median
        extreme = np.argsort(-np.abs(standardised))[:3]
        assert np.all(np.sign(cf.standardised_change[extreme]) == -np.sign(standardised[extreme])), \
            [model.feature_names[i] for i in extreme]
        assert np.all(np.abs(standardised[extreme] + cf.standardised_change[extreme]) < np.abs(standardised[extreme]))
        np.testing.assert_allclose(cf.change, cf.features - cf.original)
        table = cf.table()
        assert table["feature"].iloc[0] == model.feature_names[int(np.argmax(np.abs(cf.standardised_change)))]
        if "Amount" in model.feature_names:
            assert cf.features[model.feature_names.index("Amount")] >= 0  # a valid transaction


def test_a_threshold_nothing_reaches_says_not_found_and_one_row_only(fraud):
    model, scored = fraud
    row = scored.features.iloc[[flagged_frauds(model, scored)[0]]]
    cf = counterfactual(model, row, float(walk(model, row).scores.min()) - 1.0)  # under every point on the way
    assert not cf.found and cf.alpha == 1.0
    with pytest.raises(DataError, match="one transaction"):
        counterfactual(model, scored.features.iloc[:2], model.threshold_)


def test_one_walk_answers_every_threshold(fraud):
    model, scored = fraud
    row = scored.features.iloc[[flagged_frauds(model, scored)[0]]]
    path = walk(model, row, steps=256)
    for threshold in np.quantile(path.scores, [0.1, 0.5, 0.9]):
        cf = path.at(threshold)
        direct = counterfactual(model, row, threshold, steps=256)
        assert (cf.alpha, cf.found) == (direct.alpha, direct.found)
        np.testing.assert_allclose(cf.features, direct.features, rtol=1e-5, atol=1e-6)
