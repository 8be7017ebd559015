"""Credit-card fraud with a tabular VAE, in the five steps the app teaches:

1. train the VAE on normal transactions (train split, normal rows only);
2. visualise the latent representations (`FraudModel.latent_mean`);
3. compute reconstruction errors (`FraudModel.score`, higher = more anomalous);
4. choose a threshold on the validation split (`vae_core.tables.thresholds` strategies);
5. evaluate on the held-out test split, whose frauds never touch training or threshold choice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np
import pandas as pd

from vae_core.tables import thresholds
from vae_core.tables.advice import VAE as VAE_SCORER, validation_comparison
from vae_core.config import TrainConfig, VAEConfig, build_configs, check_fraud_config
from vae_core.errors import ConfigError, DataError, RegistryError, VAEError
from vae_core import sources
from vae_core.tables.baselines import Baseline, baseline_from_dict, fit_baselines
from vae_core.tables.tabular import (AMOUNT_COLUMN, CREDITCARD_FEATURES, CREDITCARD_LABEL, Split, TabularDataset, csv_header,
                              label_key, normal_rows, stratified_split)
from vae_core.training import ProgressCallback, TrainResult, fit_vae

if TYPE_CHECKING:
    from vae_core.model import VAE
    from vae_core.registry import LoadedModel

KIND = "fraud"
FRAUD_FILE = "fraud.json"
# Fraud prevalence of the real development subset and of the full ULB data.
SUBSET_PREVALENCE, FULL_PREVALENCE = 0.148, 0.00172
PREVALENCE_NOTE = ("Precision, average precision and alert counts depend on fraud prevalence: 14.8% in the "
                   "real development subset, 0.172% in the full ULB data (284,807 rows). ROC AUC does not.")
ScoreMode = Literal["constrained", "mean", "sampled", "nll", "neg_elbo", "iw_nll"]
SCORE_MODES: tuple[str, ...] = ("constrained", "mean", "sampled", "nll", "neg_elbo", "iw_nll")
# A residual variance below this (1% of a standardised unit's standard deviation, squared) counts as
# this much, so that an exactly kept relation (e.g. a copied column) cannot make rounding errors infinite.
CONSTRAINT_VARIANCE_FLOOR = 1e-4
Scaling = Literal["robust", "standard"]
# Robust scaling's scale is at least this fraction of the spread of a column's central 98%: it binds
# only where that spread is over 5× what the IQR implies (at most 3.9× on the credit-card subset).
SCALE_FLOOR = 0.2
# Scaled values are clipped to ±this many scale units: a rare extreme value still counts as far out,
# but cannot dominate training (first-epoch KL of 1e11 nats) or every score.
SCALED_CLIP = 20.0
# Each strategy's default parameters; every one is computed on validation data at training time.
DEFAULT_STRATEGY_PARAMS: dict[str, dict[str, Any]] = {
    "max_f1": {},
    "percentile": {"contamination": 0.01},
    "precision_at_recall": {"min_recall": 0.8},
    "fpr_cap": {"max_fpr": 0.01},
    "alert_budget": {"per_thousand": 10.0},
    "min_cost": {},
}


def data_fingerprint(data: TabularDataset) -> str:
    """SHA-256 of the feature values and labels: tells whether a file is the one a model trained on."""
    digest = hashlib.sha256()
    digest.update(",".join(data.feature_names).encode())
    digest.update(np.ascontiguousarray(data.features.to_numpy(np.float64)).tobytes())
    if data.labels is not None:
        digest.update(np.ascontiguousarray(data.labels, dtype=np.int8).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Preprocessor:
    """Fitted on training normals only: log1p on `log1p_columns`, then centring and scaling.

    scaling "robust" (default): median and IQR/1.349 (the standard deviation for Gaussian data),
    so the heavy tails of normal transactions do not shrink the features where frauds stand out;
    with an IQR of 0 the standard deviation; and never below SCALE_FLOOR of (q99 − q1)/4.653 (the
    standard deviation for Gaussian data, from the central 98%), so a near-constant column (an IQR
    tiny beside its spread) cannot blow its values up to hundreds; "standard": mean and standard
    deviation. A column constant over the training normals is centred only (scale 1).
    transform: frame (n, ≥d) → float32 (n, d) in `feature_names` order, clipped to ±`clip`
    (None: no clipping, as in models saved before clipping was added).
    """

    feature_names: tuple[str, ...]
    log1p_columns: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    scaling: Scaling = "robust"
    clip: float | None = None

    @classmethod
    def fit(cls, frame: pd.DataFrame, feature_names: tuple[str, ...],
            log1p_columns: tuple[str, ...] = (AMOUNT_COLUMN,), scaling: Scaling = "robust") -> Preprocessor:
        if scaling not in ("robust", "standard"):
            raise ConfigError(f"Scaling must be 'robust' or 'standard', got {scaling!r}.")
        log1p_columns = tuple(c for c in log1p_columns if c in feature_names)
        values = cls._log(frame[list(feature_names)].to_numpy(np.float64, copy=True), feature_names, log1p_columns)
        if scaling == "robust":
            q1, q25, center, q75, q99 = np.percentile(values, [1, 25, 50, 75, 99], axis=0)
            scale = (q75 - q25) / 1.349
            scale = np.where(scale > 1e-12, scale, values.std(axis=0))  # IQR 0, e.g. a mostly-zero column
            scale = np.maximum(scale, SCALE_FLOOR * (q99 - q1) / 4.653)
        else:
            center, scale = values.mean(axis=0), values.std(axis=0)
        scale[scale < 1e-12] = 1.0
        return cls(tuple(feature_names), log1p_columns, tuple(center), tuple(scale), scaling, SCALED_CLIP)

    @staticmethod
    def check_columns(frame: pd.DataFrame, feature_names: tuple[str, ...]) -> None:
        """DataError naming the feature columns that are empty or hold one value in every row of
        `frame` (the whole table): they cannot tell a positive from a normal row."""
        values = frame[list(feature_names)].to_numpy(np.float64)
        empty = [name for name, column in zip(feature_names, values.T) if np.isnan(column).all()]
        if empty:
            raise DataError(f"Feature column(s) {', '.join(map(repr, empty))} have no values (every row is empty); "
                            "fill them in or leave them out of the table.")
        constant = [name for name, low, high in zip(feature_names, values.min(axis=0), values.max(axis=0))
                    if low == high]
        if constant:
            shown = ", ".join(f"{name!r} (always {values[0, feature_names.index(name)]:g})" for name in constant[:10])
            more = f" and {len(constant) - 10} more" if len(constant) > 10 else ""
            raise DataError(f"{len(constant)} feature column(s) hold one value in every row: {shown}{more}. "
                            "A constant column cannot tell positives from normal rows; leave it out of the table.")

    @staticmethod
    def _log(values: np.ndarray, names: tuple[str, ...], log1p_columns: tuple[str, ...]) -> np.ndarray:
        for column in log1p_columns:
            index = names.index(column)
            values[:, index] = np.log1p(np.maximum(values[:, index], 0.0))
        return values

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise DataError(f"The data lacks the model's feature column(s): {', '.join(missing)}.")
        values = self._log(frame[list(self.feature_names)].to_numpy(np.float64, copy=True),
                           self.feature_names, self.log1p_columns)
        scaled = (values - np.asarray(self.center)) / np.asarray(self.scale)
        if self.clip is not None:
            scaled = np.clip(scaled, -self.clip, self.clip)
        return scaled.astype(np.float32)

    def inverse_transform(self, x: np.ndarray) -> pd.DataFrame:
        """float (n, d) in model space → frame in original units (expm1 undoes log1p)."""
        values = np.asarray(x, np.float64) * np.asarray(self.scale) + np.asarray(self.center)
        for column in self.log1p_columns:
            index = self.feature_names.index(column)
            values[:, index] = np.expm1(values[:, index])
        return pd.DataFrame(values, columns=list(self.feature_names))

    def to_dict(self) -> dict[str, Any]:
        return {"feature_names": list(self.feature_names), "log1p_columns": list(self.log1p_columns),
                "center": list(self.center), "scale": list(self.scale), "scaling": self.scaling, "clip": self.clip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        return cls(tuple(data["feature_names"]), tuple(data["log1p_columns"]),
                   tuple(data["center"]), tuple(data["scale"]),
                   data.get("scaling", "standard"),  # models saved before robust scaling was added
                   data.get("clip"))


@dataclass(frozen=True)
class ScoringConfig:
    """How a transaction's anomaly score is computed from the VAE (higher = more anomalous).

    constrained: the squared error of the reconstruction decoded from μ after whitening it along the
    `constraints` directions in which the training normals' errors vary least (`ResidualConstraints`):
    normal rows keep linear relations that frauds break, and this weighs a broken one by how tightly
    normal rows keep it; deterministic;
    mean: squared error of the reconstruction decoded from μ, in standardised units (deterministic;
    a learned decoder variance shapes what the model reconstructs but does not weigh the errors);
    sampled: mean squared error over `n_samples` draws of z ~ q(z|x);
    nll: −log p(x|z = μ) under the decoder's Gaussian, learned variance included (deterministic);
    neg_elbo: the −ELBO, E_q[−log p(x|z)] over `n_samples` draws plus KL(q(z|x) ‖ p(z));
    iw_nll: −log p(x) estimated with `n_samples` importance samples (the IWAE bound).
    Sampling modes use a fixed seed, so scores are repeatable.
    """

    mode: ScoreMode = "constrained"
    n_samples: int = 8
    constraints: int = 1

    def __post_init__(self) -> None:
        if self.mode not in SCORE_MODES:
            raise ConfigError(f"Score mode must be one of {', '.join(SCORE_MODES)}, got {self.mode!r}.")
        if not 1 <= self.n_samples <= 256:
            raise ConfigError("Score samples must be from 1 to 256.")
        if not 1 <= self.constraints <= 64:
            raise ConfigError("The number of constraint directions must be from 1 to 64.")


@dataclass(frozen=True)
class ResidualConstraints:
    """Linear relations that normal rows keep, seen in their reconstruction errors r = x − decode(μ(x)):
    the k directions `directions` (k, d) (orthonormal rows) in which r varies least over the training
    normals, and that variance `variances` (k,), floored at CONSTRAINT_VARIANCE_FLOOR and capped at 1.

    `whiten` maps r to Σ^(−1/2) r for Σ = I except variance s_j along u_j, so that
    ‖whiten(r)‖² = ‖r‖² + Σ_j (1/s_j − 1)(u_jᵀr)² is −2 log N(r; 0, Σ) up to a constant.
    """

    directions: np.ndarray
    variances: np.ndarray

    @classmethod
    def fit(cls, residuals: np.ndarray, k: int = 1) -> ResidualConstraints:
        """From the training normals' errors (n, d), n ≥ 2."""
        residuals = np.asarray(residuals, np.float64)
        values, vectors = np.linalg.eigh(np.atleast_2d(np.cov(residuals, rowvar=False)))
        k = min(int(k), len(values))
        return cls(np.ascontiguousarray(vectors[:, :k].T),
                   np.clip(values[:k], CONSTRAINT_VARIANCE_FLOOR, 1.0))

    def whiten(self, residuals: np.ndarray) -> np.ndarray:
        """(n, d) errors → (n, d) errors whitened along the constraint directions."""
        residuals = np.asarray(residuals, np.float64)
        along = residuals @ self.directions.T  # (n, k)
        return residuals + (along * (1.0 / np.sqrt(self.variances) - 1.0)) @ self.directions

    def to_dict(self) -> dict[str, Any]:
        return {"directions": self.directions.tolist(), "variances": self.variances.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResidualConstraints:
        directions = np.atleast_2d(np.asarray(data["directions"], np.float64))
        variances = np.asarray(data["variances"], np.float64).reshape(-1)
        if len(variances) != len(directions) or not (np.isfinite(directions).all() and np.isfinite(variances).all()
                                                      and (variances > 0).all()):
            raise ValueError("constraint directions and variances do not match or are not finite positive numbers")
        return cls(directions, variances)

    def describe(self, feature_names: tuple[str, ...], terms: int = 5, smallest_weight: float = 0.1) -> list[str]:
        """Each relation as text over standardised features, its `terms` largest weights (those of at
        least `smallest_weight`) first, the largest positive: '0.58·V17 + 0.35·V14 − 0.34·V12 … stays
        within ±0.06 (one standard deviation)'."""
        lines = []
        for direction, variance in zip(self.directions, self.variances):
            direction = direction * np.sign(direction[np.argmax(np.abs(direction))])
            weighty = [j for j in np.argsort(-np.abs(direction)) if abs(direction[j]) >= smallest_weight]
            parts = [f"{'−' if direction[j] < 0 else '+'} {abs(direction[j]):.2f}·{feature_names[j]}"
                     for j in weighty[:terms]]
            more = " …" if len(weighty) > terms else ""
            lines.append(f"{' '.join(parts)[2:]}{more} stays within ±{np.sqrt(variance):.2f} (one standard deviation)")
        return lines


class FraudModel:
    """A trained tabular VAE with its preprocessing, scoring settings, default threshold and the
    baselines fitted beside it."""

    def __init__(self, vae: VAE, preprocessor: Preprocessor, scoring: ScoringConfig,
                 threshold: float, info: dict[str, Any], baselines: tuple[Baseline, ...] = (),
                 constraints: ResidualConstraints | None = None):
        if scoring.mode == "constrained" and constraints is None:
            raise ConfigError("Constrained scoring needs the constraints fitted on the training normals' errors.")
        self.vae = vae
        self.preprocessor = preprocessor
        self.scoring = scoring
        self.constraints = constraints
        self.threshold_ = float(threshold)
        self.info = info  # the saved fraud.json: split, data fingerprint, threshold strategy, …
        self.baselines = baselines

    @classmethod
    def from_loaded(cls, loaded: LoadedModel) -> FraudModel:
        if loaded.kind != KIND or FRAUD_FILE not in loaded.extras:
            raise RegistryError(f"Model {loaded.name!r} is not a fraud model.")
        info = loaded.extras[FRAUD_FILE]
        try:
            constraints = (ResidualConstraints.from_dict(info["residual_constraints"])
                           if "residual_constraints" in info else None)
            model = cls(loaded.vae, Preprocessor.from_dict(info["preprocessor"]),
                        ScoringConfig(**info["scoring"]), info["threshold"]["value"], info,
                        tuple(baseline_from_dict(entry) for entry in info.get("baselines", [])), constraints)
            split, data = info["split"], info["data"]
            _ = (split["seed"], split["test_fraction"], split["val_fraction"], data["synthetic"],
                 info["threshold"]["strategy"])
        except (KeyError, TypeError, ValueError, VAEError) as exc:
            raise RegistryError(f"Model {loaded.name!r} has an incomplete or invalid {FRAUD_FILE} ({exc}).") from exc
        model._check_consistent(loaded.name)
        return model

    def _check_consistent(self, name: str) -> None:
        """Scoring needs preprocessing that fits the network: d features in, d statistics, finite numbers."""
        prep, n_inputs = self.preprocessor, int(np.prod(self.vae.vae_config.input_shape))
        sizes = {len(prep.feature_names), len(prep.center), len(prep.scale)}
        try:
            center, scale = np.asarray(prep.center, np.float64), np.asarray(prep.scale, np.float64)
        except (TypeError, ValueError):
            center = scale = np.array([np.nan])
        problem = None
        if sizes != {n_inputs}:
            problem = f"its preprocessing has {sorted(sizes)} features but the network takes {n_inputs}"
        elif not (np.isfinite(center).all() and np.isfinite(scale).all() and (scale > 0).all()):
            problem = "its preprocessing statistics are not finite positive numbers"
        elif not np.isfinite(self.threshold_):
            problem = "its threshold is not a finite number"
        elif any(column not in prep.feature_names for column in prep.log1p_columns):
            problem = "its preprocessing names columns that are not features"
        elif any(baseline.n_features != n_inputs for baseline in self.baselines):
            problem = f"a stored baseline does not read the model's {n_inputs} features"
        elif self.constraints is not None and self.constraints.directions.shape[1] != n_inputs:
            problem = f"its residual constraints do not read the model's {n_inputs} features"
        if problem:
            raise RegistryError(f"Model {name!r} has an inconsistent {FRAUD_FILE}: {problem}.")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.preprocessor.feature_names

    @property
    def label_column(self) -> str:
        """The label column of the training file ("Class" for models saved before it was recorded)."""
        return self.info.get("data", {}).get("label_column", CREDITCARD_LABEL)

    @property
    def deployment(self) -> dict[str, Any]:
        """{"value", "source"}: the share of positives the model is deployed at (saved at training; for
        models saved before it was, `deployment_prevalence`'s default for their features and data)."""
        return self.info.get("deploy_prevalence") or deployment_prevalence(
            self.feature_names, self.info.get("data", {}).get("prevalence") or FULL_PREVALENCE)

    @property
    def deploy_prevalence(self) -> float:
        return float(self.deployment["value"])

    @property
    def deploy_prevalence_source(self) -> str:
        """Where `deploy_prevalence` comes from, for people."""
        return str(self.deployment["source"])

    @property
    def positive(self) -> str | int:
        """The label value that marked positives (fraud) in the training file."""
        return self.info.get("data", {}).get("positive", 1)

    def training_file(self) -> Path | None:
        """The CSV the model was trained on, when its recorded source is a file that still exists."""
        return sources.recorded_file(str(self.info.get("data", {}).get("source", "")))

    def baseline_scores(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each stored baseline's anomaly score for these rows, on the model's preprocessed features
        (higher = more anomalous): name ("PCA(10)", "IsolationForest") → (n,); {} when the model was
        saved without baselines."""
        if not self.baselines:
            return {}
        x = self.preprocessor.transform(frame)
        return {baseline.name: baseline.score(x) for baseline in self.baselines}

    @property
    def scorers(self) -> tuple[str, ...]:
        """Who can score rows: the VAE ("VAE") and each stored baseline by name."""
        return (VAE_SCORER, *(baseline.name for baseline in self.baselines))

    def scorer_threshold(self, scorer: str) -> float | None:
        """The threshold chosen on validation for `scorer` (the model's own for the VAE); None for a
        baseline of a model saved before baselines got thresholds."""
        if scorer == VAE_SCORER:
            return self.threshold_
        chosen = self.info.get("baseline_thresholds", {}).get(scorer)
        return None if chosen is None else float(chosen["value"])

    def score_with(self, frame: pd.DataFrame, scorer: str) -> np.ndarray:
        """Anomaly scores (n,) of these rows by `scorer` (see `scorers`)."""
        if scorer == VAE_SCORER:
            return self.score(frame)
        scores = self.baseline_scores(frame)
        if scorer not in scores:
            raise ConfigError(f"Unknown scorer {scorer!r}; this model has {', '.join(self.scorers)}.")
        return scores[scorer]

    @property
    def feature_error_unit(self) -> str:
        """What `feature_errors` measures, for axis titles."""
        if self.scoring.mode == "nll":
            return "−log p(x_j | z = μ) (nats)"
        if self.scoring.mode == "constrained":
            return "squared error, whitened along normal rows' relations (standardised units)"
        return "squared error (standardised units)"

    def feature_errors(self, frame: pd.DataFrame) -> np.ndarray:
        """Each feature's part of the anomaly: (n, d). Score mode "nll": −log p(x_j | z = μ) in nats;
        "constrained": the squared whitened error (`ResidualConstraints.whiten`), so the features of a
        broken relation share its weight; otherwise the squared reconstruction error in standardised
        units (the mean over draws for "sampled"). Rows sum to the score in the "nll", "constrained",
        "mean" and "sampled" modes."""
        x = self.preprocessor.transform(frame)
        mu, log_var = self.vae.encode(x)
        if self.scoring.mode == "nll":
            return self.vae.decoder_feature_nll(x, mu)
        if self.scoring.mode == "constrained":
            return (self.constraints.whiten(x - self.vae.decode(mu)) ** 2).astype(np.float32)
        if self.scoring.mode != "sampled":
            return (x - self.vae.decode(mu)) ** 2
        rng = np.random.default_rng(0)
        errors = np.zeros_like(x)
        for _ in range(self.scoring.n_samples):
            z = mu + np.exp(0.5 * log_var) * rng.standard_normal(mu.shape).astype(np.float32)
            errors += (x - self.vae.decode(z)) ** 2
        return errors / self.scoring.n_samples

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Anomaly score per transaction (see ScoringConfig; higher = more anomalous): (n,)."""
        mode, n_samples = self.scoring.mode, self.scoring.n_samples
        if mode in ("constrained", "mean", "sampled"):
            return self.feature_errors(frame).sum(axis=1)
        x = self.preprocessor.transform(frame)
        if mode == "nll":
            return self.vae.decoder_nll(x, self.vae.encode(x)[0])
        if mode == "neg_elbo":
            return self.vae.per_example_losses(x, n_samples=n_samples)["neg_elbo"]
        return self.vae.importance_weighted_nll(x, n_samples=n_samples)

    def latent_mean(self, frame: pd.DataFrame) -> np.ndarray:
        """μ of q(z|x) per transaction: (n, latent_dim)."""
        return self.vae.encode(self.preprocessor.transform(frame))[0]

    def decode_features(self, z: np.ndarray) -> pd.DataFrame:
        """Decoded transactions in original units: z (n, latent_dim) → frame (n, d)."""
        return self.preprocessor.inverse_transform(self.vae.decode(np.atleast_2d(z)))


@dataclass
class FraudTraining:
    """A finished (or cancelled) fraud training; `saved_to` is None when nothing was saved."""

    result: TrainResult
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    saved_to: Path | None
    model: FraudModel | None = None


def model_features(feature_names: tuple[str, ...], include_time: bool = False) -> tuple[str, ...]:
    """The columns a fraud model reads: every feature but `Time` (seconds since the first transaction,
    which describes when the data was collected, not the transaction) unless `include_time`."""
    return tuple(name for name in feature_names if include_time or name != "Time")


def deployment_prevalence(feature_names: tuple[str, ...], data_prevalence: float,
                          given: float | None = None) -> dict[str, Any]:
    """The share of positives a model will meet where it is deployed, and where that figure comes from:
    `given`; else 0.172% (the full ULB data's) for the credit-card schema (V1…V28 and Amount among
    the features); else the training data's own `data_prevalence`. {"value", "source"}."""
    if given is not None:
        return {"value": thresholds.check_prevalence(given), "source": "given"}
    if set(CREDITCARD_FEATURES) - {"Time"} <= set(feature_names):
        return {"value": FULL_PREVALENCE, "source": "the full ULB credit-card data's 0.172% (credit-card schema default)"}
    return {"value": thresholds.check_prevalence(data_prevalence, "The training data's prevalence"),
            "source": "the training data's prevalence (no deployment prevalence was given)"}


def choose_thresholds(scores: np.ndarray, labels: np.ndarray, amounts: np.ndarray | None, prevalence: float,
                      strategy: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Step 4 on validation rows (scores, labels, amounts: (n,)), every strategy deciding at the
    deployment `prevalence` (rows reweighted): (the threshold in force {"value", "strategy", "params",
    "chosen_on", "prevalence", "validation_cost"…}, every strategy's threshold {name: {"value", "params"}})."""
    threshold = thresholds.run_strategy(strategy, params, scores, labels, amounts, prevalence=prevalence)
    by_strategy = {}
    for name, strategy_params in {**DEFAULT_STRATEGY_PARAMS, strategy: params}.items():
        try:
            value = thresholds.run_strategy(name, strategy_params, scores, labels, amounts, prevalence=prevalence)
        except VAEError:
            continue  # e.g. min_cost without amounts
        by_strategy[name] = {"value": value, "params": strategy_params}
    chosen = {"value": threshold, "strategy": strategy, "params": params, "chosen_on": "validation split",
              "prevalence": prevalence}
    naive = thresholds.naive_costs(labels, amounts)
    if naive is not None:
        chosen["validation_cost"] = {
            "at_threshold": thresholds.evaluate_at_threshold(scores, labels, threshold, amounts)["cost"], **naive}
        deployed = thresholds.at_deployment(scores, labels, threshold, amounts, prevalence=prevalence)
        chosen["validation_cost_at_deployment"] = {
            "per": deployed["per"], "at_threshold": deployed["cost"], "flag_nothing": deployed["flag_nothing"],
            "flag_everything": deployed["flag_everything"]}
    return chosen, by_strategy


def default_threshold_strategy(amounts: np.ndarray | None) -> str:
    """min_cost when the rows have amounts (money decides), else max_f1."""
    return "max_f1" if amounts is None else "min_cost"


def train_fraud(name: str | None, data: TabularDataset, vae_config: VAEConfig | None = None,
                train_config: TrainConfig | None = None, *, models_dir: str | os.PathLike | None = None,
                scoring: ScoringConfig = ScoringConfig(), threshold_strategy: str | None = None,
                threshold_params: dict[str, Any] | None = None, test_fraction: float = 0.3,
                val_fraction: float = 0.15, split_seed: int = 0, include_time: bool = False,
                deploy_prevalence: float | None = None, on_progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None, may_save: Callable[[], bool] | None = None) -> FraudTraining:
    """Steps 1, 4 and 5: split, train on train-split normals, pick the threshold on validation,
    report test metrics, and save as `name` (skipped when name is None or cancelled).

    `vae_config` defaults to the fraud defaults for the table's feature count
    (config.fraud_model_defaults); its input shape is set here. `threshold_strategy` None picks
    `default_threshold_strategy`; every strategy decides at
    the deployment prevalence (`deployment_prevalence`; `deploy_prevalence` overrides its default),
    which is saved with the model. A `Time` column (seconds
    since the first transaction) is left out unless `include_time`: it describes when the data was
    collected, not the transaction. How `data` was labelled (its label column and positive value)
    is saved, so that evaluation reads new files the same way. PCA(10) and IsolationForest are
    fitted on the same preprocessed training normals, saved with the model and measured on the
    same test rows.
    """
    from vae_core import registry

    if name is not None:
        registry.check_new_name(name, models_dir)
    if data.labels is None:
        raise DataError("Training a fraud model needs labelled data (a label column), to hold out frauds "
                        "for validation and testing.")
    threshold_params = dict(threshold_params or {})
    features = model_features(data.feature_names, include_time)
    split = stratified_split(data.labels, test_fraction=test_fraction, val_fraction=val_fraction, seed=split_seed)
    Preprocessor.check_columns(data.features, features)
    deployment = deployment_prevalence(features, data.prevalence, deploy_prevalence)
    default_model, default_training = build_configs("fraud", n_features=len(features))
    train_config = train_config or default_training
    vae_config = dataclasses.replace(vae_config or default_model, input_shape=(len(features),))
    check_fraud_config(vae_config)
    labels = data.labels.astype(np.int64)
    train_normals, val_normals = normal_rows(split.train_idx, labels), normal_rows(split.val_idx, labels)
    frame = data.features
    preprocessor = Preprocessor.fit(frame.iloc[train_normals], features)
    x_train = preprocessor.transform(frame.iloc[train_normals])
    result = fit_vae(x_train, vae_config, train_config,
                     x_val=preprocessor.transform(frame.iloc[val_normals]) if len(val_normals) else None,
                     on_progress=on_progress, cancel=cancel)
    if result.cancelled:
        return FraudTraining(result, {}, {}, None)

    constraints = None
    if scoring.mode == "constrained":
        constraints = ResidualConstraints.fit(x_train - result.model.decode(result.model.encode(x_train)[0]),
                                              scoring.constraints)
    provisional = FraudModel(result.model, preprocessor, scoring, np.inf, {}, constraints=constraints)
    amounts = data.amount
    val_scores = provisional.score(frame.iloc[split.val_idx])
    val_labels, val_amounts = labels[split.val_idx], None if amounts is None else amounts[split.val_idx]
    threshold_strategy = threshold_strategy or default_threshold_strategy(amounts)
    threshold_info, by_strategy = choose_thresholds(val_scores, val_labels, val_amounts, deployment["value"],
                                                    threshold_strategy, threshold_params)
    threshold = threshold_info["value"]
    test_rows, test_labels = frame.iloc[split.test_idx], labels[split.test_idx]
    test_amounts = None if amounts is None else amounts[split.test_idx]
    test_scores = provisional.score(test_rows)
    metrics = {**thresholds.evaluate_at_threshold(test_scores, test_labels, threshold, test_amounts,
                                                  prevalence=deployment["value"]),
               **thresholds.ranking_metrics(test_scores, test_labels, test_amounts)}
    baselines = fit_baselines(x_train, seed=train_config.seed)
    x_test = preprocessor.transform(test_rows)
    baseline_metrics = {baseline.name: thresholds.ranking_metrics(baseline.score(x_test), test_labels, test_amounts)
                        for baseline in baselines}
    # Honest advice (vae_core.tables.advice): every scorer on the validation split, with paired bootstrap intervals.
    x_val = preprocessor.transform(frame.iloc[split.val_idx])
    val_baseline_scores = {b.name: b.score(x_val) for b in baselines}
    comparison = validation_comparison({VAE_SCORER: val_scores, **val_baseline_scores}, val_labels, seed=split_seed)
    baseline_thresholds = {name: choose_thresholds(values, val_labels, val_amounts, deployment["value"],
                                                   threshold_strategy, threshold_params)[0]
                           for name, values in val_baseline_scores.items()}
    info = {
        "preprocessor": preprocessor.to_dict(),
        "scoring": {"mode": scoring.mode, "n_samples": scoring.n_samples, "constraints": scoring.constraints},
        "threshold": threshold_info,
        "thresholds_by_strategy": by_strategy,
        "deploy_prevalence": deployment,
        "baseline_thresholds": baseline_thresholds,
        "split": {**split.to_dict(), "n_train": len(split.train_idx), "n_val": len(split.val_idx),
                  "n_test": len(split.test_idx), "n_train_normals_used": len(train_normals)},
        "data": {"source": data.source, "synthetic": data.synthetic, "n_rows": len(data),
                 "fingerprint": data_fingerprint(data), "prevalence": data.prevalence,
                 "label_column": data.label_column, "positive": data.positive},
        "baselines": [baseline.to_dict() for baseline in baselines],
        **({"residual_constraints": constraints.to_dict()} if constraints is not None else {}),
    }
    metadata = {
        "dataset": "fraud-synthetic" if data.synthetic else "fraud",
        "data_source": data.source,
        "synthetic": data.synthetic,
        "latent_dim": vae_config.latent_dim,
        "likelihood": vae_config.likelihood,
        "architecture": "dense",
        "features": list(features),
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "training_seconds": round(result.seconds, 2),
        "train_config": train_config.to_dict(),
        "metrics": {**metrics, "evaluated_on": "held-out test split",
                    "baselines": {**baseline_metrics, "fitted_on": "the same preprocessed training normals"},
                    "validation_comparison": comparison,
                    "val_neg_elbo": (result.history.get("val_neg_elbo") or [None])[-1],
                    "train_neg_elbo": result.history["neg_elbo"][-1]},
        "history": result.history,
        "note": PREVALENCE_NOTE,
    }
    model = FraudModel(result.model, preprocessor, scoring, threshold, info, constraints=constraints)
    saved_to = None
    if name is not None and not (cancel is not None and cancel.is_set()) and (may_save is None or may_save()):
        saved_to = registry.save_model(result.model, name, kind=KIND, metadata=metadata,
                                       extra_files={FRAUD_FILE: info}, directory=models_dir)
    return FraudTraining(result, metadata["metrics"], metadata, saved_to, model)


@dataclass
class ScoredData:
    """A dataset scored by a fraud model. Arrays are aligned with `rows` (indices into the data):
    `scores` (m,), `labels` (m,) or None, `amounts` (m,) or None, `latent` (m, latent_dim),
    `feature_errors` (m, d). `evaluated_on` says which rows these are."""

    rows: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None
    amounts: np.ndarray | None
    latent: np.ndarray
    feature_errors: np.ndarray
    evaluated_on: str
    source: str
    synthetic: bool
    features: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def recorded_split(split_info: dict[str, Any], labels: np.ndarray) -> Split:
    """A model's split of the file it trained on (labels (n,)), as its record saved it; models saved
    before the record held the rows are split again from its seed and fractions."""
    if "rows" not in split_info:
        return stratified_split(labels, test_fraction=split_info["test_fraction"],
                                val_fraction=split_info["val_fraction"], seed=split_info["seed"])
    split = Split.from_dict(split_info)
    if len(split) != len(labels):
        raise DataError(f"The model's saved split covers {len(split):,} rows but its training file has "
                        f"{len(labels):,}; the model's fraud.json is damaged.")
    return split


def evaluation_rows(model: FraudModel, data: TabularDataset) -> tuple[np.ndarray, str]:
    """(row indices (m,), which rows they are): the held-out test split when `data` is the file the
    model trained on or the held-out rows shipped with it (their `split` column), else every row."""
    if data.split is not None:
        return np.flatnonzero(data.split == "test").astype(np.int64), "held-out test split"
    saved = model.info.get("data", {})
    if data.labels is not None and saved.get("fingerprint") == data_fingerprint(data):
        return recorded_split(model.info["split"], data.labels).test_idx, "held-out test split of the training file"
    return np.arange(len(data), dtype=np.int64), "all rows (this file was not used for training)"


def score_dataset(model: FraudModel, data: TabularDataset, scorer: str = VAE_SCORER) -> ScoredData:
    """Scores (by `scorer`: the VAE or a stored baseline, see FraudModel.scorers), latent means and
    the VAE's per-feature errors for the rows that evaluation should use; the arrays are read-only, so
    one copy can be shared (e.g. by every dashboard session)."""
    rows, evaluated_on = evaluation_rows(model, data)
    frame = data.features.iloc[rows].reset_index(drop=True)
    scores = model.score(frame)
    if not np.isfinite(scores).all():
        raise DataError(_unscorable(model, frame, rows, scores, data.source))
    if scorer != VAE_SCORER:
        scores = model.score_with(frame, scorer)
    scored = ScoredData(rows=rows, scores=scores,
                        labels=None if data.labels is None else data.labels[rows].astype(np.int64),
                        amounts=None if data.amount is None else data.amount[rows],
                        latent=model.latent_mean(frame), feature_errors=model.feature_errors(frame),
                        evaluated_on=evaluated_on, source=data.source, synthetic=data.synthetic, features=frame)
    for array in (scored.rows, scored.scores, scored.labels, scored.amounts, scored.latent, scored.feature_errors):
        if array is not None:
            array.flags.writeable = False
    return scored


def _unscorable(model: FraudModel, frame: pd.DataFrame, rows: np.ndarray, scores: np.ndarray, source: str) -> str:
    """Which data rows (`rows` (m,) + 1) of `frame` (m, ≥d) get a NaN or infinite score (`scores` (m,)),
    and the feature values behind each: the non-finite standardised inputs, else the largest one."""
    bad = np.flatnonzero(~np.isfinite(scores))
    with np.errstate(all="ignore"):
        x = model.preprocessor.transform(frame.iloc[bad])
    names = model.feature_names
    cells = []
    for i, position in enumerate(bad[:12]):
        columns = np.flatnonzero(~np.isfinite(x[i]))
        columns = columns if columns.size else [int(np.nanargmax(np.abs(x[i])))]
        values = ", ".join(f"{names[c]!r} = {frame.iloc[position][names[c]]:.3g}" for c in columns[:4])
        cells.append(f"data row {int(rows[position]) + 1} ({values})")
    more = f" and {len(bad) - 12} more" if len(bad) > 12 else ""
    return (f"{len(bad)} row(s) of {source.split(': ', 1)[-1]} overflow the model's 32-bit arithmetic (their "
            f"scores come out NaN or infinite): {'; '.join(cells)}{more}. Correct those values or remove those rows.")


def check_trainable(data: TabularDataset) -> None:
    """DataError now, rather than after loading TensorFlow, when `data` cannot train a fraud model:
    it needs labels, and both classes in each of the default train / validation / test splits."""
    if data.labels is None:
        raise DataError("Training a fraud model needs a label column, to hold out frauds for validation and testing.")
    stratified_split(data.labels)


def evaluate_fraud(model: FraudModel, data: TabularDataset, threshold: float | None = None,
                   deploy_prevalence: float | None = None) -> dict[str, Any]:
    """Test metrics at the model's (or a given) threshold, as sampled and, under "at_deployment",
    expected per 1,000 transactions at the model's (or the given) deployment prevalence; JSON-friendly."""
    if data.labels is None:
        raise DataError("Evaluation needs a label column; use `score` for unlabelled transactions.")
    prevalence = model.deploy_prevalence if deploy_prevalence is None else thresholds.check_prevalence(deploy_prevalence)
    scored = score_dataset(model, data)
    chosen = model.threshold_ if threshold is None else float(threshold)
    metrics = thresholds.evaluate_at_threshold(scored.scores, scored.labels, chosen, scored.amounts,
                                               prevalence=prevalence if 0 < scored.labels.sum() < len(scored.labels)
                                               else None)
    return {**metrics, "evaluated_on": scored.evaluated_on, "data_source": data.source,
            "synthetic": data.synthetic, "threshold_strategy": model.info["threshold"]["strategy"]
            if threshold is None else "given",
            "deploy_prevalence": {"value": prevalence, "source": "given" if deploy_prevalence is not None
                                  else model.deploy_prevalence_source},
            "note": PREVALENCE_NOTE}


def validation_rows(model: FraudModel, data: TabularDataset) -> np.ndarray | None:
    """The model's validation split in `data` (row indices (m,)): from the held-out rows' `split`
    column, or recomputed when `data` is the file it trained on; None when `data` is neither."""
    if data.labels is None:
        return None
    if data.split is not None:
        return np.flatnonzero(data.split == "validation").astype(np.int64)
    if model.info.get("data", {}).get("fingerprint") != data_fingerprint(data):
        return None
    return recorded_split(model.info["split"], data.labels).val_idx


def rechoose_threshold(loaded: LoadedModel, data: TabularDataset, *, deploy_prevalence: float | None = None,
                       strategy: str | None = None, params: dict[str, Any] | None = None,
                       models_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Step 4 again for a saved fraud model, without retraining: choose its thresholds on the
    validation split of `data` (the file it trained on) at `deploy_prevalence` (default: the model's)
    with `strategy` (default: the saved one), save them, and return the test metrics at the new
    threshold (as `evaluate_fraud` reports them)."""
    from vae_core import registry

    model = FraudModel.from_loaded(loaded)
    val_idx = validation_rows(model, data)
    if val_idx is None:
        raise DataError(f"Choosing {loaded.name!r}'s threshold needs the file it was trained on "
                        f"({model.info.get('data', {}).get('source', 'its recorded source')}) or the held-out rows "
                        "shipped with it, to find its validation split; this data is neither.")
    split_info = model.info["split"]
    prevalence = model.deploy_prevalence if deploy_prevalence is None else thresholds.check_prevalence(deploy_prevalence)
    source = "given" if deploy_prevalence is not None else model.deploy_prevalence_source
    saved = model.info["threshold"]
    strategy = strategy or saved["strategy"]
    params = dict(params if params is not None else (saved.get("params", {}) if strategy == saved["strategy"] else
                                                      DEFAULT_STRATEGY_PARAMS.get(strategy, {})))
    labels = data.labels.astype(np.int64)
    val_rows, val_labels = data.features.iloc[val_idx], labels[val_idx]
    val_amounts = None if data.amount is None else data.amount[val_idx]
    val_scores = model.score(val_rows)
    chosen, by_strategy = choose_thresholds(val_scores, val_labels, val_amounts, prevalence, strategy, params)
    val_baseline_scores = model.baseline_scores(val_rows)
    baseline_thresholds = {name: choose_thresholds(values, val_labels, val_amounts, prevalence, strategy, params)[0]
                           for name, values in val_baseline_scores.items()}
    info = {**model.info, "threshold": chosen, "thresholds_by_strategy": by_strategy,
            "deploy_prevalence": {"value": prevalence, "source": source}, "baseline_thresholds": baseline_thresholds}
    model.info = info
    test = score_dataset(model, data)
    metrics = {**thresholds.evaluate_at_threshold(test.scores, test.labels, chosen["value"], test.amounts,
                                                  prevalence=prevalence),
               **thresholds.ranking_metrics(test.scores, test.labels, test.amounts)}
    metadata = dict(loaded.metadata)
    metadata["metrics"] = {**metadata.get("metrics", {}), **metrics, "validation_comparison": validation_comparison(
        {VAE_SCORER: val_scores, **val_baseline_scores}, val_labels, seed=split_info["seed"])}
    registry.replace_json(loaded.name, FRAUD_FILE, info, models_dir)
    registry.replace_json(loaded.name, registry.METADATA_FILE, metadata, models_dir)
    return {**metrics, "threshold_strategy": strategy, "deploy_prevalence": info["deploy_prevalence"],
            "evaluated_on": test.evaluated_on}


def write_heldout_rows(folder: str | os.PathLike, training_csv: str | os.PathLike) -> dict[str, int]:
    """Write model `folder`'s validation and test rows of `training_csv` (the file it trained on,
    checked by its fingerprint) into the folder as HELDOUT_FILE, every column's text exactly as in
    the file plus SPLIT_COLUMN, with HELDOUT_LICENSE_FILE. Returns {"validation": n, "test": n}."""
    import csv
    import gzip
    import io
    import json

    from vae_core.sources import HELDOUT_FILE, HELDOUT_LICENSE, HELDOUT_LICENSE_FILE, SPLIT_COLUMN
    from vae_core.tables.tabular import read_labelled_csv

    folder, training_csv = Path(folder), Path(training_csv)
    info = json.loads((folder / FRAUD_FILE).read_text())
    trained_on, split_info = info["data"], info["split"]
    data = read_labelled_csv(training_csv, label_column=trained_on["label_column"],
                             positive_label=trained_on["positive"])
    if data_fingerprint(data) != trained_on["fingerprint"]:
        raise DataError(f"{training_csv} is not the file model '{folder.name}' trained on (its fingerprint differs).")
    split = recorded_split(split_info, data.labels)
    which = {int(i): "validation" for i in split.val_idx} | {int(i): "test" for i in split.test_idx}
    with open(training_csv, encoding="utf-8-sig", newline="") as handle:
        header, *body = list(csv.reader(handle))
    if SPLIT_COLUMN in header or len(body) != len(data):
        raise DataError(f"{training_csv} has a {SPLIT_COLUMN!r} column or rows the CSV reader does not see.")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*header, SPLIT_COLUMN])
    writer.writerows([*row, which[i]] for i, row in enumerate(body) if i in which)
    (folder / HELDOUT_FILE).write_bytes(gzip.compress(text.getvalue().encode(), compresslevel=9, mtime=0))
    kept = np.sort(np.concatenate([split.val_idx, split.test_idx]))
    (folder / HELDOUT_LICENSE_FILE).write_text(HELDOUT_LICENSE.format(
        split=SPLIT_COLUMN, source_name=training_csv.name, n_validation=len(split.val_idx), n_test=len(split.test_idx),
        n_rows=len(kept), n_fraud=int(data.labels[kept].sum()), seed=split_info["seed"],
        test_fraction=split_info["test_fraction"], val_fraction=split_info["val_fraction"]))
    return {"validation": len(split.val_idx), "test": len(split.test_idx)}


def _rows_per_byte_estimate(path: Path) -> float:
    with open(path, "rb") as handle:
        sample = handle.read(1 << 16)
    lines = max(sample.count(b"\n") - 1, 1)
    return lines / max(len(sample), 1)


def check_score_paths(input_path: str | os.PathLike, output_path: str | os.PathLike) -> tuple[Path, Path]:
    """(input, output) paths for `score_csv` after the cheap checks, which need no model."""
    source, target = Path(input_path).expanduser(), Path(output_path).expanduser()
    if source.is_dir():
        raise DataError(f"Input {source} is a folder, not a CSV file. Give the path of the .csv file inside it.")
    if not source.is_file():
        raise DataError(f"Input file {source} does not exist or is not a file.")
    if source.stat().st_size == 0:
        raise DataError(f"Input file {source} is empty.")
    if target.is_dir():
        raise DataError(f"Output {target} is a folder; give the name of the CSV file to write.")
    if not target.parent.is_dir():
        raise DataError(f"Output folder {target.parent} does not exist.")
    if source.resolve() == target.resolve():
        raise DataError("The output file must differ from the input file.")
    csv_header(source)
    return source, target


def scoring_threshold(model: FraudModel, threshold: float | None = None, strategy: str | None = None) -> float:
    """The threshold `score` flags at: `threshold` when given, else the one `strategy` chose on
    validation data at training time, else the model's own."""
    if threshold is not None:
        return float(threshold)
    table = model.info.get("thresholds_by_strategy", {})
    if strategy is not None and strategy not in table:
        raise ConfigError(f"Strategy {strategy!r} was not computed for this model; choose from "
                          f"{', '.join(table) or 'none'} or give --threshold.")
    return float(table[strategy]["value"]) if strategy else model.threshold_


def score_batch(model: FraudModel, batch, threshold: float, source_name: str = "the input", first_row: int = 0,
                scorer: str = VAE_SCORER):
    """One batch of a transactions file, every column as text (a pyarrow RecordBatch of strings) →
    the same columns, unchanged, plus `score` (float32) and `flag` (int8: score ≥ threshold). Only
    the model's features are parsed as numbers. `first_row` (rows before this batch) and
    `source_name` make the error messages point at the right data row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    features = list(model.feature_names)
    missing = [name for name in features if name not in batch.schema.names]
    if missing:
        raise DataError(f"{source_name} lacks the model's feature column(s): {', '.join(missing)}.")
    values = np.empty((batch.num_rows, len(features)), np.float64)
    for index, name in enumerate(features):
        try:
            values[:, index] = pc.cast(batch.column(name), pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid as exc:
            raise DataError(f"{source_name} has a missing or non-numeric value in column {name!r} "
                            f"(data rows {first_row + 1}–{first_row + batch.num_rows}): {exc}.") from exc
    if not np.isfinite(values).all():
        bad_row, bad_column = np.argwhere(~np.isfinite(values))[0]
        raise DataError(f"{source_name} has a NaN or infinite value in column "
                        f"{features[bad_column]!r} on data row {first_row + 1 + int(bad_row)}.")
    scores = model.score_with(pd.DataFrame(values, columns=features), scorer)
    flags = (scores.astype(np.float64) >= threshold).astype(np.int8)  # as the sweep compares
    schema = batch.schema.append(pa.field("score", pa.float32())).append(pa.field("flag", pa.int8()))
    return pa.RecordBatch.from_arrays([*batch.columns, pa.array(scores.astype(np.float32)), pa.array(flags)],
                                      schema=schema)


def _next_batch(reader):
    """The reader's next record batch, or None at the end of the file."""
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def score_csv(loaded: LoadedModel, input_path: str | os.PathLike, output_path: str | os.PathLike, *,
              threshold: float | None = None, strategy: str | None = None, chunk_size: int = 20_000,
              on_progress: Callable[[float], None] | None = None, scorer: str = VAE_SCORER) -> dict[str, Any]:
    """Stream `input_path` through the model in chunks and write its columns plus `score` and `flag`.

    Memory stays bounded by the chunk size (Arrow's streaming CSV reader and writer); the output
    appears only when complete (a temporary file in the same folder, then renamed). `strategy`
    picks one of the thresholds chosen on validation data at training time. `on_progress` gets
    the fraction of input bytes read. When the file has the model's label column, the summary's
    "labelled" entry counts flags against it (positive = the model's saved positive value).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    model = FraudModel.from_loaded(loaded)
    source, target = check_score_paths(input_path, output_path)
    if scorer not in model.scorers:
        raise ConfigError(f"Unknown scorer {scorer!r}; {loaded.name!r} has {', '.join(model.scorers)}.")
    if scorer != VAE_SCORER and threshold is None:
        if strategy is not None:
            raise ConfigError("A baseline scorer flags at the threshold chosen for it on validation, or at --threshold; "
                              "--strategy picks among the VAE's.")
        threshold = model.scorer_threshold(scorer)
        if threshold is None:
            raise ConfigError(f"{loaded.name!r} was saved before baselines got a validated threshold; give --threshold "
                              "or choose them again with `vae-explorer threshold`.")
    threshold = scoring_threshold(model, threshold, strategy)
    rows_per_byte = _rows_per_byte_estimate(source)
    block_size = int(min(max(chunk_size / rows_per_byte, 1 << 14), 1 << 30))
    expected_rows = max(source.stat().st_size * rows_per_byte, 1.0)
    start = time.perf_counter()
    rows = flagged = 0
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    positive_key = label_key(model.positive)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        # Every column is read as text and written back unchanged (no float re-formatting, which
        # would dominate the run time); score_batch parses only the model's features.
        names = csv_header(source)  # empty, binary, compressed, non-UTF-8 or duplicated names: DataError
        labelled = model.label_column in names
        reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=block_size, use_threads=False),
                                convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
        writer, written = None, None
        # Arrow parses the next batch and writes the last one on two more threads (it releases the
        # GIL) while this one is scored.
        background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-writer")
        ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-reader")
        try:
            pending = ahead.submit(_next_batch, reader)
            while (batch := pending.result()) is not None:
                pending = ahead.submit(_next_batch, reader)
                scored = score_batch(model, batch, threshold, source.name, rows, scorer)
                writer = writer or pacsv.CSVWriter(temporary, scored.schema)
                if written is not None:
                    written.result()
                written = background.submit(writer.write_batch, scored)
                rows += scored.num_rows
                flags = scored.column("flag").to_numpy(zero_copy_only=False)
                flagged += int(flags.sum())
                if labelled:
                    column = batch.column(model.label_column)
                    positive_texts = [text for text in pc.unique(column).to_pylist() if label_key(text) == positive_key]
                    positives = pc.is_in(column, value_set=pa.array(positive_texts, pa.string()))
                    for key, value in thresholds.confusion_counts(positives.to_numpy(zero_copy_only=False), flags).items():
                        counts[key] += value
                if on_progress is not None:
                    on_progress(min(0.99, rows / expected_rows))
            if written is not None:
                written.result()
        finally:
            ahead.shutdown(wait=True)
            background.shutdown(wait=True)
            if writer is not None:
                writer.close()
        if rows == 0:
            raise DataError(f"{source.name} has a header but no data rows.")
        os.replace(temporary, target)
        if on_progress is not None:
            on_progress(1.0)
    except pa.ArrowInvalid as exc:
        raise DataError(f"{source.name} is not a valid transactions CSV: {str(exc).splitlines()[0]}") from exc
    finally:
        temporary.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    summary = {"rows": rows, "flagged": flagged, "scorer": scorer, "threshold": float(threshold), "output": str(target),
               "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds) if seconds else None}
    if labelled:
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        summary["labelled"] = {"label_column": model.label_column, "positive": model.positive, **counts,
                               "precision": tp / (tp + fp) if tp + fp else 1.0,
                               "recall": tp / (tp + fn) if tp + fn else 0.0}
        n_pos, n_neg = tp + fn, counts["fp"] + counts["tn"]
        if n_pos and n_neg:  # the same counts reweighted to the deployment prevalence (thresholds module)
            caught = model.deploy_prevalence * tp / n_pos
            raised = (1 - model.deploy_prevalence) * fp / n_neg
            summary["labelled"]["at_deployment"] = {
                "prevalence": model.deploy_prevalence, "alerts_per_1000": 1000 * (caught + raised),
                "precision": caught / (caught + raised) if caught + raised else None}
    summary["deploy_prevalence"] = {"value": model.deploy_prevalence, "source": model.deploy_prevalence_source}
    return summary
