"""Has a new batch of transactions moved away from what a fraud model was validated on?

The reference is the model's validation split (read from its training file, or from the held-out
rows shipped with it): its normal rows for the score and feature distributions, all of it for the
alert rate expected at deployment prevalence. The batch side is its normal rows when it is
labelled, else all its rows (at a deployment prevalence of 0.172%, frauds barely move the
distribution).

Rule for `drifted`: the scores' population stability index is at least PSI_MAJOR, or the
two-sample Kolmogorov–Smirnov test finds a difference (p < KS_ALPHA) of at least KS_MATERIAL in the
scores, or in any feature at KS_ALPHA shared over the features (Bonferroni). A feature can move
while the scores do not (the model barely uses it): the population changed all the same.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.special import kolmogorov

from vae_core.tables import thresholds
from vae_core.errors import DataError
from vae_core.tables.fraud import FraudModel, validation_rows
from vae_core.tables.tabular import TabularDataset, iter_labelled_chunks

PSI_BINS = 10
PSI_MODERATE, PSI_MAJOR = 0.10, 0.25  # the usual credit-risk reading of the index
KS_ALPHA, KS_MATERIAL = 0.01, 0.10
MIN_ROWS = 20  # fewer compared rows say nothing about a distribution
_FLOOR = 1e-4  # an empty bin's share, so the index stays finite
UNLABELLED_NOTE = ("This batch has no labels, so precision, recall and the cost on it cannot be measured, and a "
                   "shift in scores cannot be told apart as new fraud patterns or new normal behaviour: only "
                   "labels for a sample of its rows can say which.")


class Distribution:
    """A sample counted against a reference's sorted distinct values, chunk by chunk: the exact
    two-sample Kolmogorov–Smirnov D and the PSI without keeping the sample (memory: the reference)."""

    def __init__(self, reference: np.ndarray, bins: int = PSI_BINS) -> None:
        self.points = np.unique(reference)  # (k,) sorted
        self.psi_edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
        self.below = np.zeros(len(self.points) + 1, np.int64)  # [i]: values with exactly i points ≤ them
        self.upto = np.zeros(len(self.points) + 1, np.int64)  # [i]: values with exactly i points < them
        self.psi_counts = np.zeros(len(self.psi_edges) + 1, np.int64)
        self.n, self.total = 0, 0.0
        self.reference_n, self.reference_cdfs = len(reference), self._cdfs(reference)
        self.reference_psi = self._psi_counts(reference) / len(reference)

    def _psi_counts(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(self.psi_edges, values, side="right"), minlength=len(self.psi_edges) + 1)

    def _counts(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = len(self.points) + 1
        return (np.bincount(np.searchsorted(self.points, values, side="right"), minlength=size),
                np.bincount(np.searchsorted(self.points, values, side="left"), minlength=size))

    def _cdfs(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        below, upto = self._counts(values)
        return self._cdf_pair(below, upto, len(values))

    @staticmethod
    def _cdf_pair(below: np.ndarray, upto: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(F(p−), F(p)) at each reference point p, (k,) each."""
        return np.cumsum(below)[:-1] / n, np.cumsum(upto)[:-1] / n

    def add(self, values: np.ndarray) -> None:
        """Count one chunk of the sample, (m,)."""
        below, upto = self._counts(values)
        self.below += below
        self.upto += upto
        self.psi_counts += self._psi_counts(values)
        self.n += len(values)
        self.total += float(np.sum(values, dtype=np.float64))

    def ks(self) -> tuple[float, float]:
        """(D, p): the largest gap between the two empirical CDFs (exact: between two reference points
        the reference's CDF is flat and the sample's monotone, so the gap peaks at their ends) and its
        asymptotic p-value."""
        n_ref, (ref_left, ref_at) = self.reference_n, self.reference_cdfs
        left, at = self._cdf_pair(self.below, self.upto, self.n)
        statistic = float(max(np.abs(ref_left - left).max(), np.abs(ref_at - at).max()))
        effective = n_ref * self.n / (n_ref + self.n)
        return statistic, float(min(1.0, kolmogorov(statistic * math.sqrt(effective))))

    def psi(self) -> float:
        """Σ (b − r)·ln(b / r) over the reference's decile bins."""
        r, b = (np.maximum(share, _FLOOR) for share in (self.reference_psi, self.psi_counts / self.n))
        return float(np.sum((b - r) * np.log(b / r)))

    @property
    def mean(self) -> float:
        return self.total / self.n


def psi_verdict(psi: float) -> str:
    if psi >= PSI_MAJOR:
        return (f"Major shift in the scores (PSI {psi:.3f} ≥ {PSI_MAJOR}): the threshold may no longer flag what it "
                "flagged on validation. Check the alert rate and re-validate before relying on it.")
    if psi >= PSI_MODERATE:
        return f"Moderate shift in the scores (PSI {psi:.3f}, {PSI_MODERATE}–{PSI_MAJOR}): watch the alert rate."
    return f"The scores are stable (PSI {psi:.3f} < {PSI_MODERATE})."


def ks_verdict(statistic: float, pvalue: float) -> str:
    if pvalue >= KS_ALPHA:
        return f"No detectable difference between the score distributions (KS D {statistic:.3f}, p {pvalue:.2g})."
    size = "small" if statistic < KS_MATERIAL else "material"
    return (f"The score distributions differ (KS D {statistic:.3f}, p {pvalue:.2g}): a {size} difference; "
            f"D is the largest gap between the two shares of rows below any score.")


def features_verdict(moved: list[dict[str, Any]]) -> str:
    """What the features that moved materially (KS D ≥ KS_MATERIAL, p below KS_ALPHA shared over the
    features) say, most moved first."""
    if not moved:
        return "No feature's distribution moved materially."
    named = ", ".join(f"{f['name']} (KS D {f['ks']:.2f}, p {f['ks_pvalue']:.1g})" for f in moved[:5])
    more = f" and {len(moved) - 5} more" if len(moved) > 5 else ""
    return (f"{'This feature' if len(moved) == 1 else 'These features'} moved: {named}{more}. Even where the "
            "scores hold still (the model leans little on them), the transactions are not the ones it was "
            "validated on: re-validate before trusting the threshold.")


def _wilson(hits: int, n: int, z: float = 2.576) -> tuple[float, float]:
    """The 99% Wilson interval of a rate hits / n."""
    rate = hits / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def check_drift(model: FraudModel, reference: TabularDataset, batch: TabularDataset,
                threshold: float | None = None) -> dict[str, Any]:
    """The batch, in memory, against the model's validation split of `reference`: `check_drift_chunks`
    of one chunk."""
    return check_drift_chunks(model, reference, [batch], threshold)


def check_drift_csv(model: FraudModel, reference: TabularDataset, path: str | os.PathLike, *,
                    label_column: str, positive: str, threshold: float | None = None,
                    chunk_size: int = 50_000) -> dict[str, Any]:
    """A batch CSV of any size, read `chunk_size` rows at a time: memory holds one chunk, the
    reference, and for a labelled batch each row's score, label and amount (17 bytes a row)."""
    chunks = iter_labelled_chunks(path, chunk_size, label_column=label_column, positive_label=positive,
                                  feature_columns=model.feature_names)
    return check_drift_chunks(model, reference, chunks, threshold)


def check_drift_chunks(model: FraudModel, reference: TabularDataset, chunks: Iterable[TabularDataset],
                       threshold: float | None = None) -> dict[str, Any]:
    """The batch, given as chunks, against the model's validation split of `reference`; JSON-friendly
    (see the module docstring for the rule). Keys: drifted, psi, ks, ks_pvalue, verdicts,
    expected_alert_rate, observed_alert_rate (with its 99% interval), features (most moved first:
    name, ks, shift_sd), rows, labelled, compared (which rows), metrics (labelled batches),
    unknowable (unlabelled)."""
    val = validation_rows(model, reference)
    if val is None:
        raise DataError(f"{reference.source} is not the data this model was validated on, so there is nothing to "
                        "compare the batch with. Point at the model's training file (or use a model that ships its "
                        "held-out rows).")
    val_labels = reference.labels[val]
    ref_normal = reference.features.iloc[val[val_labels == 0]].reset_index(drop=True)
    ref_fraud = reference.features.iloc[val[val_labels == 1]].reset_index(drop=True)
    chosen = model.threshold_ if threshold is None else float(threshold)
    prevalence = model.deploy_prevalence
    ref_scores = model.score(ref_normal)
    names = list(model.feature_names)
    scores_seen = Distribution(ref_scores)
    features_seen = [Distribution(ref_normal[name].to_numpy(np.float64)) for name in names]
    rows = hits = 0
    labelled = None
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []  # a labelled batch's (scores, labels, amounts)
    for chunk in chunks:
        scores = model.score(chunk.features[names].reset_index(drop=True))
        if not np.isfinite(scores).all():
            raise DataError(f"{int((~np.isfinite(scores)).sum())} row(s) of the batch overflow the model's "
                            "arithmetic; `score` names each of them.")
        labelled = chunk.labels is not None
        normal = chunk.labels == 0 if labelled else np.ones(len(chunk), bool)
        scores_seen.add(scores[normal])
        values = chunk.features[names].to_numpy(np.float64)[normal]
        for column, counted in enumerate(features_seen):
            counted.add(values[:, column])
        rows += len(chunk)
        hits += int(np.sum(scores >= chosen))
        if labelled:
            kept.append((scores.astype(np.float64), chunk.labels.astype(np.int8),
                         None if chunk.amount is None else chunk.amount.astype(np.float64)))
    if not rows:
        raise DataError("The batch has no rows.")
    if scores_seen.n < MIN_ROWS:
        what = "normal rows" if labelled else "rows"
        raise DataError(f"The batch has {scores_seen.n} {what} to compare; the drift check needs at least "
                        f"{MIN_ROWS} to say anything about their distribution. Score single rows with `score`.")
    psi = scores_seen.psi()
    ks, pvalue = scores_seen.ks()
    labels = np.concatenate([k[1] for k in kept]).astype(np.int64) if labelled else None

    # A labelled batch's own share of frauds is known; otherwise the model's deployment prevalence.
    rate_prevalence, rate_basis = ((float(labels.mean()), "this batch's own fraud share") if labelled
                                   else (prevalence, "the deployment prevalence"))
    fpr = float(np.mean(ref_scores >= chosen))
    tpr = float(np.mean(model.score(ref_fraud) >= chosen)) if len(ref_fraud) else 0.0
    expected = fpr * (1 - rate_prevalence) + tpr * rate_prevalence
    observed = hits / rows
    low, high = _wilson(hits, rows)

    features = []
    for name, counted in zip(names, features_seen):
        statistic, feature_p = counted.ks()
        ref_values = ref_normal[name].to_numpy(np.float64)
        spread = float(np.std(ref_values)) or 1.0
        features.append({"name": name, "ks": statistic, "ks_pvalue": feature_p,
                         "shift_sd": float((counted.mean - np.mean(ref_values)) / spread)})
    features.sort(key=lambda f: -f["ks"])
    moved = [f for f in features if f["ks_pvalue"] < KS_ALPHA / len(features) and f["ks"] >= KS_MATERIAL]

    report: dict[str, Any] = {
        "drifted": bool(psi >= PSI_MAJOR or (pvalue < KS_ALPHA and ks >= KS_MATERIAL) or moved),
        "psi": psi, "ks": ks, "ks_pvalue": pvalue, "drifted_features": [f["name"] for f in moved],
        "verdicts": {"psi": psi_verdict(psi), "ks": ks_verdict(ks, pvalue), "features": features_verdict(moved),
                     "alert_rate": (f"At the threshold {chosen:.4g}, {expected:.2%} of transactions are expected to "
                                    f"be flagged at {rate_basis} ({rate_prevalence:.3%}); this batch had "
                                    f"{observed:.2%} flagged (99% interval {low:.2%}–{high:.2%})"
                                    + (", as expected." if low <= expected <= high else ": more than expected."
                                       if expected < low else ": fewer than expected."))},
        "threshold": chosen, "deploy_prevalence": prevalence, "alert_rate_prevalence": rate_prevalence,
        "expected_alert_rate": expected, "observed_alert_rate": observed,
        "observed_alert_interval": [low, high],
        "features": features,
        "rows": rows, "labelled": bool(labelled),
        "compared": ("the batch's normal rows" if labelled else "all the batch's rows")
                    + f" ({scores_seen.n:,}) against the model's {len(ref_normal):,} validation normals",
        "reference_source": reference.source,
    }
    if labelled and 0 < labels.sum() < len(labels):
        scores = np.concatenate([k[0] for k in kept])
        amount = None if kept[0][2] is None else np.concatenate([k[2] for k in kept])
        report["metrics"] = {**thresholds.evaluate_at_threshold(scores, labels, chosen, amount, prevalence=prevalence),
                             **thresholds.ranking_metrics(scores, labels, amount)}
    elif not labelled:
        report["unknowable"] = UNLABELLED_NOTE
    return report
