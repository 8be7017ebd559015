"""What the fraud parts of the dashboard compute: data choice, scoring summaries, the threshold
page's numbers, exports. Plain functions on arrays; never imports Streamlit.

Per threshold move the page only asks an already-built `ThresholdSweep` for one point (O(log n))
and draws pre-binned histograms and pre-thinned curves, so a rerun costs the same at 3,000 rows
as at 284,807.
"""

from __future__ import annotations

import inspect
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vae_core import thresholds
from vae_core.errors import ConfigError, DataError
from vae_core.fraud import FraudModel, ScoredData, load_fraud_data, score_dataset
from vae_core.tabular import (AMOUNT_COLUMN, TabularDataset, make_synthetic_creditcard, read_labelled_csv,
                              stratified_split)
from vae_core.views import FRAUD_NAMES, LatentSample, sample_rows

SUBSET_PREVALENCE, FULL_PREVALENCE = 0.148, 0.00172
PREVALENCE_NOTE = ("Precision, average precision and alert counts depend on fraud prevalence: 14.8% in the "
                   "real development subset, 0.172% in the full ULB data (284,807 rows). ROC AUC does not.")

# Where training rows come from on the Train page.
TRAINING_SOURCES: dict[str, str] = {
    "auto": "Best available",
    "path": "A CSV path",
    "upload": "Upload a CSV",
    "synthetic": "Synthetic transactions",
}
# Which rows the explorer pages score with a fraud model.
VIEW_SOURCES: dict[str, str] = {
    "model": "The model's training data",
    "upload": "An uploaded CSV",
    "synthetic": "Synthetic transactions",
}
STRATEGY_LABELS: dict[str, str] = {
    "max_f1": "Maximum F1",
    "percentile": "Percentile of normal scores",
    "precision_at_recall": "Recall floor (best precision)",
    "fpr_cap": "False-positive-rate cap",
    "alert_budget": "Alert budget",
    "min_cost": "Minimum cost",
}
OUTCOME_NAMES = {0: "TP", 1: "FP", 2: "FN", 3: "TN"}
# Uploads are read into memory: the uploaders and .streamlit/config.toml (server.maxUploadSize) use
# the same limit; bigger files go through `python -m vae_core score`, which streams.
MAX_UPLOAD_MB = 300
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20


# --- data ---------------------------------------------------------------------------------------

def read_upload(data: bytes, name: str, label_column: str = "Class", positive: str = "1", *,
                require_label: bool = True) -> TabularDataset:
    """A CSV from uploaded bytes, labelled unless `require_label` is False; DataError says what is wrong."""
    if not data:
        raise DataError(f"The uploaded file '{name}' is empty. Upload a CSV with a header row and data rows.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"The uploaded file '{name}' is {len(data) / 2**20:,.0f} MB; uploads are limited to "
                        f"{MAX_UPLOAD_MB} MB. Score bigger files with `python -m vae_core score`, which streams them.")
    return read_labelled_csv(io.BytesIO(data), label_column=label_column or "Class",
                             positive_label=positive, require_label=require_label, name=name)


def check_trainable(data: TabularDataset) -> None:
    """DataError now, rather than in the training process, when `data` cannot train a fraud model:
    it needs labels, and both classes in each of the default train / validation / test splits."""
    if data.labels is None:
        raise DataError("Training a fraud model needs a label column, to hold out frauds for validation and testing.")
    stratified_split(data.labels)


def load_training_transactions(options: dict[str, Any]) -> TabularDataset:
    """Training rows for the Train page: options {"source", "path", "upload", "upload_name",
    "label_column", "positive"} (see TRAINING_SOURCES)."""
    source = options.get("source", "auto")
    label_column, positive = options.get("label_column") or "Class", options.get("positive") or "1"
    if source == "synthetic":
        return make_synthetic_creditcard()
    if source == "upload":
        if options.get("upload") is None:
            raise DataError("Upload a CSV first, or choose another data source.")
        return read_upload(options["upload"], options.get("upload_name") or "upload.csv", label_column, positive)
    if source == "path":
        path = (options.get("path") or "").strip()
        if not path:
            raise DataError("Enter the path of a transactions CSV.")
        return load_fraud_data(path, label_column=label_column, positive=positive)
    if source == "auto":
        return load_fraud_data(label_column=label_column, positive=positive)
    raise ConfigError(f"Unknown data source {source!r}; choose one of {', '.join(TRAINING_SOURCES)}.")


def training_file(model: FraudModel) -> Path | None:
    """The CSV the model was trained on, when its recorded source is a file that still exists."""
    source = str(model.info.get("data", {}).get("source", ""))
    if source.startswith("file: "):
        path = Path(source.removeprefix("file: ")).expanduser()
        return path if path.is_file() else None
    return None


def load_view_data(model: FraudModel, choice: str = "model", upload: bytes | None = None,
                   upload_name: str | None = None, label_column: str = "Class", positive: str = "1") -> TabularDataset:
    """Rows to score with `model` (see VIEW_SOURCES).

    "model" reloads what the model trained on when possible (its file, or the synthetic generator),
    else the best available data; `score_dataset` then picks the held-out test split if it is the
    same data.
    """
    if choice == "upload":
        if upload is None:
            raise DataError("Upload a CSV of transactions first.")
        # Scoring needs no labels; with them the page also shows precision and recall.
        return read_upload(upload, upload_name or "upload.csv", label_column, positive, require_label=False)
    if choice == "synthetic":
        return make_synthetic_creditcard()
    if choice != "model":
        raise ConfigError(f"Unknown data choice {choice!r}; choose one of {', '.join(VIEW_SOURCES)}.")
    if model.info.get("data", {}).get("synthetic"):
        return make_synthetic_creditcard()
    path = training_file(model)
    return load_fraud_data(path) if path is not None else load_fraud_data()


def score(model: FraudModel, data: TabularDataset) -> ScoredData:
    """Scores for the rows evaluation should use; arrays made read-only for sharing across sessions."""
    scored = score_dataset(model, data)
    for array in (scored.rows, scored.scores, scored.labels, scored.amounts, scored.latent, scored.feature_errors):
        if array is not None:
            array.flags.writeable = False
    return scored


def describe(scored: ScoredData) -> str:
    """'<source> · <which rows> · n rows, k frauds (p%)' for the banner."""
    text = f"{scored.source} · {scored.evaluated_on} · {len(scored.scores):,} rows"
    if scored.labels is not None:
        frauds = int(scored.labels.sum())
        text += f", {frauds:,} frauds ({frauds / max(1, len(scored.labels)):.2%})"
    return text


# --- latent sample ------------------------------------------------------------------------------

def latent_sample(scored: ScoredData, feature_names: tuple[str, ...], n: int, seed: int = 0) -> LatentSample:
    """Up to n scored rows for the latent scatter: every fraud first, then a random share of normals.

    Hover shows the row's amount, score and the three features it reconstructs worst.
    """
    total = len(scored.scores)
    if scored.labels is not None and n < total:
        frauds = np.flatnonzero(scored.labels == 1)
        normals = np.flatnonzero(scored.labels == 0)
        keep_frauds = frauds if len(frauds) <= n // 2 else np.sort(np.random.default_rng(seed).choice(frauds, n // 2, replace=False))
        picked = normals[sample_rows(len(normals), n - len(keep_frauds), seed)]
        positions = np.sort(np.concatenate([keep_frauds, picked]))
    else:
        positions = sample_rows(total, n, seed)
    labels = np.zeros(len(positions), np.int64) if scored.labels is None else scored.labels[positions]
    hover = hover_text(scored, feature_names, positions)
    return LatentSample(index=positions, mu=np.asarray(scored.latent[positions]), labels=labels,
                        label_names=FRAUD_NAMES, hover=hover, source=scored.source, synthetic=scored.synthetic,
                        extra={"evaluated_on": scored.evaluated_on})


def hover_text(scored: ScoredData, feature_names: tuple[str, ...], positions: np.ndarray) -> list[str]:
    errors = scored.feature_errors[positions]
    worst = np.argsort(-errors, axis=1)[:, :3]
    amounts = None if scored.amounts is None else scored.amounts[positions]
    lines = []
    for k, position in enumerate(positions.tolist()):
        label = "" if scored.labels is None else f" · {FRAUD_NAMES[int(scored.labels[position])]}"
        amount = "" if amounts is None else f"<br>amount €{amounts[k]:,.2f}"
        worst_text = ", ".join(f"{feature_names[j]} {errors[k, j]:.1f}" for j in worst[k])
        lines.append(f"row {int(scored.rows[position])}{label}{amount}<br>score {scored.scores[position]:.2f}"
                     f"<br>worst reconstructed: {worst_text}")
    return lines


# --- threshold page -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreSummary:
    """Everything on the threshold page that does not depend on the threshold (built once).

    hist_*: bin edges (b + 1,) and counts (2, b) [normal, fraud], linear and log-spaced;
    roc / pr: thinned curves; options: slider stops (k,) ascending; scatter_*: the rows drawn in the
    outcome scatter (all frauds + a sample of normals) and their latent coordinates.
    """

    n: int
    n_fraud: int | None
    prevalence: float | None
    auroc: float | None
    average_precision: float | None
    hist_edges: np.ndarray
    hist_counts: np.ndarray
    hist_log_edges: np.ndarray
    hist_log_counts: np.ndarray
    roc_fpr: np.ndarray | None
    roc_tpr: np.ndarray | None
    pr_recall: np.ndarray | None
    pr_precision: np.ndarray | None
    options: np.ndarray
    scatter_positions: np.ndarray
    scatter_xy: np.ndarray
    scatter_hover: list[str]
    score_min: float
    score_max: float


def _binned(scores: np.ndarray, labels: np.ndarray | None, edges: np.ndarray) -> np.ndarray:
    """(2, b) counts per bin of [normal, fraud] rows (all rows as normal when unlabelled)."""
    if labels is None:
        return np.vstack([np.histogram(scores, edges)[0], np.zeros(len(edges) - 1, np.int64)])
    return np.vstack([np.histogram(scores[labels == c], edges)[0] for c in (0, 1)])


def _thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most max_points of a curve, always keeping both ends."""
    if len(x) <= max_points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(int))
    return x[keep], y[keep]


def slider_stops(scores: np.ndarray, n_quantiles: int = 300, n_geometric: int = 200) -> np.ndarray:
    """Threshold slider positions: score quantiles (dense where rows are) plus geometric steps up to
    the maximum (so the sparse, high-score tail where frauds sit is reachable too), 4 significant digits."""
    values = np.quantile(scores, np.linspace(0.0, 1.0, n_quantiles))
    low = max(float(scores.min()), 1e-6)
    values = np.concatenate([values, np.geomspace(low, max(float(scores.max()), low * 1.0001), n_geometric)])
    rounded = np.array([float(f"{v:.4g}") for v in values])
    return np.unique(rounded)


def summarise(scored: ScoredData, *, bins: int = 80, max_curve_points: int = 1500,
              max_scatter_points: int = 8000, seed: int = 0) -> ScoreSummary:
    """The threshold-independent part of the threshold page (a few tens of ms at 284,807 rows)."""
    scores, labels = np.asarray(scored.scores, np.float64), scored.labels
    low, high = float(scores.min()), float(scores.max())
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    positive_low = max(float(scores[scores > 0].min()) if (scores > 0).any() else 1e-6, 1e-6)
    log_edges = np.geomspace(positive_low, max(high, positive_low * 10), bins + 1)
    auroc = ap = prevalence = n_fraud = None
    roc_fpr = roc_tpr = pr_recall = pr_precision = None
    if labels is not None:
        n_fraud = int(labels.sum())
        prevalence = float(labels.mean())
        if 0 < n_fraud < len(labels):
            auroc, ap = thresholds.roc_auc(scores, labels), thresholds.average_precision(scores, labels)
            roc = thresholds.roc_curve_points(scores, labels)
            roc_fpr, roc_tpr = _thin(roc["fpr"], roc["tpr"], max_curve_points)
            pr = thresholds.pr_curve_points(scores, labels)
            pr_recall, pr_precision = _thin(pr["recall"], pr["precision"], max_curve_points)
    positions = _scatter_positions(labels, len(scores), max_scatter_points, seed)
    latent = np.asarray(scored.latent[positions], np.float32)
    xy = latent[:, :2] if latent.shape[1] >= 2 else np.column_stack([latent[:, 0], np.zeros(len(latent))])
    return ScoreSummary(n=len(scores), n_fraud=n_fraud, prevalence=prevalence, auroc=auroc, average_precision=ap,
                        hist_edges=edges, hist_counts=_binned(scores, labels, edges), hist_log_edges=log_edges,
                        hist_log_counts=_binned(np.clip(scores, positive_low, None), labels, log_edges),
                        roc_fpr=roc_fpr, roc_tpr=roc_tpr, pr_recall=pr_recall, pr_precision=pr_precision,
                        options=slider_stops(scores), scatter_positions=positions, scatter_xy=xy,
                        scatter_hover=[f"row {r} · score {v:.3g}" for r, v in
                                       zip(scored.rows[positions].tolist(), scores[positions].tolist())],
                        score_min=low, score_max=high)


def _scatter_positions(labels: np.ndarray | None, n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    if labels is None:
        return sample_rows(n, limit, seed)
    frauds = np.flatnonzero(labels == 1)[: limit // 2]
    normals = np.flatnonzero(labels == 0)
    return np.sort(np.concatenate([frauds, normals[sample_rows(len(normals), limit - len(frauds), seed)]]))


def build_sweep(scored: ScoredData, review_fee: float, fraud_cost: float | str) -> thresholds.ThresholdSweep:
    """The O(log n)-per-query sweep over these scores, with the money panel's cost model."""
    amounts = scored.amounts if fraud_cost == "amount" else None
    return thresholds.ThresholdSweep(scored.scores, scored.labels, amounts, review_fee=review_fee,
                                     fraud_cost=fraud_cost)


def nearest_stop(options: np.ndarray, value: float) -> float:
    """The slider stop closest to `value`."""
    index = int(np.clip(np.searchsorted(options, value), 1, len(options) - 1))
    return float(options[index] if abs(options[index] - value) < abs(options[index - 1] - value) else options[index - 1])


def strategy_threshold(strategy: str, params: dict[str, Any], scored: ScoredData, *, review_fee: float,
                       fraud_cost: float | str) -> float:
    """Run a thresholds strategy on the scored rows with only the arguments it takes."""
    if strategy not in thresholds.STRATEGIES:
        raise ConfigError(f"Unknown strategy {strategy!r}; choose one of {', '.join(thresholds.STRATEGIES)}.")
    scores, labels = scored.scores, scored.labels
    needs_labels = {"max_f1", "precision_at_recall", "fpr_cap", "min_cost", "percentile"}
    if labels is None and strategy in needs_labels:
        raise DataError(f"{STRATEGY_LABELS[strategy]} needs labelled rows; this data has no label column. "
                        "Use the alert budget instead.")
    available: dict[str, Any] = {"scores": scores, "labels": labels,
                                 "normal_scores": None if labels is None else scores[labels == 0],
                                 "amounts": scored.amounts if fraud_cost == "amount" else None,
                                 "review_fee": review_fee, "fraud_cost": fraud_cost}
    accepted = inspect.signature(thresholds.STRATEGIES[strategy]).parameters
    arguments = {k: v for k, v in available.items() if k in accepted and k not in params}
    return thresholds.choose_threshold(strategy, **arguments, **params)


@dataclass(frozen=True)
class CostView:
    """The money panel: cost (k,) at each slider stop, its minimum, and the two naive baselines."""

    thresholds: np.ndarray
    cost: np.ndarray
    best_threshold: float
    best_cost: float
    flag_nothing: float
    flag_everything: float


def cost_view(sweep: thresholds.ThresholdSweep, options: np.ndarray) -> CostView | None:
    """Cost over the slider stops, the exact minimum over every distinct score, and the baselines."""
    if not sweep.has_cost:
        return None
    curve = sweep.curve(options)["cost"]
    grid = sweep.grid()
    exact = sweep.curve(grid)["cost"]
    best = int(np.flatnonzero(exact == exact.min())[-1])
    extremes = sweep.curve(np.array([np.inf, -np.inf]))["cost"]
    return CostView(options, curve, float(grid[best]), float(exact[best]), float(extremes[0]), float(extremes[1]))


def outcome_codes(scores: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    """(n,) 0 TP, 1 FP, 2 FN, 3 TN at `threshold` (flagged when score >= threshold)."""
    flagged = scores >= threshold
    return np.where(flagged, np.where(labels == 1, 0, 1), np.where(labels == 1, 2, 3))


def flagged_positions(scored: ScoredData, threshold: float) -> np.ndarray:
    """Positions of flagged rows, highest score first."""
    positions = np.flatnonzero(scored.scores >= threshold)
    return positions[np.argsort(-scored.scores[positions], kind="stable")]


def flagged_frame(scored: ScoredData, threshold: float, limit: int | None = 200) -> pd.DataFrame:
    """Flagged rows (highest score first, at most `limit`): row, score, label, amount, then features."""
    positions = flagged_positions(scored, threshold)
    if limit is not None:
        positions = positions[:limit]
    frame = scored.features.iloc[positions].reset_index(drop=True)
    columns = {"row": scored.rows[positions], "score": scored.scores[positions]}
    if scored.labels is not None:
        columns["label"] = np.where(scored.labels[positions] == 1, "fraud", "normal")
    if scored.amounts is not None and AMOUNT_COLUMN not in frame.columns:
        columns[AMOUNT_COLUMN] = scored.amounts[positions]
    return pd.concat([pd.DataFrame(columns), frame], axis=1)


def flagged_csv(scored: ScoredData, threshold: float) -> bytes:
    """Every flagged row as CSV bytes (for the download button; generated on click)."""
    return flagged_frame(scored, threshold, limit=None).to_csv(index=False).encode("utf-8")


def settings_json(*, model: str, threshold: float, strategy: str | None, params: dict[str, Any],
                  point: thresholds.SweepPoint, review_fee: float, fraud_cost: float | str,
                  data_source: str, evaluated_on: str, prevalence: float | None) -> str:
    """The chosen operating point as JSON, with what it was measured on."""
    return json.dumps({
        "model": model, "threshold": threshold, "strategy": strategy, "strategy_params": params,
        "cost_model": {"review_fee": review_fee, "fraud_cost": fraud_cost},
        "at_threshold": point.to_dict(), "data_source": data_source, "evaluated_on": evaluated_on,
        "prevalence": prevalence, "note": PREVALENCE_NOTE,
    }, indent=2, default=float)


def feature_errors(scored: ScoredData, feature_names: tuple[str, ...], position: int) -> tuple[list[str], np.ndarray]:
    """(names, errors (d,)) for one scored row: its squared reconstruction error per feature."""
    return list(feature_names), np.asarray(scored.feature_errors[position], float)


def prevalence_text(prevalence: float | None) -> str:
    """This data's fraud prevalence, next to the two reference values."""
    here = "unknown (no labels)" if prevalence is None else f"{prevalence:.3%}"
    return f"Fraud prevalence here: {here}. {PREVALENCE_NOTE}"


def default_data_note() -> str:
    """Where "best available" transactions come from on this machine (for captions)."""
    from vae_core.fraud import find_creditcard_csv

    found = find_creditcard_csv()
    if found is not None:
        return f"real transactions from {found}"
    if os.environ.get("VAE_OFFLINE", "") in ("1", "true", "yes"):
        return "synthetic transactions (offline and no CSV found)"
    return "the full data from OpenML, else synthetic transactions"
