"""Has a new batch of transactions moved away from what a fraud model was validated on?

The reference is the model's validation split (read from its training file, or from the held-out
rows shipped with it): its normal rows for the score and feature distributions, all of it for the
alert rate expected at deployment prevalence. The batch side is its normal rows when it is
labelled, else all its rows (at a deployment prevalence of 0.172%, frauds barely move the
distribution).

Rule for `drifted`: the scores' population stability index is at least PSI_MAJOR, or the
two-sample Kolmogorov–Smirnov test finds a difference (p < KS_ALPHA) of at least KS_MATERIAL.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import kolmogorov

from vae_core import thresholds
from vae_core.errors import DataError
from vae_core.fraud import FraudModel, validation_rows
from vae_core.tabular import TabularDataset

PSI_BINS = 10
PSI_MODERATE, PSI_MAJOR = 0.10, 0.25  # the usual credit-risk reading of the index
KS_ALPHA, KS_MATERIAL = 0.01, 0.10
MIN_ROWS = 20  # fewer compared rows say nothing about a distribution
_FLOOR = 1e-4  # an empty bin's share, so the index stays finite
UNLABELLED_NOTE = ("This batch has no labels, so precision, recall and the cost on it cannot be measured, and a "
                   "shift in scores cannot be told apart as new fraud patterns or new normal behaviour: only "
                   "labels for a sample of its rows can say which.")


def population_stability(reference: np.ndarray, batch: np.ndarray, bins: int = PSI_BINS) -> float:
    """PSI of `batch` (m,) against `reference` (n,): Σ (b − r)·ln(b / r) over the reference's decile bins."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    shares = [np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1) / len(values)
              for values in (reference, batch)]
    r, b = (np.maximum(share, _FLOOR) for share in shares)
    return float(np.sum((b - r) * np.log(b / r)))


def ks_two_sample(reference: np.ndarray, batch: np.ndarray) -> tuple[float, float]:
    """(D, p): the largest gap between the two empirical CDFs and its asymptotic p-value."""
    a, b = np.sort(reference), np.sort(batch)
    grid = np.concatenate([a, b])
    gap = np.abs(np.searchsorted(a, grid, side="right") / len(a) - np.searchsorted(b, grid, side="right") / len(b))
    statistic = float(gap.max())
    effective = len(a) * len(b) / (len(a) + len(b))
    return statistic, float(min(1.0, kolmogorov(statistic * math.sqrt(effective))))


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


def _wilson(hits: int, n: int, z: float = 2.576) -> tuple[float, float]:
    """The 99% Wilson interval of a rate hits / n."""
    rate = hits / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def check_drift(model: FraudModel, reference: TabularDataset, batch: TabularDataset,
                threshold: float | None = None) -> dict[str, Any]:
    """The batch against the model's validation split of `reference`; JSON-friendly (see the module
    docstring for the rule). Keys: drifted, psi, ks, ks_pvalue, verdicts, expected_alert_rate,
    observed_alert_rate (with its 99% interval), features (most moved first: name, ks, shift_sd),
    rows, labelled, compared (which rows), metrics (labelled batches), unknowable (unlabelled)."""
    val = validation_rows(model, reference)
    if val is None:
        raise DataError(f"{reference.source} is not the data this model was validated on, so there is nothing to "
                        "compare the batch with. Point at the model's training file (or use a model that ships its "
                        "held-out rows).")
    if not len(batch):
        raise DataError("The batch has no rows.")
    val_labels = reference.labels[val]
    ref_normal = reference.features.iloc[val[val_labels == 0]].reset_index(drop=True)
    ref_fraud = reference.features.iloc[val[val_labels == 1]].reset_index(drop=True)
    chosen = model.threshold_ if threshold is None else float(threshold)
    prevalence = model.deploy_prevalence

    ref_scores = model.score(ref_normal)
    batch_scores = model.score(batch.features.reset_index(drop=True))
    if not np.isfinite(batch_scores).all():
        raise DataError(f"{int((~np.isfinite(batch_scores)).sum())} row(s) of the batch overflow the model's "
                        "arithmetic; `score` names each of them.")
    labelled = batch.labels is not None
    normal = batch.labels == 0 if labelled else np.ones(len(batch), bool)
    if normal.sum() < MIN_ROWS:
        what = "normal rows" if labelled else "rows"
        raise DataError(f"The batch has {int(normal.sum())} {what} to compare; the drift check needs at least "
                        f"{MIN_ROWS} to say anything about their distribution. Score single rows with `score`.")
    compared = batch_scores[normal]
    psi = population_stability(ref_scores, compared)
    ks, pvalue = ks_two_sample(ref_scores, compared)

    # A labelled batch's own share of frauds is known; otherwise the model's deployment prevalence.
    rate_prevalence, rate_basis = ((float(batch.labels.mean()), "this batch's own fraud share") if labelled
                                   else (prevalence, "the deployment prevalence"))
    fpr = float(np.mean(ref_scores >= chosen))
    tpr = float(np.mean(model.score(ref_fraud) >= chosen)) if len(ref_fraud) else 0.0
    expected = fpr * (1 - rate_prevalence) + tpr * rate_prevalence
    hits = int(np.sum(batch_scores >= chosen))
    observed = hits / len(batch)
    low, high = _wilson(hits, len(batch))

    features = []
    batch_normal = batch.features[list(model.feature_names)].to_numpy(np.float64)[normal]
    for column, name in enumerate(model.feature_names):
        ref_values = ref_normal[name].to_numpy(np.float64)
        statistic, _ = ks_two_sample(ref_values, batch_normal[:, column])
        spread = float(np.std(ref_values)) or 1.0
        features.append({"name": name, "ks": statistic,
                         "shift_sd": float((np.mean(batch_normal[:, column]) - np.mean(ref_values)) / spread)})
    features.sort(key=lambda f: -f["ks"])

    report: dict[str, Any] = {
        "drifted": bool(psi >= PSI_MAJOR or (pvalue < KS_ALPHA and ks >= KS_MATERIAL)),
        "psi": psi, "ks": ks, "ks_pvalue": pvalue,
        "verdicts": {"psi": psi_verdict(psi), "ks": ks_verdict(ks, pvalue),
                     "alert_rate": (f"At the threshold {chosen:.4g}, {expected:.2%} of transactions are expected to "
                                    f"be flagged at {rate_basis} ({rate_prevalence:.3%}); this batch had "
                                    f"{observed:.2%} flagged (99% interval {low:.2%}–{high:.2%})"
                                    + (", as expected." if low <= expected <= high else ": more than expected."
                                       if expected < low else ": fewer than expected."))},
        "threshold": chosen, "deploy_prevalence": prevalence, "alert_rate_prevalence": rate_prevalence,
        "expected_alert_rate": expected, "observed_alert_rate": observed,
        "observed_alert_interval": [low, high],
        "features": features,
        "rows": len(batch), "labelled": labelled,
        "compared": ("the batch's normal rows" if labelled else "all the batch's rows")
                    + f" ({int(normal.sum()):,}) against the model's {len(ref_normal):,} validation normals",
        "reference_source": reference.source,
    }
    if labelled and 0 < batch.labels.sum() < len(batch):
        labels = batch.labels.astype(np.int64)
        report["metrics"] = {**thresholds.evaluate_at_threshold(batch_scores, labels, chosen, batch.amount,
                                                                prevalence=prevalence),
                             **thresholds.ranking_metrics(batch_scores, labels, batch.amount)}
    elif not labelled:
        report["unknowable"] = UNLABELLED_NOTE
    return report
