"""Honest advice: does a stored baseline beat the VAE on validation by more than chance?

`validation_comparison` runs at training time on the validation split's scores of every scorer (the
VAE and each baseline stored beside it) and returns a JSON-friendly block the model keeps in its
metrics; `advice` reads that block later, with no model or data, and says plainly when a baseline
wins. A win counts only when the paired bootstrap interval of (baseline − VAE) ROC AUC, resampling
the validation rows, lies entirely above 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_core.errors import DataError
from vae_core.tables.thresholds import average_precision

VAE = "VAE"
DEFAULT_RESAMPLES = 1000
LEVEL = 0.95
_CHUNK_CELLS = 2_000_000  # resample weights held at once: resamples × rows


def _grouped_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of scores (n,) against positive (n,) bool under row weights (B, n) → (B,); ties count ½.

    Rows are grouped by equal score; the AUC is Σ_g P_g (N_<g + ½ N_g) / (P · N) over the groups g in
    ascending score order, with P_g and N_g the positive and negative weight in group g."""
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    w = weights[:, order]
    pos = np.add.reduceat(w * positive[order], starts, axis=1)
    neg = np.add.reduceat(w * ~positive[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)


def validation_comparison(scores: dict[str, np.ndarray], labels: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES,
                          level: float = LEVEL, seed: int = 0) -> dict[str, Any]:
    """Each scorer's validation ROC AUC and AP, and each baseline's paired bootstrap difference to the VAE.

    scores: {"VAE": (n,), baseline name: (n,), …}, higher = more anomalous; labels (n,) 0/1 with both
    classes. Returns {"rows", "positives", "resamples", "level", "scorers": {name: {"roc_auc",
    "roc_auc_interval": [lo, hi], "average_precision"}}, "versus_vae": {baseline: {"roc_auc_difference",
    "interval": [lo, hi]}}} with differences as baseline − VAE.
    """
    labels = np.asarray(labels).astype(bool)
    if VAE not in scores:
        raise DataError("A validation comparison needs the VAE's scores under the name 'VAE'.")
    if labels.all() or not labels.any():
        raise DataError("A validation comparison needs both normal and positive rows in the validation split.")
    n = len(labels)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // n)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in scores}
    for start in range(0, resamples + 1, chunk):  # the first row of weights is the sample itself
        size = min(chunk, resamples + 1 - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        if start == 0:
            weights[0] = 1.0
        for name, values in scores.items():
            parts[name].append(_grouped_auc(np.asarray(values, np.float64), labels, weights))
    aucs = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    tail = 100 * (1 - level) / 2

    def interval(values: np.ndarray) -> list[float]:
        finite = values[1:][np.isfinite(values[1:])]
        return [round(float(v), 4) for v in np.percentile(finite, [tail, 100 - tail])]

    return {
        "rows": n, "positives": int(labels.sum()), "resamples": resamples, "level": level,
        "scorers": {name: {"roc_auc": round(float(auc[0]), 4), "roc_auc_interval": interval(auc),
                           "average_precision": round(average_precision(np.asarray(scores[name]), labels), 4)}
                    for name, auc in aucs.items()},
        "versus_vae": {name: {"roc_auc_difference": round(float(auc[0] - aucs[VAE][0]), 4),
                              "interval": interval(auc - aucs[VAE])}
                       for name, auc in aucs.items() if name != VAE},
    }


def advice(comparison: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The baselines that beat the VAE on validation beyond their bootstrap interval, best first:
    [{"scorer", "roc_auc", "interval", "vae_roc_auc", "difference", "difference_interval", "text"}];
    [] when the VAE holds its own or the model stored no comparison (models saved before it)."""
    if not comparison:
        return []
    scorers, vae = comparison["scorers"], comparison["scorers"][VAE]
    percent = f"{comparison['level']:.0%}"
    winners = []
    for name, versus in comparison["versus_vae"].items():
        low, high = versus["interval"]
        if low <= 0:
            continue
        own = scorers[name]
        text = (f"{name} beats the VAE on validation: ROC AUC {own['roc_auc']:.2f} "
                f"[{own['roc_auc_interval'][0]:.2f}–{own['roc_auc_interval'][1]:.2f}] vs {vae['roc_auc']:.2f} "
                f"[{vae['roc_auc_interval'][0]:.2f}–{vae['roc_auc_interval'][1]:.2f}] "
                f"(difference +{versus['roc_auc_difference']:.2f}, {percent} interval +{low:.2f} to +{high:.2f} "
                f"over {comparison['resamples']:,} resamples of the {comparison['rows']:,} validation rows); "
                f"consider using {name} as the scorer.")
        winners.append({"scorer": name, "roc_auc": own["roc_auc"], "interval": own["roc_auc_interval"],
                        "vae_roc_auc": vae["roc_auc"], "difference": versus["roc_auc_difference"],
                        "difference_interval": [low, high], "text": text})
    return sorted(winners, key=lambda item: -item["difference"])
