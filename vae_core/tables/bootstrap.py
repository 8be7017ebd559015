"""Bootstrap intervals for threshold metrics: resample the scored rows (no refitting), vectorised.

A resample draws n rows with replacement. At thresholds t_1 < … < t_K a row matters only through
its class, the gap between thresholds its score falls in, and (for a positive) what missing it
costs. So the n draws are one multinomial over categories: normals grouped by gap, positives grouped
by gap when they all cost the same and kept one by one when their costs differ (Amount). The grouped
counts of a multinomial are multinomial with the summed probabilities, so this is exactly row
resampling, at a cost of B × (gaps + positives) numbers instead of B × n:
`Generator.multinomial(n, p, size=B)` gives every replicate's counts at once, and cumulative sums
over the gaps give each replicate's confusion counts at every threshold.

Intervals are percentile intervals over the replicates; a replicate where a metric is undefined
(precision with no alerts) is left out of that metric's interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae_core.errors import ConfigError, DataError
from vae_core.tables.thresholds import ThresholdSweep

METRICS = ("precision", "recall", "f1", "fpr", "alerts", "cost", "precision_at_prevalence", "cost_at_prevalence",
           "saving_at_prevalence")
PREVALENCE_PER = 1000  # cost_at_prevalence and saving_at_prevalence are euros per this many transactions
DEFAULT_RESAMPLES = 1000
_CHUNK_CELLS = 4_000_000  # replicate counts held at once: B_chunk × categories


@dataclass(frozen=True)
class Layout:
    """The categories one resample is counted in (m of them), for thresholds (K,) ascending.

    gap (m,): how many thresholds lie at or below the category's scores (a row in gap g is flagged at
    threshold k, 0-based, when g > k); positive (m,) bool; cost (m,): what missing one of its rows
    costs (0 for normals, NaN when unknown); probability (m,): its share of the n rows.
    """

    thresholds: np.ndarray
    gap: np.ndarray
    positive: np.ndarray
    cost: np.ndarray
    probability: np.ndarray
    n: int
    review_fee: float
    has_cost: bool


def layout(sweep: ThresholdSweep, thresholds: np.ndarray) -> tuple[Layout, np.ndarray]:
    """The categories for `sweep`'s rows at `thresholds` (K,) ascending, and each sorted row's
    category (n,) (rows in the sweep's ascending score order). Normal categories come first, one per
    gap (empty ones dropped), then the positive ones in gap order."""
    scores, labels, missed = sweep.sorted_rows()
    if labels is None:
        raise DataError("Bootstrap intervals need labels (0 normal, 1 positive) for the scores.")
    t = np.asarray(thresholds, np.float64).reshape(-1)
    if t.size == 0 or np.isnan(t).any() or (np.diff(t) <= 0).any():
        raise ConfigError("Bootstrap thresholds must be one or more distinct numbers in ascending order.")
    n, k = sweep.n, t.size
    # Sorted rows [edges[g], edges[g + 1]) lie in gap g: at or above g thresholds, below the rest.
    edges = np.concatenate([[0], np.searchsorted(scores, t, side="left"), [n]])
    positives = np.flatnonzero(labels)  # sorted positions of the positive rows
    positive_gap = np.searchsorted(edges, positives, side="right") - 1
    normals = np.diff(edges) - np.bincount(positive_gap, minlength=k + 1)
    normal_gaps = np.flatnonzero(normals)
    individual = missed is not None and np.unique(missed[positives]).size > 1
    if individual:  # costs differ (Amount): each positive row is a category of its own
        positive_gaps, positive_counts = positive_gap, np.ones(positives.size, np.int64)
        positive_category = np.arange(positives.size)
        positive_cost = missed[positives]
    else:
        positive_gaps, positive_category, positive_counts = np.unique(positive_gap, return_inverse=True,
                                                                      return_counts=True)
        positive_cost = np.full(positive_gaps.size, np.nan if missed is None or not positives.size
                                else float(missed[positives[0]]))
    category = np.empty(n, np.int64)
    category[:] = np.cumsum(np.isin(np.arange(k + 1), normal_gaps))[np.repeat(np.arange(k + 1), np.diff(edges))] - 1
    category[positives] = normal_gaps.size + positive_category
    result = Layout(thresholds=t, gap=np.concatenate([normal_gaps, positive_gaps]),
                    positive=np.concatenate([np.zeros(normal_gaps.size, bool), np.ones(positive_gaps.size, bool)]),
                    cost=np.concatenate([np.zeros(normal_gaps.size), positive_cost]),
                    probability=np.concatenate([normals[normal_gaps], positive_counts]) / n, n=n,
                    review_fee=sweep.review_fee, has_cost=missed is not None)
    return result, category


def draw(plan: Layout, rng: np.random.Generator, size: int) -> np.ndarray:
    """Category counts (size, m) of `size` resamples of the n rows: Multinomial(n, plan.probability),
    drawn as the number of positives (binomial), then normals over their categories and positives over
    theirs (the same distribution, faster when the positives are kept one by one)."""
    counts = np.zeros((size, plan.gap.size), np.int64)
    positive = plan.positive
    share = float(plan.probability[positive].sum())
    n_pos = rng.binomial(plan.n, min(share, 1.0), size=size)
    if (~positive).any():
        counts[:, ~positive] = rng.multinomial(plan.n - n_pos, plan.probability[~positive] / (1.0 - share))
    if positive.any():
        within = plan.probability[positive] / share
        if within.size > 1 and np.all(within == within[0]):  # rows one by one: uniform picks
            picks = rng.integers(0, within.size, size=int(n_pos.sum()))
            replicate = np.repeat(np.arange(size), n_pos)
            counts[:, positive] = np.bincount(replicate * within.size + picks,
                                              minlength=size * within.size).reshape(size, within.size)
        else:
            counts[:, positive] = rng.multinomial(n_pos, within)
    return counts


def replicate_metrics(plan: Layout, counts: np.ndarray, prevalence: float | None = None) -> dict[str, np.ndarray]:
    """Metrics of replicates whose category counts are `counts` (B, m): each (B, K), keyed by METRICS
    ("cost" only when the miss cost is known; with a `prevalence`, "precision_at_prevalence" and,
    with the cost, "cost_at_prevalence" and "saving_at_prevalence" (against flagging nothing), in
    euros per PREVALENCE_PER transactions, the rows reweighted as thresholds.ThresholdSweep does).
    Undefined values (a zero denominator) are NaN."""
    from scipy import sparse

    counts = np.asarray(counts, np.float64)
    m, k = plan.gap.size, plan.thresholds.size
    # (m, K + 1) sums a category's rows into its gap; cumulative sums over gaps 0..k then count the
    # rows below threshold k.
    columns = [plan.positive, ~plan.positive] + ([np.where(plan.positive, plan.cost, 0.0)] if plan.has_cost else [])
    per_gap = [counts @ sparse.csr_array((np.asarray(w, np.float64), (np.arange(m), plan.gap)), shape=(m, k + 1))
               for w in columns]
    below = [np.cumsum(g, axis=1)[:, :k] for g in per_gap]
    n_pos, n_neg = per_gap[0].sum(axis=1, keepdims=True), per_gap[1].sum(axis=1, keepdims=True)
    fn, tn = below[0], below[1]
    tp, fp = n_pos - fn, n_neg - tn
    alerts = tp + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"precision": tp / alerts, "recall": tp / n_pos, "fpr": fp / n_neg,
               "f1": 2 * tp / (2 * tp + fp + fn), "alerts": alerts}
        if plan.has_cost:
            out["cost"] = plan.review_fee * alerts + below[2]
        if prevalence is not None:
            caught, raised = prevalence * out["recall"], (1 - prevalence) * out["fpr"]
            out["precision_at_prevalence"] = caught / (caught + raised)
            if plan.has_cost:
                missed_share = below[2] / n_pos  # what the missed positives cost, per positive row
                caught_share = per_gap[2].sum(axis=1, keepdims=True) / n_pos - missed_share
                review = plan.review_fee * (caught + raised)
                out["cost_at_prevalence"] = PREVALENCE_PER * (review + prevalence * missed_share)
                out["saving_at_prevalence"] = PREVALENCE_PER * (prevalence * caught_share - review)
    for values in out.values():
        values[~np.isfinite(values)] = np.nan
    return out


@dataclass(frozen=True)
class Intervals:
    """Percentile intervals at thresholds (K,): low / high {metric: (K,)}, `level` (e.g. 0.95), from
    `resamples` replicates; `defined` {metric: (K,)} the share of replicates where the metric exists.
    roc: {"fpr": (L,), "low", "high"}: recall at each false-positive rate (vertical averaging over
    replicates); pr: {"recall": (L,), "low", "high"}: the best precision at recall ≥ each level."""

    thresholds: np.ndarray
    level: float
    resamples: int
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    defined: dict[str, np.ndarray]
    roc: dict[str, np.ndarray] | None = None
    pr: dict[str, np.ndarray] | None = None

    def at(self, k: int = 0) -> dict[str, tuple[float, float] | None]:
        """{metric: (low, high)} at the k-th threshold; None where no replicate defines it."""
        return {name: None if np.isnan(self.low[name][k]) else (float(self.low[name][k]), float(self.high[name][k]))
                for name in self.low}


def _percentiles(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of values (B, K): the (1 - level)/2 and (1 + level)/2 percentiles of its defined
    (finite) entries, linearly interpolated as np.percentile does, and the share defined."""
    ordered = np.sort(values, axis=0)  # NaN sorts last
    valid = np.isfinite(ordered).sum(axis=0)
    bounds = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        position = q * np.maximum(valid - 1, 0)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(valid - 1, 0))
        columns = np.arange(values.shape[1])
        low, high = ordered[below, columns], ordered[above, columns]
        value = low + (position - below) * (high - low)
        value[valid == 0] = np.nan
        bounds.append(value)
    return bounds[0], bounds[1], valid / len(values)


def _first_index(decreasing: np.ndarray, limits: np.ndarray, *, strict: bool) -> np.ndarray:
    """For rows of `decreasing` (B, K), each non-increasing along K, and limits (L,): how many
    entries of the row are > limit (strict) or ≥ limit: (B, L)."""
    side = "left" if strict else "right"
    return np.stack([np.searchsorted(-row, -limits, side=side) for row in decreasing]) if len(decreasing) \
        else np.zeros((0, limits.size), np.int64)


def _roc_band(fpr: np.ndarray, recall: np.ndarray, grid: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """Per replicate (rows), the highest recall at a false-positive rate ≤ each grid value: the recall
    of the first threshold whose rate is that low (both fall as the threshold rises)."""
    defined = np.isfinite(fpr).all(axis=1) & np.isfinite(recall).all(axis=1)
    fpr, recall = fpr[defined], recall[defined]
    first = _first_index(fpr, grid, strict=True)  # thresholds still above the rate
    padded = np.concatenate([recall, np.zeros((len(recall), 1))], axis=1)
    values = np.take_along_axis(padded, first, axis=1)
    low, high, _ = _percentiles(values, level)
    return {"fpr": grid, "low": low, "high": high}


def _pr_band(recall: np.ndarray, precision: np.ndarray, grid: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """Per replicate (rows), the best precision among thresholds whose recall reaches each grid level
    (those thresholds are the lowest ones, as recall falls while the threshold rises)."""
    defined = np.isfinite(recall).all(axis=1)
    recall, precision = recall[defined], precision[defined]
    reach = _first_index(recall, grid, strict=False)  # thresholds with recall ≥ level
    best = np.maximum.accumulate(np.nan_to_num(precision, nan=-1.0), axis=1)
    values = np.take_along_axis(np.concatenate([np.full((len(best), 1), -1.0), best], axis=1), reach, axis=1)
    values[values < 0] = np.nan
    low, high, _ = _percentiles(values, level)
    return {"recall": grid, "low": low, "high": high}


def bootstrap(sweep: ThresholdSweep, thresholds: np.ndarray | float, *, resamples: int = DEFAULT_RESAMPLES,
              level: float = 0.95, seed: int = 0, prevalence: float | None = None, curves: bool = False) -> Intervals:
    """Percentile bootstrap intervals of the metrics at `thresholds` (K,) ascending (or one threshold),
    resampling `sweep`'s n rows `resamples` times (seeded, so repeatable).

    prevalence: also intervals for the precision, the cost and the saving against flagging nothing
    that the rows would have at that fraud prevalence (rows reweighted; see replicate_metrics); curves: also ROC and PR bands (then the
    thresholds should span the scores, e.g. a few hundred of them).
    """
    if not isinstance(resamples, (int, np.integer)) or resamples < 2:
        raise ConfigError(f"Resamples must be a whole number ≥ 2, not {resamples!r}.")
    if not 0 < level < 1:
        raise ConfigError(f"The interval level must be between 0 and 1, not {level!r}.")
    if prevalence is not None and not 0 < prevalence < 1:
        raise ConfigError(f"The prevalence must be a fraction between 0 and 1, not {prevalence!r}.")
    plan, _ = layout(sweep, np.atleast_1d(np.asarray(thresholds, np.float64)))
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_CELLS // max(1, plan.gap.size)))
    parts: dict[str, list[np.ndarray]] = {}
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        counts = draw(plan, rng, size)
        for name, values in replicate_metrics(plan, counts, prevalence).items():
            parts.setdefault(name, []).append(values)
        done += size
    replicates = {name: np.concatenate(values) for name, values in parts.items()}
    low, high, defined = {}, {}, {}
    for name, values in replicates.items():
        low[name], high[name], defined[name] = _percentiles(values, level)
    roc = pr = None
    if curves:
        grid = np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 96)])
        roc = _roc_band(replicates["fpr"], replicates["recall"], grid, level)
        pr = _pr_band(replicates["recall"], replicates["precision"], np.linspace(0.0, 1.0, 101), level)
    return Intervals(plan.thresholds, level, int(resamples), low, high, defined, roc, pr)
