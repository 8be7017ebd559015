"""Thresholds and metrics: hand-computed tiny cases, brute force on random data, scikit-learn agreement."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from vae_core.errors import ConfigError, DataError
from vae_core.tables.thresholds import (STRATEGIES, SweepPoint, ThresholdSweep, alert_budget_threshold, average_precision,
                                 choose_threshold, confusion_counts, evaluate_at_threshold, fpr_cap_threshold,
                                 max_f1_threshold, min_cost_threshold, percentile_threshold, pr_curve_points,
                                 precision_at_recall_threshold, recall_at_fpr, roc_auc, roc_curve_points)

# Six rows, two tied at 0.35 (one fraud, one normal). Sorted by score:
#   0.10 normal €10 | 0.35 fraud €30 | 0.35 normal €60 | 0.40 normal €20 | 0.80 fraud €40 | 0.90 fraud €50
SCORES = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.35])
LABELS = np.array([0, 0, 1, 1, 1, 0])
AMOUNTS = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
ABOVE_TOP = np.nextafter(0.9, np.inf)

# threshold: (tp, fp, fn, tn, precision, recall, f1, fpr, alerts, cost with a €5 fee and cost = amount)
HAND = {
    0.0: (3, 3, 0, 0, 0.5, 1.0, 2 / 3, 1.0, 6, 30.0),
    0.35: (3, 2, 0, 1, 0.6, 1.0, 0.75, 2 / 3, 5, 25.0),  # the tie at 0.35 is flagged
    0.4: (2, 1, 1, 2, 2 / 3, 2 / 3, 2 / 3, 1 / 3, 3, 15.0 + 30.0),
    0.8: (2, 0, 1, 3, 1.0, 2 / 3, 0.8, 0.0, 2, 10.0 + 30.0),
    0.85: (1, 0, 2, 3, 1.0, 1 / 3, 0.5, 0.0, 1, 5.0 + 70.0),
    1.0: (0, 0, 3, 3, None, 0.0, 0.0, 0.0, 0, 120.0),  # no alerts: precision undefined
}
FIELDS = ("tp", "fp", "fn", "tn", "precision", "recall", "f1", "fpr", "alerts", "cost")


# --- ThresholdSweep on hand-computed cases ------------------------------------------------------------

@pytest.mark.parametrize("threshold", HAND)
def test_sweep_at_matches_hand_counts(threshold):
    point = ThresholdSweep(SCORES, LABELS, AMOUNTS).at(threshold)
    assert point.threshold == threshold
    for field, expected in zip(FIELDS, HAND[threshold]):
        assert getattr(point, field) == (expected if expected is None else pytest.approx(expected)), field


def test_sweep_point_types_are_json_friendly():
    point = ThresholdSweep(SCORES, LABELS, AMOUNTS).at(0.4)
    assert type(point.tp) is int and type(point.alerts) is int and type(point.precision) is float
    assert json.loads(json.dumps(point.to_dict()))["tp"] == 2


def test_sweep_with_a_fixed_fraud_cost_and_fee():
    point = ThresholdSweep(SCORES, LABELS, review_fee=2.0, fraud_cost=100.0).at(0.4)
    assert point.cost == pytest.approx(2.0 * 3 + 100.0 * 1)


def test_sweep_without_amounts_has_no_cost():
    sweep = ThresholdSweep(SCORES, LABELS)
    assert not sweep.has_cost and sweep.at(0.4).cost is None and "cost" not in sweep.curve([0.4])


def test_unlabelled_sweep_counts_alerts_only():
    sweep = ThresholdSweep(SCORES)
    point = sweep.at(0.35)
    assert point.alerts == 5 and point.tp is None and point.precision is None and point.cost is None
    assert set(sweep.curve(np.array([0.1, 0.9]))) == {"threshold", "alerts"}
    assert sweep.curve(np.array([0.1, 0.9]))["alerts"].tolist() == [6, 1]


def test_candidates_and_grid():
    sweep = ThresholdSweep(SCORES, LABELS)
    assert sweep.candidates().tolist() == [0.1, 0.35, 0.4, 0.8, 0.9]
    assert sweep.grid()[-1] == ABOVE_TOP and sweep.at(sweep.grid()[-1]).alerts == 0


def test_curve_matches_at():
    sweep = ThresholdSweep(SCORES, LABELS, AMOUNTS)
    thresholds = np.array(list(HAND))
    curve = sweep.curve(thresholds)
    for i, threshold in enumerate(thresholds):
        point = sweep.at(threshold)
        for field in FIELDS:
            if point.alerts == 0 and field == "precision":
                assert point.precision is None and curve[field][i] == 1.0  # undefined; 1.0 where curves compare it
                continue
            assert curve[field][i] == pytest.approx(getattr(point, field))


def test_sweep_rejects_bad_inputs():
    with pytest.raises(DataError, match="1 NaN or infinite"):
        ThresholdSweep(np.array([0.1, np.nan]))
    with pytest.raises(DataError, match="non-empty 1-D"):
        ThresholdSweep(np.array([]))
    with pytest.raises(DataError, match="one label per score"):
        ThresholdSweep(SCORES, LABELS[:3])
    with pytest.raises(DataError, match="0 \\(normal\\) or 1"):
        ThresholdSweep(SCORES, LABELS * 2)
    with pytest.raises(DataError, match="amounts must be 6 finite, non-negative"):
        ThresholdSweep(SCORES, LABELS, -AMOUNTS)
    with pytest.raises(ConfigError, match="review_fee"):
        ThresholdSweep(SCORES, LABELS, AMOUNTS, review_fee=-1)
    for fraud_cost in ("median", -1.0, None):
        with pytest.raises(ConfigError, match="fraud_cost must be .*non-negative number of euros"):
            ThresholdSweep(SCORES, LABELS, fraud_cost=fraud_cost)
    with pytest.raises(ConfigError, match="not NaN"):
        ThresholdSweep(SCORES).at(float("nan"))


# --- ThresholdSweep against brute force ------------------------------------------------------------------

def brute_force(scores, labels, amounts, threshold, review_fee=5.0):
    flagged = scores >= threshold
    tp = int((flagged & (labels == 1)).sum())
    fp = int((flagged & (labels == 0)).sum())
    fn = int((~flagged & (labels == 1)).sum())
    tn = int((~flagged & (labels == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision and precision + recall else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    cost = review_fee * flagged.sum() + amounts[~flagged & (labels == 1)].sum()
    return (tp, fp, fn, tn, precision, recall, f1, fpr, int(flagged.sum()), cost)


def check_against_brute_force(scores, labels, amounts, thresholds):
    sweep = ThresholdSweep(scores, labels, amounts)
    for threshold in thresholds:
        point = sweep.at(threshold)
        expected = brute_force(scores, labels, amounts, threshold)
        for field, value in zip(FIELDS, expected):
            expected = value if value is None else pytest.approx(value, rel=1e-12, abs=1e-9)
            assert getattr(point, field) == expected, (threshold, field)


@pytest.mark.parametrize("seed", range(5))
def test_sweep_agrees_with_brute_force_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = 400
    labels = (rng.random(n) < 0.1).astype(int)
    scores = np.round(rng.normal(size=n) + 1.5 * labels, 1)  # rounding makes many ties
    amounts = rng.lognormal(3, 1.3, n)
    thresholds = np.concatenate([np.unique(scores), np.unique(scores) + 0.05,
                                 [scores.min() - 1, scores.max() + 1, -np.inf, np.inf]])
    check_against_brute_force(scores, labels, amounts, thresholds)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 1), st.integers(0, 1000)), min_size=1, max_size=40),
       st.lists(st.integers(-7, 7), min_size=1, max_size=6))
def test_property_sweep_equals_brute_force(rows, thresholds):
    scores, labels, amounts = (np.array(column, dtype=float) for column in zip(*rows))
    check_against_brute_force(scores / 2, labels.astype(int), amounts, np.array(thresholds) / 4)


# --- strategies on the hand-made case --------------------------------------------------------------------

def test_percentile_threshold():
    assert percentile_threshold(np.arange(101.0), contamination=0.01) == pytest.approx(99.0)
    assert percentile_threshold(np.arange(101.0), contamination=0.1) == pytest.approx(90.0)


def test_max_f1_threshold():
    # F1 over the candidates 0.1, 0.35, 0.4, 0.8, 0.9 is 2/3, 0.75, 2/3, 0.8, 0.5
    assert max_f1_threshold(SCORES, LABELS) == 0.8


def test_max_f1_ties_pick_the_highest_threshold():
    # at 1: tp 2, fp 2 → F1 4/6; at 2: 2/5; at 3: 1/2; at 4: tp 1, fn 1 → 2/3, the same F1 with fewer alerts
    assert max_f1_threshold(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 0, 1])) == 4.0


@pytest.mark.parametrize("min_recall, expected", [(1.0, 0.35), (0.6, 0.8), (0.3, 0.9)])
def test_precision_at_recall_threshold(min_recall, expected):
    # recall ≥ 1 allows 0.1 (precision 0.5) and 0.35 (0.6); ≥ 0.6 adds 0.4 (2/3) and 0.8 (1.0);
    # ≥ 0.3 adds 0.9 (1.0), which ties 0.8 and wins as the higher threshold
    assert precision_at_recall_threshold(SCORES, LABELS, min_recall) == expected


@pytest.mark.parametrize("max_fpr, expected", [(0.0, 0.8), (1 / 3, 0.4), (0.5, 0.4), (2 / 3, 0.35), (1.0, 0.1)])
def test_fpr_cap_threshold(max_fpr, expected):
    assert fpr_cap_threshold(SCORES, LABELS, max_fpr) == expected


@pytest.mark.parametrize("budget, expected", [
    ({"top_k": 0}, ABOVE_TOP), ({"top_k": 2}, 0.8), ({"top_k": 4}, 0.4),  # the tie at 0.35 would make 5
    ({"top_k": 6}, 0.1), ({"top_k": 100}, 0.1), ({"per_thousand": 500}, 0.4),  # 6 rows × 0.5 = 3 alerts
])
def test_alert_budget_threshold(budget, expected):
    threshold = alert_budget_threshold(SCORES, **budget)
    assert threshold == expected
    limit = budget.get("top_k", int(6 * budget.get("per_thousand", 0) / 1000))
    assert ThresholdSweep(SCORES).at(threshold).alerts <= limit


def test_min_cost_threshold_with_amounts():
    # costs over 0.1, 0.35, 0.4, 0.8, 0.9, above: 30, 25, 45, 40, 75, 120
    assert min_cost_threshold(SCORES, LABELS, AMOUNTS) == 0.35


def test_min_cost_threshold_with_a_fixed_fraud_cost():
    # €1 per missed fraud: 30, 25, 16, 11, 7, 3 — flagging nothing is cheapest
    assert min_cost_threshold(SCORES, LABELS, fraud_cost=1.0) == ABOVE_TOP


def test_min_cost_ties_pick_the_highest_threshold():
    # a free review: 0.1 and 0.35 both miss nothing (cost 0)
    assert min_cost_threshold(SCORES, LABELS, AMOUNTS, review_fee=0.0) == 0.35


def test_min_cost_needs_amounts():
    with pytest.raises(DataError, match="no amounts were given"):
        min_cost_threshold(SCORES, LABELS)


def test_strategies_reject_bad_parameters():
    with pytest.raises(ConfigError, match="contamination must be a fraction in \\(0, 1\\)"):
        percentile_threshold(SCORES, contamination=1.0)
    with pytest.raises(ConfigError, match="min_recall"):
        precision_at_recall_threshold(SCORES, LABELS, min_recall=0.0)
    with pytest.raises(ConfigError, match="max_fpr"):
        fpr_cap_threshold(SCORES, LABELS, max_fpr=1.5)
    with pytest.raises(ConfigError, match="exactly one alert budget"):
        alert_budget_threshold(SCORES)
    with pytest.raises(ConfigError, match="exactly one alert budget"):
        alert_budget_threshold(SCORES, top_k=1, per_thousand=1)
    with pytest.raises(ConfigError, match="must be ≥ 0"):
        alert_budget_threshold(SCORES, top_k=-1)


def test_strategies_need_the_right_classes():
    with pytest.raises(DataError, match="needs positive \\(fraud\\) rows"):
        max_f1_threshold(SCORES, np.zeros(6, dtype=int))
    with pytest.raises(DataError, match="needs normal rows"):
        fpr_cap_threshold(SCORES, np.ones(6, dtype=int), 0.1)
    with pytest.raises(DataError, match="needs labels"):
        max_f1_threshold(SCORES, None)


def test_choose_threshold_dispatches_through_the_registry():
    assert set(STRATEGIES) == {"percentile", "max_f1", "precision_at_recall", "fpr_cap", "alert_budget", "min_cost"}
    assert choose_threshold("max_f1", scores=SCORES, labels=LABELS) == 0.8
    assert choose_threshold("min_cost", scores=SCORES, labels=LABELS, amounts=AMOUNTS) == 0.35
    assert choose_threshold("alert_budget", scores=SCORES, top_k=2) == 0.8


def test_choose_threshold_explains_unknown_names_and_bad_arguments():
    with pytest.raises(ConfigError, match="Unknown threshold strategy 'best'; choose one of: percentile, max_f1"):
        choose_threshold("best", scores=SCORES)
    with pytest.raises(ConfigError, match="Strategy 'fpr_cap' takes \\(scores, labels, max_fpr\\)"):
        choose_threshold("fpr_cap", scores=SCORES, labels=LABELS, max_fp=0.1)


# --- metrics agree with scikit-learn ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def random_case():
    rng = np.random.default_rng(42)
    labels = (rng.random(2000) < 0.05).astype(int)
    scores = np.round(rng.normal(size=2000) + 2 * labels, 2)
    return scores, labels, rng.lognormal(3, 1, 2000)


@pytest.fixture(scope="module", params=[(0.01, 0.05), (0.5, 0.3), (None, 0.01)], ids=["ties", "coarse", "distinct"])
def ranking_case(request):
    """Scores (2000,) rounded to `step` (heavy ties when coarse) and labels at `share` positives."""
    step, share = request.param
    rng = np.random.default_rng(7)
    labels = (rng.random(2000) < share).astype(int)
    scores = rng.normal(size=2000) + 1.5 * labels
    return (scores if step is None else np.round(scores / step) * step), labels


def test_auc_and_ap_are_scikit_learns(ranking_case):
    scores, labels = ranking_case
    assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), rel=1e-12, abs=0)
    assert average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores), rel=1e-12, abs=0)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    for max_fpr in (0.0, 0.01, 0.2):
        assert recall_at_fpr(scores, labels, max_fpr) == tpr[fpr <= max_fpr].max()


def test_curves_are_scikit_learns(ranking_case):
    scores, labels = ranking_case
    roc = roc_curve_points(scores, labels)
    for mine, theirs in zip((roc["fpr"], roc["tpr"], roc["threshold"]), roc_curve(labels, scores)):
        np.testing.assert_array_equal(mine, theirs)
    every = roc_curve_points(scores, labels, every_threshold=True)
    for mine, theirs in zip((every["fpr"], every["tpr"], every["threshold"]),
                            roc_curve(labels, scores, drop_intermediate=False)):
        np.testing.assert_array_equal(mine, theirs)
    assert len(every["fpr"]) == len(np.unique(scores)) + 1
    pr = pr_curve_points(scores, labels)
    for mine, theirs in zip((pr["precision"], pr["recall"], pr["threshold"]), precision_recall_curve(labels, scores)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-15, atol=0)


def test_curves_agree_with_the_sweep(random_case):
    scores, labels, _ = random_case
    sweep = ThresholdSweep(scores, labels)
    roc = roc_curve_points(scores, labels)
    curve = sweep.curve(roc["threshold"][1:])  # threshold[0] is +inf
    np.testing.assert_allclose(curve["fpr"], roc["fpr"][1:])
    np.testing.assert_allclose(curve["recall"], roc["tpr"][1:])
    pr = pr_curve_points(scores, labels)
    assert len(pr["threshold"]) == len(pr["precision"]) - 1
    curve = sweep.curve(pr["threshold"])
    np.testing.assert_allclose(curve["precision"], pr["precision"][:-1])
    np.testing.assert_allclose(curve["recall"], pr["recall"][:-1])


def test_confusion_counts():
    flags = SCORES >= 0.4
    assert confusion_counts(LABELS, flags) == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}


@pytest.mark.parametrize("threshold", [-10.0, 0.5, 1.0, 2.5, 10.0])
def test_evaluate_at_threshold_agrees_with_the_sweep(random_case, threshold):
    scores, labels, amounts = random_case
    report = evaluate_at_threshold(scores, labels, threshold, amounts)
    json.dumps(report)
    point = ThresholdSweep(scores, labels, amounts).at(threshold)
    for field in FIELDS:
        assert report[field] == pytest.approx(getattr(point, field), rel=1e-12), field
    assert report["n"] == 2000 and report["prevalence"] == pytest.approx(labels.mean())
    assert report["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), rel=1e-12, abs=0)
    assert report["threshold"] == threshold


def test_evaluate_at_threshold_hand_case():
    report = evaluate_at_threshold(SCORES, LABELS, 0.4, AMOUNTS)
    assert {k: report[k] for k in ("tp", "fp", "fn", "tn", "alerts", "n")} == {
        "tp": 2, "fp": 1, "fn": 1, "tn": 2, "alerts": 3, "n": 6}
    assert report["cost"] == 45.0 and report["prevalence"] == 0.5
    assert "cost" not in evaluate_at_threshold(SCORES, LABELS, 0.4)


def test_evaluate_at_threshold_rejects_nan_threshold_and_bad_fee():
    with pytest.raises(ConfigError, match="not NaN"):
        evaluate_at_threshold(SCORES, LABELS, float("nan"))
    with pytest.raises(ConfigError, match="review_fee"):
        evaluate_at_threshold(SCORES, LABELS, 0.4, AMOUNTS, review_fee=float("nan"))


def test_metrics_need_both_classes():
    with pytest.raises(DataError, match="ROC AUC needs positive \\(fraud\\) rows"):
        roc_auc(SCORES, np.zeros(6, dtype=int))
    with pytest.raises(DataError, match="needs normal rows"):
        evaluate_at_threshold(SCORES, np.ones(6, dtype=int), 0.5)


def test_sweep_point_field_order():
    assert tuple(SweepPoint.__dataclass_fields__) == ("threshold", "tp", "fp", "fn", "tn", "precision",
                                                      "recall", "f1", "fpr", "alerts", "cost")
