"""What a threshold means on scored rows: the threshold page's summaries, money, flagged rows and exports.

Per threshold move only an already-built `ThresholdSweep` is asked for one point (O(log n)); the
histograms are pre-binned and the curves pre-thinned, so a move costs the same at 3,000 rows as at
284,807. The browser-side explorer gets the counts at a few thousand threshold stops (`stop_table`),
so it can redraw every number while a threshold is dragged, exactly as the sweep would give them.
Arrays in, small dataclasses out.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from vae_core.tables import thresholds
from vae_core.errors import ConfigError
from vae_core.tables.fraud import PREVALENCE_NOTE, ScoredData
from vae_core.latent import sample_rows
from vae_core.tables.tabular import AMOUNT_COLUMN, TIME_COLUMN

OUTCOME_NAMES = {0: "TP", 1: "FP", 2: "FN", 3: "TN"}


def frauds_first(labels: np.ndarray | None, n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Up to `limit` sorted positions of n scored rows: all of them when they fit, else every fraud
    (at most half the limit) and a seeded sample of the normal rows."""
    if n <= limit:
        return np.arange(n)
    if labels is None:
        return sample_rows(n, limit, seed)
    frauds = np.flatnonzero(labels == 1)
    if len(frauds) > limit // 2:
        frauds = frauds[sample_rows(len(frauds), limit // 2, seed)]
    normals = np.flatnonzero(labels == 0)
    return np.sort(np.concatenate([frauds, normals[sample_rows(len(normals), limit - len(frauds), seed)]]))


@dataclass(frozen=True)
class ScoreSummary:
    """Everything on the threshold page that does not depend on the threshold (built once).

    hist_*: bin edges (b + 1,) and counts (2, b) [normal, fraud], linear and log-spaced;
    roc / pr: thinned curves; options: slider stops (k,) ascending; scatter_*: the rows drawn in the
    outcome scatter (all frauds + a sample of normals, positions into the scored rows) and their
    latent coordinates (m, 2).
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
    positions = frauds_first(labels, len(scores), max_scatter_points, seed)
    latent = np.asarray(scored.latent[positions], np.float32)
    xy = latent[:, :2] if latent.shape[1] >= 2 else np.column_stack([latent[:, 0], np.zeros(len(latent))])
    return ScoreSummary(n=len(scores), n_fraud=n_fraud, prevalence=prevalence, auroc=auroc, average_precision=ap,
                        hist_edges=edges, hist_counts=_binned(scores, labels, edges), hist_log_edges=log_edges,
                        hist_log_counts=_binned(np.clip(scores, positive_low, None), labels, log_edges),
                        roc_fpr=roc_fpr, roc_tpr=roc_tpr, pr_recall=pr_recall, pr_precision=pr_precision,
                        options=slider_stops(scores), scatter_positions=positions, scatter_xy=xy,
                        score_min=low, score_max=high)


def build_sweep(scored: ScoredData, review_fee: float, fraud_cost: float | str,
                prevalence: float | None = None) -> thresholds.ThresholdSweep:
    """The O(log n)-per-query sweep over these scores, with the money panel's cost model; with a
    `prevalence`, the rows reweighted to it (expected counts and costs per n rows there)."""
    amounts = scored.amounts if fraud_cost == "amount" else None
    return thresholds.ThresholdSweep(scored.scores, scored.labels, amounts, review_fee=review_fee,
                                     fraud_cost=fraud_cost, prevalence=prevalence)


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
    best = int(np.flatnonzero(exact <= exact.min() + 1e-9 * max(1.0, abs(exact.min())))[-1])
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


def flagged_frame(scored: ScoredData, threshold: float, limit: int | None = 200,
                  names: tuple[str, str] = ("normal", "fraud")) -> pd.DataFrame:
    """Flagged rows (highest score first, at most `limit`): row, score, label (named by `names`,
    (normal, positive)), amount, then features."""
    positions = flagged_positions(scored, threshold)
    if limit is not None:
        positions = positions[:limit]
    frame = scored.features.iloc[positions].reset_index(drop=True)
    columns = {"row": scored.rows[positions], "score": scored.scores[positions]}
    if scored.labels is not None:
        columns["label"] = np.where(scored.labels[positions] == 1, names[1], names[0])
    if scored.amounts is not None and AMOUNT_COLUMN not in frame.columns:
        columns[AMOUNT_COLUMN] = scored.amounts[positions]
    return pd.concat([pd.DataFrame(columns), frame], axis=1)


def flagged_csv(scored: ScoredData, threshold: float, names: tuple[str, str] = ("normal", "fraud")) -> bytes:
    """Every flagged row as CSV bytes (for the download button; generated on click)."""
    return flagged_frame(scored, threshold, limit=None, names=names).to_csv(index=False).encode("utf-8")


def settings_json(*, model: str, threshold: float, strategy: str | None, params: dict[str, Any],
                  point: thresholds.SweepPoint, review_fee: float, fraud_cost: float | str,
                  data_source: str, evaluated_on: str, prevalence: float | None,
                  intervals: dict[str, Any] | None = None, estimate: PrevalenceEstimate | None = None,
                  scorer: str = "VAE", decided_at: float | None = None) -> str:
    """The chosen operating point as JSON, with what it was measured on; optionally its bootstrap
    intervals ({"level", "resamples", metric: [low, high] | None}), the estimate at the deployment
    prevalence, who scored the rows and the prevalence strategies decided at (None: as sampled)."""
    settings = {
        "model": model, "scorer": scorer, "threshold": threshold, "strategy": strategy, "strategy_params": params,
        "decided_at_prevalence": decided_at,
        "cost_model": {"review_fee": review_fee, "fraud_cost": fraud_cost},
        "at_threshold": point.to_dict(), "data_source": data_source, "evaluated_on": evaluated_on,
        "prevalence": prevalence, "note": PREVALENCE_NOTE,
    }
    if intervals is not None:
        settings["bootstrap_intervals"] = intervals
    if estimate is not None:
        settings["estimate_at_prevalence"] = {**asdict(estimate), "note": ESTIMATE_NOTE}
    return json.dumps(settings, indent=2, default=float)


# --- the browser-side explorer: counts at threshold stops ----------------------------------------

STOP_DIGITS = 6  # stops have 6 significant digits, as a threshold in the URL does: a link restores one exactly


def round_down(value: float) -> float:
    """The largest number with STOP_DIGITS significant digits that is ≤ value."""
    value = float(value)
    if value == 0 or not math.isfinite(value):
        return value
    rounded = float(f"{value:.{STOP_DIGITS}g}")
    if rounded <= value:
        return rounded
    step = 10.0 ** (math.floor(math.log10(abs(value))) - STOP_DIGITS + 1)
    return float(f"{value - step:.{STOP_DIGITS}g}")


def round_up_past(value: float) -> float:
    """The smallest number with STOP_DIGITS significant digits that is > value."""
    value = float(value)
    rounded = float(f"{value:.{STOP_DIGITS}g}")
    if rounded > value:
        return rounded
    step = 10.0 ** (math.floor(math.log10(abs(value))) - STOP_DIGITS + 1) if value else 10.0 ** -STOP_DIGITS
    return float(f"{value + step:.{STOP_DIGITS}g}")


def explorer_stops(sweep: thresholds.ThresholdSweep, per_kind: int = 1024) -> np.ndarray:
    """(k,) ascending thresholds a drag can land on, each with STOP_DIGITS significant digits: evenly
    spaced on a linear and on a log axis (so every pixel of either axis has one), at evenly spaced
    ranks (so every alert count region has them), at the `per_kind` highest distinct scores (where
    the frauds and the last alerts are), and one above the top score (nothing flagged)."""
    scores = sweep.sorted_scores
    low, high = float(scores[0]), float(scores[-1])
    values = [np.linspace(low, high, per_kind), scores[np.linspace(0, scores.size - 1, per_kind).round().astype(int)],
              sweep.candidates()[-per_kind:]]
    positive = scores[scores > 0]
    if positive.size and high > positive[0]:
        values.append(np.geomspace(positive[0], high, per_kind))
    stops = {round_down(v) for v in np.concatenate(values).tolist()}
    stops.add(round_up_past(high))
    return np.array(sorted(stops), np.float64)


@dataclass(frozen=True)
class StopTable:
    """Counts at each threshold stop: thresholds (k,) ascending; alerts (k,); fn (k,) missed positives
    (None without labels); missed (k,) what the missed positives cost (None when unknown). With the
    totals, these give every number `ThresholdSweep.at` gives, by the same arithmetic."""

    thresholds: np.ndarray
    alerts: np.ndarray
    fn: np.ndarray | None
    missed: np.ndarray | None


def stop_table(sweep: thresholds.ThresholdSweep, stops: np.ndarray) -> StopTable:
    curve = sweep.curve(stops)
    return StopTable(np.asarray(stops, np.float64), curve["alerts"].astype(np.int64),
                     None if "fn" not in curve else curve["fn"].astype(np.int64), sweep.missed_cost(stops))


def band_indices(k: int, n: int = 512) -> np.ndarray:
    """(≤ n,) positions among k stops where bootstrap bands are computed, evenly spread, both ends kept."""
    return np.unique(np.linspace(0, k - 1, min(n, k)).round().astype(np.int64))


# --- another prevalence -------------------------------------------------------------------------------

ESTIMATE_NOTE = ("An estimate: normal rows are reweighted so that frauds make up the chosen share, assuming "
                 "scores within each class would look as they do here.")
DEFAULT_VOLUME = 100_000  # estimates are per this many transactions


@dataclass(frozen=True)
class PrevalenceEstimate:
    """A threshold's outcome at another fraud prevalence, per `per` transactions of which a share
    `prevalence` are frauds: each fraud row stands for `per·prevalence/n_pos` frauds and each normal
    row for `per·(1 − prevalence)/n_neg` normals (`normal_weight` normals per fraud row's weight).
    precision is None with no alerts; cost None when the cost of a miss is unknown."""

    prevalence: float
    per: int
    normal_weight: float
    frauds: float
    alerts: float
    precision: float | None
    cost: float | None


def at_prevalence(tp: int, fp: int, n_pos: int, n_neg: int, prevalence: float, *, missed: float | None = None,
                  review_fee: float = 0.0, per: int = DEFAULT_VOLUME) -> PrevalenceEstimate | None:
    """Reweight normals to `prevalence` (0 < p < 1); None when a class is missing from the rows.
    missed: what the positives left unflagged cost (ThresholdSweep.missed_cost), for the cost."""
    if not 0 < prevalence < 1:
        raise ConfigError(f"The prevalence must be a fraction between 0 and 1 (0.00172 for 0.172%), not {prevalence!r}.")
    if n_pos <= 0 or n_neg <= 0:
        return None
    # The browser's explorer repeats this arithmetic operation for operation, so both show the same digits.
    fraud_weight = per * prevalence / n_pos
    normal_weight = per * (1 - prevalence) / n_neg
    caught = fraud_weight * tp
    raised = normal_weight * fp
    alerts = caught + raised
    return PrevalenceEstimate(prevalence=float(prevalence), per=int(per), normal_weight=normal_weight / fraud_weight,
                              frauds=per * prevalence, alerts=alerts,
                              precision=caught / alerts if alerts > 0 else None,
                              cost=None if missed is None else review_fee * alerts + fraud_weight * missed)


# --- other scorers beside the VAE -------------------------------------------------------------------

def scorer_table(scores: dict[str, np.ndarray], labels: np.ndarray, amounts: np.ndarray | None, *,
                 review_fee: float, fraud_cost: float | str, max_fpr: float = 0.01) -> list[dict[str, Any]]:
    """One row per scorer (name → scores (n,) of the same rows): AUROC, AP, recall at a false-positive
    rate ≤ `max_fpr`, and the minimum total cost over every threshold (None when a miss's cost is unknown)."""
    rows = []
    for name, values in scores.items():
        values = np.asarray(values, np.float64)
        sweep = thresholds.ThresholdSweep(values, labels, amounts if fraud_cost == "amount" else None,
                                          review_fee=review_fee, fraud_cost=fraud_cost)
        at_cap = sweep.at(thresholds.fpr_cap_threshold(values, labels, max_fpr))
        cost = sweep.curve(sweep.grid()).get("cost")
        rows.append({"scorer": name, "auroc": thresholds.roc_auc(values, labels),
                     "average_precision": thresholds.average_precision(values, labels),
                     "recall_at_fpr": at_cap.recall, "min_cost": None if cost is None else float(cost.min())})
    return rows


def scorer_curves(scores: np.ndarray, labels: np.ndarray, max_points: int = 600) -> dict[str, np.ndarray]:
    """A scorer's thinned ROC ("fpr", "tpr") and PR ("recall", "precision") curves."""
    roc = thresholds.roc_curve_points(scores, labels)
    pr = thresholds.pr_curve_points(scores, labels)
    fpr, tpr = _thin(roc["fpr"], roc["tpr"], max_points)
    recall, precision = _thin(pr["recall"], pr["precision"], max_points)
    return {"fpr": fpr, "tpr": tpr, "recall": recall, "precision": precision}




# --- how robust the decision is -------------------------------------------------------------------

AMOUNT_EDGES = (0.0, 10.0, 50.0, 200.0, 1000.0)  # euros: the buckets' lower ends, the last one open
HOUR_BLOCK = 4  # hours of the day per segment: 24 single hours hold too few frauds each to read
TIME_WINDOWS = 6
CURVE_ROWS = 20_000  # thresholds per scorer in the curves' CSV at most


def _segment_row(segment: str, labels: np.ndarray | None, flags: np.ndarray) -> dict[str, Any]:
    """Rows, alert rate and, with labels, frauds, recall, precision and FPR of one segment's flags (m,)."""
    row: dict[str, Any] = {"segment": segment, "rows": int(len(flags)),
                           "alert_rate": float(flags.mean()) if len(flags) else None}
    if labels is not None:
        counts = thresholds.confusion_counts(labels, flags)
        tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
        row |= {"frauds": tp + fn, "flagged": tp + fp, "recall": tp / (tp + fn) if tp + fn else None,
                "precision": tp / (tp + fp) if tp + fp else None, "fpr": fp / (fp + tn) if fp + tn else None}
    else:
        row["flagged"] = int(flags.sum())
    return row


def time_of_rows(scored: ScoredData) -> np.ndarray | None:
    """(m,) each scored row's Time in seconds, or None when the data has no Time column."""
    if TIME_COLUMN not in scored.features.columns:
        return None
    return scored.features[TIME_COLUMN].to_numpy(np.float64)


def segment_rows(scored: ScoredData, threshold: float) -> dict[str, list[dict[str, Any]]]:
    """The threshold's counts by segment: {"amount": by Amount bucket, "hour": by HOUR_BLOCK-hour block
    of the day from Time}; a key is absent when the data lacks its column. Each row: segment, rows,
    alert_rate, flagged, and with labels frauds, recall, precision, fpr (None where undefined)."""
    flags = (np.asarray(scored.scores, np.float64) >= threshold).astype(np.int64)
    labels = scored.labels
    out: dict[str, list[dict[str, Any]]] = {}
    if scored.amounts is not None:
        bucket = np.searchsorted(np.asarray(AMOUNT_EDGES[1:]), scored.amounts, side="right")
        names = [f"€{low:,.0f}–{high:,.0f}" for low, high in zip(AMOUNT_EDGES, AMOUNT_EDGES[1:])]
        names.append(f"€{AMOUNT_EDGES[-1]:,.0f} and more")
        out["amount"] = [_segment_row(name, None if labels is None else labels[bucket == i], flags[bucket == i])
                         for i, name in enumerate(names) if (bucket == i).any()]
    time = time_of_rows(scored)
    if time is not None:
        block = (time // 3600 % 24 // HOUR_BLOCK).astype(np.int64)
        out["hour"] = [_segment_row(f"{HOUR_BLOCK * i:02d}:00–{HOUR_BLOCK * (i + 1):02d}:00",
                                    None if labels is None else labels[block == i], flags[block == i])
                       for i in range(24 // HOUR_BLOCK) if (block == i).any()]
    return out


def window_rows(scored: ScoredData, threshold: float, windows: int = TIME_WINDOWS) -> list[dict[str, Any]] | None:
    """The threshold at work over time: the rows in Time order cut into `windows` windows of equal
    counts, each a `_segment_row` named by its hours since the first transaction; None without Time."""
    time = time_of_rows(scored)
    if time is None:
        return None
    order = np.argsort(time, kind="stable")
    flags = (np.asarray(scored.scores, np.float64) >= threshold).astype(np.int64)
    rows = []
    for part in np.array_split(order, min(windows, len(order))):
        hours = time[part] / 3600
        labels = None if scored.labels is None else scored.labels[part]
        rows.append(_segment_row(f"hours {hours.min():.1f}–{hours.max():.1f}", labels, flags[part]))
    return rows


def curves_csv(scores: dict[str, np.ndarray], labels: np.ndarray, amounts: np.ndarray | None, *,
               review_fee: float, fraud_cost: float | str, prevalence: float | None = None,
               max_rows: int = CURVE_ROWS) -> bytes:
    """The ROC, PR and cost curves' data of each scorer (name → scores (n,) of the same rows) as CSV:
    one line per threshold (every distinct score, or `max_rows` of them spread over the ranks), with
    the counts and metrics as sampled and, given `prevalence`, the alerts per 1,000, precision and
    cost per 1,000 reweighted to it."""
    frames = []
    for name, values in scores.items():
        values = np.asarray(values, np.float64)
        sampled = thresholds.ThresholdSweep(values, labels, amounts if fraud_cost == "amount" else None,
                                            review_fee=review_fee, fraud_cost=fraud_cost)
        grid = sampled.grid()
        if len(grid) > max_rows:
            grid = grid[np.unique(np.linspace(0, len(grid) - 1, max_rows).round().astype(np.int64))]
        curve = sampled.curve(grid)
        frame = pd.DataFrame({"scorer": name, **{key: curve[key] for key in
                                                 ("threshold", "alerts", "tp", "fp", "fn", "tn", "recall", "fpr",
                                                  "precision", "f1", "cost") if key in curve}})
        if prevalence is not None:
            deployed = thresholds.ThresholdSweep(values, labels, amounts if fraud_cost == "amount" else None,
                                                 review_fee=review_fee, fraud_cost=fraud_cost,
                                                 prevalence=prevalence).curve(grid)
            per = 1000 / len(values)
            frame["alerts_per_1000_at_deployment"] = deployed["alerts"] * per
            frame["precision_at_deployment"] = deployed["precision"]
            if "cost" in deployed:
                frame["cost_per_1000_at_deployment"] = deployed["cost"] * per
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).to_csv(index=False).encode()


def scorer_cost_curves(scores: dict[str, np.ndarray], labels: np.ndarray, amounts: np.ndarray | None, *,
                       review_fee: float, fraud_cost: float | str, prevalence: float | None = None,
                       max_points: int = 600) -> dict[str, dict[str, np.ndarray]]:
    """Each scorer's cost curve on a scale they share (name → scores (n,) of the same rows): alerts
    per 1,000 rows against the cost per 1,000, thinned to `max_points`, as sampled or reweighted to
    `prevalence`; empty when a miss's cost is unknown."""
    out = {}
    for name, values in scores.items():
        sweep = thresholds.ThresholdSweep(np.asarray(values, np.float64), labels,
                                          amounts if fraud_cost == "amount" else None, review_fee=review_fee,
                                          fraud_cost=fraud_cost, prevalence=prevalence)
        curve = sweep.curve(sweep.grid())
        if "cost" not in curve:
            return {}
        per = 1000 / sweep.n
        alerts, cost = _thin(curve["alerts"][::-1] * per, curve["cost"][::-1] * per, max_points)
        out[name] = {"alerts_per_1000": alerts, "cost_per_1000": cost}
    return out
