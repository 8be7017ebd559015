"""Why a transaction is flagged, and what would make it look normal to the model.

The counterfactual walks the row's latent mean μ in a straight line toward a point of high prior
density (the prior's mode, the origin, unless another target is given): z(α) = μ + α·(target − μ),
α from 0 to 1. Each z(α) is decoded to a transaction in original units and scored by the model as
any transaction is. The counterfactual is the first point of that walk whose score falls under the
threshold, found on a grid of α and refined on a finer grid inside the step where it first does.
At α = 0 the decoded point is the model's reconstruction of the row, often already normal-looking:
then the reconstruction is the answer, and the changes are what the model expected instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vae_core.errors import DataError
from vae_core.fraud import FraudModel


@dataclass(frozen=True)
class Counterfactual:
    """The nearest normal-looking point along the walk from a row's μ toward `target`.

    original, features, change: (d,) in original units (features − original = change);
    standardised_change: (d,) the same change in the model's standardised units (comparable across
    features); z: (latent_dim,) the latent point; alpha: how far along the walk (0 = μ itself);
    path_alpha, path_score: (s,) the walk's coarse grid and each point's score. `found` is False when
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


def counterfactual(model: FraudModel, row: pd.DataFrame, threshold: float, *, target: np.ndarray | None = None,
                   steps: int = 64, refine: int = 64) -> Counterfactual:
    """The counterfactual of one transaction (a one-row frame with the model's feature columns) at
    `threshold`: the first of `steps` evenly spaced points on the walk from μ to `target`
    ((latent_dim,), default the origin) whose decoded transaction scores under the threshold, refined
    over `refine` points within that step (a resolution of 1 / (steps · refine) of the walk)."""
    if len(row) != 1:
        raise DataError(f"A counterfactual explains one transaction; got {len(row)} rows.")
    latent_dim = model.vae.vae_config.latent_dim
    mu = model.latent_mean(row)[0].astype(np.float64)
    goal = np.zeros(latent_dim) if target is None else np.asarray(target, np.float64).reshape(latent_dim)
    threshold = float(threshold)

    def walk(alphas: np.ndarray) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
        z = mu[None, :] + alphas[:, None] * (goal - mu)[None, :]
        frame = decoded_transactions(model, z)
        return z, frame, model.score(frame)

    alphas = np.linspace(0.0, 1.0, steps + 1)
    z, frames, scores = walk(alphas)
    under = np.flatnonzero(scores < threshold)
    found = under.size > 0
    if found and under[0] > 0:
        k = int(under[0])
        fine = np.linspace(alphas[k - 1], alphas[k], refine + 1)[1:]
        z_fine, frames_fine, scores_fine = walk(fine)
        j = int(np.flatnonzero(scores_fine < threshold)[0])  # the last fine point is alphas[k]: under
        alpha, point, decoded, cf_score = float(fine[j]), z_fine[j], frames_fine.iloc[j], float(scores_fine[j])
    else:
        j = int(under[0]) if found else steps
        alpha, point, decoded, cf_score = float(alphas[j]), z[j], frames.iloc[j], float(scores[j])
    names = model.feature_names
    original = row[list(names)].to_numpy(np.float64)[0]
    features = decoded[list(names)].to_numpy(np.float64)
    scaled = model.preprocessor.transform(pd.DataFrame([original, features], columns=list(names)))
    return Counterfactual(
        feature_names=tuple(names), threshold=threshold, score=float(model.score(row[list(names)])[0]),
        counterfactual_score=cf_score, alpha=alpha, z=point.astype(np.float64), original=original,
        features=features, change=features - original,
        standardised_change=(scaled[1] - scaled[0]).astype(np.float64),
        path_alpha=alphas, path_score=np.asarray(scores, np.float64), found=found)
