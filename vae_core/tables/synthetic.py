"""Synthetic credit-card transactions fitted per class to the real ULB subset.

Per class (normal, fraud), V1..V28 and log1p(Amount) follow a Gaussian mixture with full covariances
(96 components for normals, 16 for frauds), and Time follows the class's quantile table (201 levels),
drawn independently of the other columns. Some real frauds look like normal transactions: those the
normal mixture finds at least as likely as the normals' own 1st percentile of log-density (7% of the
subset's frauds) are drawn from the normal mixture, the rest from the fraud mixture.
bench/bench_synthetic.py measures how the shipped fraud model sees these rows against real held-out
ones (`bench/results/synthetic.json`).

`synthetic_creditcard.npz` beside this module holds the fitted parameters, written by
bench/fit_synthetic.py from the 3,335-row subset: mixture weights, means and Cholesky factors,
Time quantiles, the largest log1p(Amount), the normal-like share; no rows.

Data: "Credit Card Fraud Detection", Machine Learning Group, Université Libre de Bruxelles (ULB),
Open Database License (ODbL) 1.0; the parameter file is a database derived from it under the same
licence.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture

COLUMNS: tuple[str, ...] = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount")
PARAMETER_FILE = Path(__file__).with_name("synthetic_creditcard.npz")
N_COMPONENTS = (96, 16)  # normal, fraud
TIME_LEVELS = 201
# A fraud is drawn as a normal row when the normal mixture's log-density of it is above this
# quantile of the normals' own log-densities.
NORMAL_LIKE_QUANTILE = 0.01
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp, so the same fit writes the same bytes


@dataclass(frozen=True)
class Mixture:
    """A Gaussian mixture over d columns: `weights` (k,), `means` (k, d), lower `cholesky` (k, d, d)."""

    weights: np.ndarray
    means: np.ndarray
    cholesky: np.ndarray

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, d) draws."""
        component = rng.choice(len(self.weights), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.means.shape[1]))
        out = np.empty_like(noise)
        for k in range(len(self.weights)):
            rows = np.flatnonzero(component == k)
            # einsum rather than BLAS: the same sums in the same order whatever the thread count
            out[rows] = self.means[k] + np.einsum("ij,kj->ik", noise[rows], self.cholesky[k])
        return out


@dataclass(frozen=True)
class ClassModel:
    """One class: `mixture` over V1..V28 and log1p(Amount), `time` (TIME_LEVELS,) quantiles of Time,
    `log_amount_max` the largest log1p(Amount) seen."""

    mixture: Mixture
    time: np.ndarray
    log_amount_max: float

    def columns(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 29) V1..V28 and Amount in euros (rounded to cents, within [0, the largest seen])."""
        values = self.mixture.sample(n, rng)
        values[:, -1] = np.expm1(np.clip(values[:, -1], 0.0, self.log_amount_max)).round(2)
        return values

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n,) whole seconds drawn from the class's quantile table."""
        return np.interp(rng.uniform(size=n), np.linspace(0.0, 1.0, len(self.time)), self.time).round()


@dataclass(frozen=True)
class Generator:
    """The normal and fraud classes, and the share of frauds drawn from the normal mixture."""

    normal: ClassModel
    fraud: ClassModel
    normal_like_share: float

    def sample(self, n_normal: int, n_fraud: int, rng: np.random.Generator) -> np.ndarray:
        """(n_normal + n_fraud, 30) rows in COLUMNS order: the normals first, then the frauds."""
        n_like = int(rng.binomial(n_fraud, self.normal_like_share))
        values = np.vstack([self.normal.columns(n_normal, rng), self.normal.columns(n_like, rng),
                            self.fraud.columns(n_fraud - n_like, rng)])
        time = np.concatenate([self.normal.times(n_normal, rng), self.fraud.times(n_fraud, rng)])
        return np.column_stack([time, values])

    def save(self, path: Path) -> None:
        """An .npz archive whose bytes depend only on the parameters."""
        arrays = {"normal_like_share": np.float64(self.normal_like_share)}
        for name, part in (("normal", self.normal), ("fraud", self.fraud)):
            arrays |= {f"{name}_weights": part.mixture.weights, f"{name}_means": part.mixture.means,
                       f"{name}_cholesky": part.mixture.cholesky, f"{name}_time": part.time,
                       f"{name}_log_amount_max": np.float64(part.log_amount_max)}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for key, array in arrays.items():
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as handle:
                    np.lib.format.write_array(handle, np.asarray(array, np.float64), allow_pickle=False)

    @classmethod
    def load(cls, path: Path) -> Generator:
        with np.load(path, allow_pickle=False) as arrays:
            parts = [ClassModel(Mixture(arrays[f"{name}_weights"], arrays[f"{name}_means"], arrays[f"{name}_cholesky"]),
                                arrays[f"{name}_time"], float(arrays[f"{name}_log_amount_max"]))
                     for name in ("normal", "fraud")]
            return cls(*parts, float(arrays["normal_like_share"]))


@lru_cache(maxsize=1)
def shipped_generator() -> Generator:
    """The generator fitted to the ULB subset, from PARAMETER_FILE."""
    return Generator.load(PARAMETER_FILE)


def _fit_mixture(values: np.ndarray, n_components: int, seed: int) -> GaussianMixture:
    return GaussianMixture(n_components, covariance_type="full", reg_covar=1e-6, max_iter=300,
                           random_state=seed).fit(values)


def _class_model(mixture: GaussianMixture, time: np.ndarray, log_amount: np.ndarray) -> ClassModel:
    return ClassModel(Mixture(mixture.weights_ / mixture.weights_.sum(), mixture.means_,
                              np.linalg.cholesky(mixture.covariances_)),
                      np.quantile(time, np.linspace(0.0, 1.0, TIME_LEVELS)), float(log_amount.max()))


def fit_generator(features: np.ndarray, labels: np.ndarray, seed: int = 0,
                  n_components: tuple[int, int] = N_COMPONENTS,
                  normal_like_quantile: float | None = NORMAL_LIKE_QUANTILE) -> Generator:
    """Fit both classes: `features` (n, 30) in COLUMNS order, `labels` (n,) with 1 = fraud;
    `n_components` (normal, fraud); `normal_like_quantile` None draws every fraud from the fraud mixture."""
    features, labels = np.asarray(features, np.float64), np.asarray(labels)
    mixed = np.column_stack([features[:, 1:-1], np.log1p(np.maximum(features[:, -1], 0.0))])
    normal, fraud = mixed[labels == 0], mixed[labels == 1]
    normal_mixture = _fit_mixture(normal, n_components[0], seed)
    normal_like = np.zeros(len(fraud), bool)
    if normal_like_quantile is not None:
        cut = np.quantile(normal_mixture.score_samples(normal), normal_like_quantile)
        normal_like = normal_mixture.score_samples(fraud) > cut
    fraud_mixture = _fit_mixture(fraud[~normal_like], n_components[1], seed)
    return Generator(_class_model(normal_mixture, features[labels == 0, 0], normal[:, -1]),
                     _class_model(fraud_mixture, features[labels == 1, 0], fraud[:, -1]),
                     float(normal_like.mean()))
