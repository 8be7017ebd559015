"""Why a transaction is flagged, and what would make it look normal to the model.

The counterfactual walks the row's latent mean μ in a straight line toward a point of high prior
density (the prior's mode, the origin, unless another target is given): z(α) = μ + α·(target − μ),
α from 0 to 1. Each z(α) is decoded to a transaction in original units and scored by the model as
any transaction is. The counterfactual is the first point of that walk whose score falls under the
threshold, on a fine grid of α (1,024 steps by default).
At α = 0 the decoded point is the model's reconstruction of the row, often already normal-looking:
then the reconstruction is the answer, and the changes are what the model expected instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vae_core.errors import DataError
from vae_core.tables.fraud import FraudModel


@dataclass(frozen=True)
class Counterfactual:
    """The nearest normal-looking point along the walk from a row's μ toward `target`.

    original, features, change: (d,) in original units (features − original = change);
    standardised_change: (d,) the same change in the model's standardised units (comparable across
    features); z: (latent_dim,) the latent point; alpha: how far along the walk (0 = μ itself);
    path_alpha, path_score: (s,) the walk's grid and each point's score. `found` is False when
    even the target decodes to a transaction scoring at or above the threshold (then the fields
    describe the target).
    """

    feature_names: tuple[str, ...]
    threshold: float
    score: float
    counterfactual_score: float
    alpha: float
    z: np.ndarray
    original: np.ndarray
    features: np.ndarray
    change: np.ndarray
    standardised_change: np.ndarray
    path_alpha: np.ndarray
    path_score: np.ndarray
    found: bool

    def table(self) -> pd.DataFrame:
        """One row per feature, largest standardised change first: feature, value, counterfactual, change."""
        order = np.argsort(-np.abs(self.standardised_change), kind="stable")
        return pd.DataFrame({"feature": np.asarray(self.feature_names)[order], "value": self.original[order],
                             "counterfactual": self.features[order], "change": self.change[order],
                             "standardised change": self.standardised_change[order]})


def decoded_transactions(model: FraudModel, z: np.ndarray) -> pd.DataFrame:
    """Decode latent points (m, latent_dim) to transactions in original units (m, d), as valid rows:
    log-scaled columns (Amount) are never below 0."""
    frame = model.decode_features(np.asarray(z, np.float32))
    for column in model.preprocessor.log1p_columns:
        frame[column] = frame[column].clip(lower=0.0)
    return frame


@dataclass(frozen=True)
class Walk:
    """The walk from a row's μ toward `target`, decoded and scored once, for any threshold.

    original: (d,) the row in original units, scaled_original (d,) standardised; score: its own score;
    alphas (s,); z (s, latent_dim); features (s, d) decoded transactions in original units, scaled
    (s, d) standardised; scores (s,) each decoded transaction's score.
    """

    feature_names: tuple[str, ...]
    score: float
    original: np.ndarray
    scaled_original: np.ndarray
    alphas: np.ndarray
    z: np.ndarray
    features: np.ndarray
    scaled: np.ndarray
    scores: np.ndarray

    def at(self, threshold: float) -> Counterfactual:
        """The first point of the walk that scores under `threshold` (the last point when none does)."""
        threshold = float(threshold)
        under = np.flatnonzero(self.scores < threshold)
        found = under.size > 0
        j = int(under[0]) if found else len(self.alphas) - 1
        return Counterfactual(
            feature_names=self.feature_names, threshold=threshold, score=self.score,
            counterfactual_score=float(self.scores[j]), alpha=float(self.alphas[j]), z=self.z[j],
            original=self.original, features=self.features[j], change=self.features[j] - self.original,
            standardised_change=self.scaled[j] - self.scaled_original, path_alpha=self.alphas, path_score=self.scores,
            found=found)


def walk(model: FraudModel, row: pd.DataFrame, *, target: np.ndarray | None = None, steps: int = 1024) -> Walk:
    """Decode and score `steps` + 1 evenly spaced points on the walk from μ of `row` (a one-row frame
    with the model's feature columns; α = 0) to `target` ((latent_dim,), default the origin; α = 1),
    in one batch with the row itself: a few model calls."""
    if len(row) != 1:
        raise DataError(f"A counterfactual explains one transaction; got {len(row)} rows.")
    names = list(model.feature_names)
    latent_dim = model.vae.vae_config.latent_dim
    mu = model.latent_mean(row)[0].astype(np.float64)
    goal = np.zeros(latent_dim) if target is None else np.asarray(target, np.float64).reshape(latent_dim)
    alphas = np.linspace(0.0, 1.0, steps + 1)
    z = mu[None, :] + alphas[:, None] * (goal - mu)[None, :]
    frames = decoded_transactions(model, z)[names]
    both = pd.concat([row[names].reset_index(drop=True), frames], ignore_index=True)
    scores = np.asarray(model.score(both), np.float64)
    scaled = model.preprocessor.transform(both).astype(np.float64)
    return Walk(feature_names=tuple(names), score=float(scores[0]), original=both.iloc[0].to_numpy(np.float64),
                scaled_original=scaled[0], alphas=alphas, z=z, features=frames.to_numpy(np.float64), scaled=scaled[1:],
                scores=scores[1:])


def counterfactual(model: FraudModel, row: pd.DataFrame, threshold: float, *, target: np.ndarray | None = None,
                   steps: int = 1024) -> Counterfactual:
    """The counterfactual of one transaction at `threshold`: the first of the `steps` + 1 points on
    the walk (see `walk`) whose decoded transaction scores under the threshold."""
    return walk(model, row, target=target, steps=steps).at(threshold)
