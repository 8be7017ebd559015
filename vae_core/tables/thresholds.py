"""Thresholds and metrics on anomaly scores: pure functions on arrays.

Conventions: `scores` (n,) float, higher = more anomalous; `labels` (n,) 0/1 with 1 = positive
(fraud); a row is flagged when score >= threshold. Ratios with a zero denominator: precision is
undefined with no alerts — None in a SweepPoint or a report, 1.0 inside curves, where strategies
compare it (no false alarm was raised; scikit-learn's PR curve ends there too) — recall 0.0 with no
positives, fpr 0.0 with no negatives, f1 0.0 with neither positives nor alerts.

Cost model, in euros: every alert costs `review_fee` to review, true and false alarms alike; every
missed fraud costs its Amount (`fraud_cost="amount"`) or a fixed `fraud_cost`. So
cost(t) = review_fee · alerts(t) + Σ fraud cost of the positives scored below t.

Deployment prevalence: the rows at hand may hold another share of positives than the data a model
will score (the credit-card subset has 14.8% frauds, the full data 0.172%). With `prevalence` π a
sweep reweights the rows so that positives carry a share π of the n rows' total weight: each
positive weighs n·π/n_pos and each normal n·(1 − π)/n_neg (fraud_analysis.at_prevalence's math,
per n rows). Counts, alerts and costs are then expected values at that prevalence; recall and the
false-positive rate do not change, precision, F1, alerts and cost do. Every labelled strategy takes
`prevalence` and optimises at it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from vae_core.errors import ConfigError, DataError

DEFAULT_REVIEW_FEE = 5.0  # euros per alert: a few minutes of an analyst's time
FraudCost = float | Literal["amount"]


# --- input checks -------------------------------------------------------------------------------

def _as_scores(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise DataError(f"{name} must be a non-empty 1-D array, not shape {values.shape}.")
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise DataError(f"{name} hold {bad} NaN or infinite value(s); the model produced unusable "
                        "scores for those rows, so check its inputs.")
    return values


def _as_labels(labels: np.ndarray, n: int) -> np.ndarray:
    values = np.asarray(labels)
    if values.shape != (n,):
        raise DataError(f"labels have shape {values.shape} but there are {n} scores; give one label per score.")
    if not np.isin(values, (0, 1)).all():
        raise DataError(f"labels must be 0 (normal) or 1 (positive); found {np.unique(values)[:6].tolist()}.")
    return values.astype(np.int64)


def _need_classes(n_pos: int | None, n: int, what: str, *, positives: bool = True, negatives: bool = True) -> None:
    if n_pos is None:
        raise DataError(f"{what} needs labels (0 normal, 1 positive) for the scores.")
    if (positives and n_pos == 0) or (negatives and n_pos == n):
        missing = "positive (fraud)" if n_pos == 0 else "normal"
        raise DataError(f"{what} needs {missing} rows, but the labels have none. Use data (or a "
                        "split) with both classes.")


def _euros(value: float, name: str) -> float:
    if isinstance(value, (int, float, np.number)) and value >= 0:
        return float(value)
    raise ConfigError(f"{name} must be a non-negative number of euros, not {value!r}.")


def check_prevalence(value: float, name: str = "The deployment prevalence") -> float:
    """`value` as a float when it is a fraction strictly between 0 and 1, else ConfigError."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    raise ConfigError(f"{name} must be a fraction strictly between 0 and 1 (0.00172 for 0.172%), not {value!r}.")


def prevalence_weights(labels: np.ndarray, prevalence: float) -> np.ndarray:
    """(n,) row weights that make positives a share `prevalence` of labels (n,)'s total weight n:
    n·π/n_pos for positives and n·(1 − π)/n_neg for normals."""
    y = _as_labels(labels, np.asarray(labels).size)
    prevalence = check_prevalence(prevalence)
    n, n_pos = y.size, int(y.sum())
    _need_classes(n_pos, n, "Reweighting to a deployment prevalence")
    return np.where(y == 1, n * prevalence / n_pos, n * (1 - prevalence) / (n - n_pos))


def _check_thresholds(thresholds: np.ndarray) -> np.ndarray:
    values = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if np.isnan(values).any():
        raise ConfigError("Thresholds must be numbers, not NaN.")
    return values


def _missed_costs(labels: np.ndarray, amounts: np.ndarray | None, fraud_cost: FraudCost) -> np.ndarray | None:
    """(n,) what missing each row would cost: its fraud cost for positives, 0 for normals.

    None when the cost is unknown (`fraud_cost="amount"` without amounts).
    """
    if isinstance(fraud_cost, str) and fraud_cost == "amount":
        if amounts is None:
            return None
        values = np.asarray(amounts, dtype=np.float64)
        if values.shape != labels.shape or not np.isfinite(values).all() or (values < 0).any():
            raise DataError(f"amounts must be {labels.size} finite, non-negative numbers, one per score.")
        return values * labels
    if isinstance(fraud_cost, str):
        raise ConfigError(f"fraud_cost must be 'amount' or a non-negative number of euros, not {fraud_cost!r}.")
    return _euros(fraud_cost, "fraud_cost") * labels


def _ratio(numerator: np.ndarray, denominator: np.ndarray | int, empty: float) -> np.ndarray:
    """numerator / denominator elementwise, `empty` where the denominator is 0."""
    out = np.full(np.shape(numerator), empty, dtype=np.float64)
    return np.divide(numerator, denominator, out=out, where=np.asarray(denominator) > 0)


# --- the sweep ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepPoint:
    """Counts and metrics at one threshold; label-dependent fields are None without labels and
    `cost` is None without a known fraud cost. Counts are whole numbers, or expected counts per n
    rows from a sweep reweighted to a prevalence."""

    threshold: float
    tp: float | None
    fp: float | None
    fn: float | None
    tn: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    fpr: float | None
    alerts: float
    cost: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ThresholdSweep:
    """Confusion counts and cost at any threshold in O(log n), after one O(n log n) sort.

    scores: (n,); labels: (n,) 0/1, or None for alert counts only; amounts: (n,) euros, needed for
    cost when `fraud_cost="amount"`; prevalence: reweight the rows to this share of positives (see
    the module docstring; needs both classes), so counts, alerts and cost are expected values per n
    rows at that prevalence. Built from validation scores, it answers slider moves.
    """

    def __init__(self, scores: np.ndarray, labels: np.ndarray | None = None, amounts: np.ndarray | None = None,
                 *, review_fee: float = DEFAULT_REVIEW_FEE, fraud_cost: FraudCost = "amount",
                 prevalence: float | None = None) -> None:
        values = _as_scores(scores)
        order = np.argsort(values)
        self.sorted_scores = values[order]  # (n,) ascending
        self.n = values.size
        self.review_fee = _euros(review_fee, "review_fee")
        self.prevalence = None if prevalence is None else check_prevalence(prevalence)
        if self.prevalence is not None and labels is None:
            raise DataError("Reweighting to a deployment prevalence needs labels (0 normal, 1 positive).")
        # Cumulative sums over ascending scores with a leading 0: entry k covers the k lowest scores,
        # i.e. the rows left unflagged by a threshold that k scores fall below. Weighted sums when
        # reweighted to a prevalence (`_weight_below` then holds the rows' weight).
        self._weight_below: np.ndarray | None = None
        self._positives_below: np.ndarray | None = None
        self._fraud_cost_below: np.ndarray | None = None
        self._sorted_labels: np.ndarray | None = None
        self._sorted_missed: np.ndarray | None = None
        if labels is not None:
            y = _as_labels(labels, self.n)
            self._sorted_labels = y[order]
            weights = None if self.prevalence is None else prevalence_weights(y, self.prevalence)[order]
            positives = self._sorted_labels if weights is None else weights * self._sorted_labels
            if weights is not None:
                self._weight_below = np.concatenate(([0.0], np.cumsum(weights)))
            self._positives_below = np.concatenate(([0], np.cumsum(positives)))
            missed = _missed_costs(y, amounts, fraud_cost)
            if missed is not None:
                self._sorted_missed = missed[order]
                weighted = self._sorted_missed if weights is None else weights * self._sorted_missed
                self._fraud_cost_below = np.concatenate(([0.0], np.cumsum(weighted)))
        self.n_pos = None if self._sorted_labels is None else int(self._sorted_labels.sum())
        self._total_positive = None if self._positives_below is None else self._positives_below[-1]
        self.has_cost = self._fraud_cost_below is not None

    def curve(self, thresholds: np.ndarray) -> dict[str, np.ndarray]:
        """Metrics at each of `thresholds` (m,): arrays (m,) keyed like SweepPoint's fields.

        Without labels only "threshold" and "alerts"; "cost" only when the fraud cost is known.
        """
        t = _check_thresholds(thresholds)
        below = np.searchsorted(self.sorted_scores, t, side="left")  # rows with score < t
        total = self.n if self._weight_below is None else self._weight_below[-1]
        unflagged = below if self._weight_below is None else self._weight_below[below]
        alerts = total - unflagged
        out = {"threshold": t, "alerts": alerts}
        if self._positives_below is None:
            return out
        fn = self._positives_below[below]
        tp = self._total_positive - fn
        fp = alerts - tp
        tn = unflagged - fn
        out |= {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
                "precision": _ratio(tp, alerts, 1.0), "recall": _ratio(tp, self._total_positive, 0.0),
                "f1": _ratio(2 * tp, 2 * tp + fp + fn, 0.0), "fpr": _ratio(fp, total - self._total_positive, 0.0)}
        if self._fraud_cost_below is not None:
            out["cost"] = self.review_fee * alerts + self._fraud_cost_below[below]
        return out

    def at(self, threshold: float) -> SweepPoint:
        """Counts, metrics and cost at one threshold (score >= threshold is flagged); precision is
        None (undefined) when nothing is flagged."""
        row = {key: values[0].item() for key, values in self.curve(np.array([threshold])).items()}
        if row["alerts"] <= 0:
            row["precision"] = None
        return SweepPoint(**{field.name: row.get(field.name) for field in fields(SweepPoint)})

    def missed_cost(self, thresholds: np.ndarray) -> np.ndarray | None:
        """(m,) what the positives scored below each of `thresholds` (m,) cost when missed, the
        second term of `curve`'s cost; None when the cost is unknown."""
        if self._fraud_cost_below is None:
            return None
        return self._fraud_cost_below[np.searchsorted(self.sorted_scores, _check_thresholds(thresholds), side="left")]

    def sorted_rows(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The rows in the sweep's ascending score order: scores (n,), labels (n,) 0/1 or None, and
        what missing each row costs (n,) (0 for normals, unweighted) or None when the cost is unknown.
        Read-only views."""
        views = []
        for array in (self.sorted_scores, self._sorted_labels, self._sorted_missed):
            if array is not None:
                array = array.view()
                array.flags.writeable = False
            views.append(array)
        return views[0], views[1], views[2]

    def candidates(self) -> np.ndarray:
        """(k,) the distinct scores, ascending: every threshold at which the flagged set changes."""
        s = self.sorted_scores
        return s[np.concatenate(([True], s[1:] != s[:-1]))]

    def grid(self) -> np.ndarray:
        """(k + 1,) `candidates()` plus one threshold just above the top score, which flags nothing."""
        return np.append(self.candidates(), np.nextafter(self.sorted_scores[-1], np.inf))


# --- strategies: each returns one threshold ----------------------------------------------------

def _fraction(value: float, name: str, *, low_open: bool = True, high_open: bool = False) -> float:
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        bounds = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a fraction in {bounds}, not {value!r}.")
    return float(value)


def percentile_threshold(normal_scores: np.ndarray, contamination: float) -> float:
    """The (1 - contamination) quantile of validation-normal scores (n,): 0.01 → 99th percentile,
    so about that fraction of normal rows is flagged."""
    contamination = _fraction(contamination, "contamination", high_open=True)
    return float(np.quantile(_as_scores(normal_scores, "normal_scores"), 1.0 - contamination))


def max_f1_threshold(scores: np.ndarray, labels: np.ndarray, prevalence: float | None = None) -> float:
    """The threshold with the highest F1 (at `prevalence`, rows reweighted, when given); on ties the
    highest such threshold (fewest alerts)."""
    sweep = ThresholdSweep(scores, labels, prevalence=prevalence)
    _need_classes(sweep.n_pos, sweep.n, "Maximising F1", negatives=False)
    grid = sweep.candidates()
    f1 = sweep.curve(grid)["f1"]
    return float(grid[np.flatnonzero(f1 >= f1.max() * (1 - 1e-12))[-1]])


def precision_at_recall_threshold(scores: np.ndarray, labels: np.ndarray, min_recall: float,
                                  prevalence: float | None = None) -> float:
    """The threshold with the best precision (at `prevalence` when given) among those keeping recall
    >= `min_recall`; on ties the highest such threshold."""
    min_recall = _fraction(min_recall, "min_recall")
    sweep = ThresholdSweep(scores, labels, prevalence=prevalence)
    _need_classes(sweep.n_pos, sweep.n, "A recall target", negatives=False)
    grid = sweep.candidates()  # the lowest candidate flags every row: recall 1, always feasible
    curve = sweep.curve(grid)
    precision = np.where(curve["recall"] >= min_recall - 1e-12, curve["precision"], -1.0)
    return float(grid[np.flatnonzero(precision >= precision.max() - 1e-12)[-1]])


def fpr_cap_threshold(scores: np.ndarray, labels: np.ndarray, max_fpr: float) -> float:
    """The lowest threshold (most frauds caught) whose false-positive rate is <= `max_fpr`. The rate
    counts normals only, so it is the same at every prevalence."""
    max_fpr = _fraction(max_fpr, "max_fpr", low_open=False)
    sweep = ThresholdSweep(scores, labels)
    _need_classes(sweep.n_pos, sweep.n, "A false-positive-rate cap", positives=False)
    grid = sweep.grid()  # its top entry flags nothing: fpr 0, always feasible
    return float(grid[np.flatnonzero(sweep.curve(grid)["fpr"] <= max_fpr)[0]])


def alert_budget_threshold(scores: np.ndarray, top_k: int | None = None, per_thousand: float | None = None,
                           labels: np.ndarray | None = None, prevalence: float | None = None) -> float:
    """The lowest threshold raising at most `top_k` alerts among these rows, or at most `per_thousand`
    per 1,000 transactions: counted on these rows, or expected at `prevalence` when it and labels (n,)
    are given (rows reweighted). Give exactly one of the two budgets. Tied scores at the boundary can
    make the alerts fewer than the budget.
    """
    if (top_k is None) == (per_thousand is None):
        raise ConfigError("Give exactly one alert budget: top_k (alerts) or per_thousand (alerts per 1,000 rows).")
    if (top_k if top_k is not None else per_thousand) < 0:
        raise ConfigError(f"The alert budget must be ≥ 0, not {top_k if top_k is not None else per_thousand}.")
    weighted = per_thousand is not None and prevalence is not None and labels is not None
    sweep = ThresholdSweep(scores, labels if weighted else None, prevalence=prevalence if weighted else None)
    if top_k is not None:
        budget = float(top_k)
    elif weighted:
        budget = sweep.n * per_thousand / 1000 * (1 + 1e-12)
    else:
        budget = float(np.floor(sweep.n * per_thousand / 1000))
    grid = sweep.grid()
    return float(grid[np.flatnonzero(sweep.curve(grid)["alerts"] <= budget)[0]])


def min_cost_threshold(scores: np.ndarray, labels: np.ndarray, amounts: np.ndarray | None = None, *,
                       review_fee: float = DEFAULT_REVIEW_FEE, fraud_cost: FraudCost = "amount",
                       prevalence: float | None = None) -> float:
    """The threshold with the lowest total cost (see the module's cost model; expected at
    `prevalence`, rows reweighted, when given); on ties the highest.

    amounts: (n,) euros, needed when `fraud_cost="amount"`.
    """
    sweep = ThresholdSweep(scores, labels, amounts, review_fee=review_fee, fraud_cost=fraud_cost,
                           prevalence=prevalence)
    if not sweep.has_cost:
        raise DataError("The cost of a missed fraud is its Amount, but no amounts were given. Pass "
                        "amounts, or a fixed fraud_cost in euros.")
    grid = sweep.grid()
    cost = sweep.curve(grid)["cost"]
    return float(grid[np.flatnonzero(cost <= cost.min() + 1e-9 * max(1.0, abs(cost.min())))[-1]])


STRATEGIES: dict[str, Callable[..., float]] = {
    "percentile": percentile_threshold,
    "max_f1": max_f1_threshold,
    "precision_at_recall": precision_at_recall_threshold,
    "fpr_cap": fpr_cap_threshold,
    "alert_budget": alert_budget_threshold,
    "min_cost": min_cost_threshold,
}


# Names for people (messages, reports, the dashboard's strategy picker).
STRATEGY_NAMES: dict[str, str] = {
    "max_f1": "Maximum F1",
    "percentile": "Percentile of normal scores",
    "precision_at_recall": "Recall floor (best precision)",
    "fpr_cap": "False-positive-rate cap",
    "alert_budget": "Alert budget",
    "min_cost": "Minimum cost",
}


def run_strategy(strategy: str, params: dict[str, Any], scores: np.ndarray, labels: np.ndarray | None = None,
                 amounts: np.ndarray | None = None, *, review_fee: float = DEFAULT_REVIEW_FEE,
                 fraud_cost: FraudCost = "amount", prevalence: float | None = None) -> float:
    """The threshold `strategy` picks on scores (n,) [labels (n,), amounts (n,)], given the
    strategy's own `params`; each strategy receives only the inputs it takes. `prevalence`: decide
    at that share of positives (rows reweighted) where the strategy depends on it and labels exist."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"Unknown threshold strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}.")
    if prevalence is not None:
        prevalence = check_prevalence(prevalence)
    accepted = inspect.signature(STRATEGIES[strategy]).parameters
    required = {name for name, parameter in accepted.items() if parameter.default is inspect.Parameter.empty}
    if labels is None and ({"labels", "normal_scores"} & required):
        raise DataError(f"{STRATEGY_NAMES[strategy]} needs labelled rows; this data has no label column. "
                        "Use the alert budget instead.")
    available: dict[str, Any] = {
        "scores": scores, "labels": labels, "amounts": amounts if fraud_cost == "amount" else None,
        "normal_scores": None if labels is None else np.asarray(scores)[np.asarray(labels) == 0],
        "review_fee": review_fee, "fraud_cost": fraud_cost, "prevalence": None if labels is None else prevalence}
    arguments = {k: v for k, v in available.items() if k in accepted and k not in params}
    return float(choose_threshold(strategy, **arguments, **params))


def choose_threshold(strategy: str, **kwargs: Any) -> float:
    """Run the strategy registered under `strategy` in STRATEGIES with `kwargs`."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"Unknown threshold strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}.")
    function = STRATEGIES[strategy]
    signature = inspect.signature(function)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"Strategy {strategy!r} takes ({', '.join(signature.parameters)}), but {exc}.") from None
    return function(**kwargs)


# --- ranking metrics ------------------------------------------------------------------------------
# scikit-learn's definitions (roc_auc_score, average_precision_score, roc_curve, precision_recall_curve),
# computed in NumPy: importing sklearn.metrics takes 2–3 s on a 2-core machine, longer than `evaluate`
# may take in all. tests/test_thresholds.py checks every function against scikit-learn's on ties.

def _scored_labels(scores: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    values = _as_scores(scores)
    y = _as_labels(labels, values.size)
    _need_classes(int(y.sum()), y.size, what)
    return values, y


def _ranked_counts(values: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fps, tps, thresholds), each (k,) over the k distinct scores from the highest: the false and true
    positives flagged at each threshold (scikit-learn's confusion_matrix_at_thresholds)."""
    order = np.argsort(values)[::-1]  # any order within ties: only each tie group's total is kept
    ranked, hits = values[order], y[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tps = np.cumsum(hits)[last]
    return 1.0 + last - tps, tps, ranked[last]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve; independent of prevalence."""
    curve = _roc(*_scored_labels(scores, labels, "ROC AUC"), every_threshold=False)
    return float(np.trapezoid(curve["tpr"], curve["fpr"]))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision, Σ (recall_k − recall_k−1) · precision_k over the thresholds (no
    interpolation); depends on prevalence, so report it alongside."""
    values, y = _scored_labels(scores, labels, "Average precision")
    fps, tps, _ = _ranked_counts(values, y)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tps / (tps + fps)))


def roc_curve_points(scores: np.ndarray, labels: np.ndarray, *, every_threshold: bool = False) -> dict[str, np.ndarray]:
    """The ROC curve: "fpr", "tpr", "threshold", each (m,); threshold[0] is +inf (nothing flagged).
    Points on a straight segment are dropped unless `every_threshold`."""
    return _roc(*_scored_labels(scores, labels, "A ROC curve"), every_threshold=every_threshold)


def _roc(values: np.ndarray, y: np.ndarray, every_threshold: bool) -> dict[str, np.ndarray]:
    fps, tps, threshold = _ranked_counts(values, y)
    if not every_threshold and fps.size > 2:
        corner = np.r_[True, (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), True]
        fps, tps, threshold = fps[corner], tps[corner], threshold[corner]
    return {"fpr": np.r_[0.0, fps] / fps[-1], "tpr": np.r_[0.0, tps] / tps[-1], "threshold": np.r_[np.inf, threshold]}


def pr_curve_points(scores: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The PR curve, recall decreasing: "precision", "recall" (m,) and "threshold" (m - 1,), since the
    last point (precision 1, recall 0) has no threshold."""
    values, y = _scored_labels(scores, labels, "A precision-recall curve")
    fps, tps, threshold = _ranked_counts(values, y)
    return {"precision": np.r_[(tps / (tps + fps))[::-1], 1.0], "recall": np.r_[(tps / tps[-1])[::-1], 0.0],
            "threshold": threshold[::-1]}


def recall_at_fpr(scores: np.ndarray, labels: np.ndarray, max_fpr: float = 0.01) -> float:
    """The highest recall among thresholds whose false-positive rate is ≤ `max_fpr`; scores, labels (n,)."""
    max_fpr = _fraction(max_fpr, "max_fpr", low_open=False)
    values, y = _scored_labels(scores, labels, "Recall at a false-positive rate")
    curve = _roc(values, y, every_threshold=True)
    return float(curve["tpr"][curve["fpr"] <= max_fpr].max())


def naive_costs(labels: np.ndarray, amounts: np.ndarray | None = None, *, review_fee: float = DEFAULT_REVIEW_FEE,
                fraud_cost: FraudCost = "amount", prevalence: float | None = None) -> dict[str, float] | None:
    """What the two thresholds that need no model cost on labels (n,): {"flag_nothing" (every fraud
    missed), "flag_everything" (every row reviewed)}, expected per n rows at `prevalence` when given;
    None when the fraud cost is unknown."""
    y = _as_labels(labels, np.asarray(labels).size)
    missed = _missed_costs(y, amounts, fraud_cost)
    if missed is None:
        return None
    weights = np.ones(y.size) if prevalence is None else prevalence_weights(y, prevalence)
    return {"flag_nothing": float((weights * missed).sum()), "flag_everything": _euros(review_fee, "review_fee") * y.size}


def minimum_cost(scores: np.ndarray, labels: np.ndarray, amounts: np.ndarray | None = None, *,
                 review_fee: float = DEFAULT_REVIEW_FEE, fraud_cost: FraudCost = "amount") -> float:
    """The lowest total cost over every threshold on these rows (an oracle: the labels pick it).
    Flagging nothing and flagging everything are among the thresholds, so it never exceeds either."""
    cost = ThresholdSweep(scores, labels, amounts, review_fee=review_fee, fraud_cost=fraud_cost)
    if not cost.has_cost:
        raise DataError("The cost of a missed fraud is its Amount, but no amounts were given.")
    return float(cost.curve(cost.grid())["cost"].min())


def ranking_metrics(scores: np.ndarray, labels: np.ndarray, amounts: np.ndarray | None = None) -> dict[str, float]:
    """Threshold-free quality of scores (n,) against labels (n,): roc_auc, average_precision,
    recall_at_1pct_fpr, and min_cost (euros, see `minimum_cost`) when amounts are given."""
    report = {"roc_auc": roc_auc(scores, labels), "average_precision": average_precision(scores, labels),
              "recall_at_1pct_fpr": recall_at_fpr(scores, labels, 0.01)}
    if amounts is not None:
        report["min_cost"] = minimum_cost(scores, labels, amounts)
    return report


def confusion_counts(labels: np.ndarray, flags: np.ndarray) -> dict[str, int]:
    """{"tp", "fp", "fn", "tn"} from labels (n,) 0/1 and flags (n,) 0/1 or bool (one bincount: the
    batch scorer counts every chunk, without scikit-learn's import or per-call checks)."""
    tn, fp, fn, tp = np.bincount(2 * np.asarray(labels, np.int64) + np.asarray(flags, np.int64), minlength=4)
    return {"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn)}


def at_deployment(scores: np.ndarray, labels: np.ndarray, threshold: float, amounts: np.ndarray | None = None, *,
                  prevalence: float, review_fee: float = DEFAULT_REVIEW_FEE, fraud_cost: FraudCost = "amount",
                  per: int = 1000) -> dict[str, float | int | None]:
    """The expected outcome of one threshold per `per` transactions at `prevalence`, the rows
    (scores, labels, amounts: (n,)) reweighted: prevalence, per, alerts, tp, fp, precision (None
    with no alerts), recall, f1, fpr, share of normals flagged; with a known fraud cost also cost,
    flag_nothing and flag_everything (euros per `per` transactions)."""
    amounts = amounts if fraud_cost == "amount" else None
    sweep = ThresholdSweep(scores, labels, amounts, review_fee=review_fee, fraud_cost=fraud_cost, prevalence=prevalence)
    point = sweep.at(threshold)
    scale = per / sweep.n
    report: dict[str, float | int | None] = {
        "prevalence": sweep.prevalence, "per": int(per), "alerts": point.alerts * scale, "tp": point.tp * scale,
        "fp": point.fp * scale, "precision": point.precision, "recall": point.recall, "f1": point.f1,
        "fpr": point.fpr}
    if point.cost is not None:
        naive = naive_costs(labels, amounts, review_fee=review_fee, fraud_cost=fraud_cost, prevalence=prevalence)
        report |= {"cost": point.cost * scale, "flag_nothing": naive["flag_nothing"] * scale,
                   "flag_everything": naive["flag_everything"] * scale}
    return report


def evaluate_at_threshold(scores: np.ndarray, labels: np.ndarray, threshold: float,
                          amounts: np.ndarray | None = None, *, review_fee: float = DEFAULT_REVIEW_FEE,
                          fraud_cost: FraudCost = "amount", prevalence: float | None = None) -> dict[str, Any]:
    """JSON-friendly report of scores (n,) against labels (n,) at one threshold.

    Keys: roc_auc, average_precision, threshold, precision, recall, f1, fpr, tp, fp, fn, tn,
    alerts, n, prevalence (of these rows); plus cost when the fraud cost is known (amounts, or a
    fixed fraud_cost); with a deployment `prevalence`, "at_deployment": `at_deployment`'s report.
    """
    values, y = _scored_labels(scores, labels, "Evaluation")
    threshold = float(_check_thresholds(threshold)[0])
    review_fee = _euros(review_fee, "review_fee")
    flags = (values >= threshold).astype(np.int64)
    counts = confusion_counts(y, flags)
    report: dict[str, float | int | None] = {
        "roc_auc": roc_auc(values, y),
        "average_precision": average_precision(values, y),
        "threshold": threshold,
        "precision": counts["tp"] / (counts["tp"] + counts["fp"]) if flags.any() else None,  # undefined with no alerts
        "recall": counts["tp"] / (counts["tp"] + counts["fn"]),
        "f1": 2 * counts["tp"] / (2 * counts["tp"] + counts["fp"] + counts["fn"]),
        "fpr": counts["fp"] / (counts["fp"] + counts["tn"]),
        **counts,
        "alerts": int(flags.sum()),
        "n": int(values.size),
        "prevalence": float(y.mean()),
    }
    missed = _missed_costs(y, amounts, fraud_cost)
    if missed is not None:
        report["cost"] = float(review_fee * report["alerts"] + missed[flags == 0].sum())
    if prevalence is not None:
        report["at_deployment"] = at_deployment(values, y, threshold, amounts, prevalence=prevalence,
                                                review_fee=review_fee, fraud_cost=fraud_cost)
    return report
