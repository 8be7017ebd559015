"""Bootstrap intervals for threshold metrics: the vectorised replicates equal a brute-force loop over
resampled rows, the grouped multinomial draws resample rows faithfully, and 95% intervals cover a
known truth about 95% of the time."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import confusion_matrix

from vae_core.tables import bootstrap
from vae_core.errors import ConfigError, DataError
from vae_core.tables.thresholds import ThresholdSweep

FEE = 5.0


def small_data(n: int = 40, seed: int = 3):
    """Scores with ties, about a quarter positives, amounts: (scores, labels, amounts)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.25).astype(int)
    scores = np.round(rng.normal(size=n) + 1.5 * labels, 1)  # rounding makes ties
    amounts = np.round(rng.exponential(80.0, n), 2)
    return scores, labels, amounts


def brute_force(scores, labels, amounts, threshold: float) -> dict[str, float]:
    """Metrics of one resample, from scikit-learn's confusion matrix and a direct sum of missed amounts."""
    flags = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, flags, labels=[0, 1]).ravel().astype(float)
    nan = float("nan")
    alerts = tp + fp
    return {"precision": tp / alerts if alerts else nan, "recall": tp / (tp + fn) if tp + fn else nan,
            "fpr": fp / (fp + tn) if fp + tn else nan, "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else nan,
            "alerts": alerts, "cost": FEE * alerts + float(amounts[(labels == 1) & (flags == 0)].sum())}


@pytest.mark.parametrize("individual", [True, False], ids=["amount costs", "fixed cost"])
def test_replicates_equal_a_brute_force_loop_over_resampled_rows(individual):
    scores, labels, amounts = small_data()
    sweep = (ThresholdSweep(scores, labels, amounts, review_fee=FEE) if individual
             else ThresholdSweep(scores, labels, review_fee=FEE, fraud_cost=120.0))
    thresholds = np.array([-0.5, 0.7, 1.2, 2.0, 9.0])  # 9.0 flags nothing: precision undefined
    plan, category = bootstrap.layout(sweep, thresholds)
    sorted_scores, sorted_labels, sorted_missed = sweep.sorted_rows()
    costs = sorted_missed  # per row: its amount (or 120) when positive, 0 when normal
    draws = np.random.default_rng(0).integers(0, sweep.n, size=(120, sweep.n))  # row indices of 120 resamples
    counts = np.stack([np.bincount(category[d], minlength=plan.gap.size) for d in draws])
    vectorised = bootstrap.replicate_metrics(plan, counts)
    for b, d in enumerate(draws):
        for k, t in enumerate(thresholds):
            expected = brute_force(sorted_scores[d], sorted_labels[d], costs[d], t)
            for name, value in expected.items():
                got = vectorised[name][b, k]
                assert (np.isnan(got) and np.isnan(value)) or got == pytest.approx(value, rel=1e-12, abs=1e-9), \
                    (name, b, t, got, value)


def test_grouped_draws_resample_rows_like_a_loop():
    """The multinomial over categories and a loop of rng.choice over rows give the same distribution
    (means and spreads within Monte Carlo error, 4,000 replicates each)."""
    scores, labels, amounts = small_data(n=120, seed=5)
    sweep = ThresholdSweep(scores, labels, amounts, review_fee=FEE)
    threshold = 1.0
    plan, _ = bootstrap.layout(sweep, np.array([threshold]))
    fast = bootstrap.replicate_metrics(plan, bootstrap.draw(plan, np.random.default_rng(1), 4000))
    rng = np.random.default_rng(2)
    loop = [ThresholdSweep(scores[i], labels[i], amounts[i], review_fee=FEE).at(threshold)
            for i in (rng.integers(0, 120, 120) for _ in range(4000))]
    for name in ("recall", "precision", "fpr", "cost", "alerts"):
        a = fast[name][:, 0]
        b = np.array([np.nan if getattr(point, name) is None else getattr(point, name) for point in loop], float)
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        se = np.sqrt(a.var() / a.size + b.var() / b.size)
        assert abs(a.mean() - b.mean()) < 4 * se, name
        assert a.std() == pytest.approx(b.std(), rel=0.08), name


def test_intervals_cover_a_known_truth_at_about_the_nominal_rate():
    """Normals score N(0, 1), frauds N(2, 1), 15% frauds: at threshold 1.5 the true recall is
    1 − Φ(−0.5), the true false-positive rate 1 − Φ(1.5), and the true precision follows. 200 data sets
    of 1,000 rows, 1,000 resamples each: the 95% intervals should cover each truth ~95% of the time."""
    prevalence, t = 0.15, 1.5
    recall, fpr = 1 - norm.cdf(t - 2.0), 1 - norm.cdf(t)
    truth = {"recall": recall, "fpr": fpr, "precision": prevalence * recall / (prevalence * recall + (1 - prevalence) * fpr)}
    rng = np.random.default_rng(11)
    covered = {name: 0 for name in truth}
    runs = 200
    for run in range(runs):
        labels = (rng.random(1000) < prevalence).astype(int)
        scores = rng.normal(size=1000) + 2.0 * labels
        intervals = bootstrap.bootstrap(ThresholdSweep(scores, labels), t, resamples=1000, seed=run).at(0)
        for name, value in truth.items():
            low, high = intervals[name]
            covered[name] += low <= value <= high
    rates = {name: count / runs for name, count in covered.items()}
    print(f"coverage of 95% intervals over {runs} data sets: {rates}")
    assert all(0.90 <= rate <= 0.985 for rate in rates.values()), rates


def test_intervals_hold_the_estimate_repeat_with_a_seed_and_narrow_with_more_rows():
    rng = np.random.default_rng(4)
    labels = (rng.random(20_000) < 0.05).astype(int)
    scores = rng.normal(size=20_000) + 2.5 * labels
    big, small = ThresholdSweep(scores, labels), ThresholdSweep(scores[:1000], labels[:1000])
    point = big.at(1.8)
    wide = bootstrap.bootstrap(small, 1.8, seed=0).at(0)
    narrow = bootstrap.bootstrap(big, 1.8, seed=0).at(0)
    assert narrow == bootstrap.bootstrap(big, 1.8, seed=0).at(0)  # seeded: repeatable
    for name in ("precision", "recall", "fpr", "f1"):
        low, high = narrow[name]
        assert low <= getattr(point, name) <= high, name
        assert high - low < (wide[name][1] - wide[name][0]) / 2, name  # 20× the rows: about √20 narrower


def test_precision_with_no_alerts_has_no_interval_and_costs_need_a_known_miss_cost():
    scores, labels, amounts = small_data()
    result = bootstrap.bootstrap(ThresholdSweep(scores, labels, amounts), [0.5, 99.0], resamples=200)
    assert result.at(1)["precision"] is None and result.defined["precision"][1] == 0.0
    assert result.at(1)["recall"] == (0.0, 0.0)
    assert "cost" not in bootstrap.bootstrap(ThresholdSweep(scores, labels), 0.5, resamples=200).low


def test_prevalence_interval_and_curve_bands():
    rng = np.random.default_rng(8)
    labels = (rng.random(5000) < 0.15).astype(int)
    scores = rng.normal(size=5000) + 2.0 * labels
    sweep = ThresholdSweep(scores, labels)
    grid = np.unique(np.quantile(scores, np.linspace(0, 1, 200)))
    result = bootstrap.bootstrap(sweep, grid, resamples=500, prevalence=0.00172, curves=True)
    k = int(np.searchsorted(grid, 2.0))
    at_low_prevalence, here = result.at(k)["precision_at_prevalence"], result.at(k)["precision"]
    assert at_low_prevalence[1] < here[0]  # far fewer frauds: precision collapses
    roc, pr = result.roc, result.pr
    assert np.all(roc["low"] <= roc["high"]) and np.all(np.diff(roc["high"]) >= -1e-12)  # recall grows with FPR
    assert roc["low"][-1] == roc["high"][-1] == 1.0  # at FPR 1 everything is caught
    defined = np.isfinite(pr["low"])
    assert np.all(pr["low"][defined] <= pr["high"][defined])
    observed = sweep.curve(grid)
    fpr_at = np.interp(0.05, observed["fpr"][::-1], observed["recall"][::-1])
    j = int(np.searchsorted(roc["fpr"], 0.05))
    assert roc["low"][j] - 0.05 <= fpr_at <= roc["high"][j] + 0.05


def test_bad_requests_say_what_was_wrong():
    scores, labels, _ = small_data()
    with pytest.raises(DataError, match="need labels"):
        bootstrap.bootstrap(ThresholdSweep(scores), 0.5)
    with pytest.raises(ConfigError, match="ascending"):
        bootstrap.bootstrap(ThresholdSweep(scores, labels), [0.5, 0.1])
    with pytest.raises(ConfigError, match="Resamples"):
        bootstrap.bootstrap(ThresholdSweep(scores, labels), 0.5, resamples=1)
    with pytest.raises(ConfigError, match="prevalence"):
        bootstrap.bootstrap(ThresholdSweep(scores, labels), 0.5, prevalence=1.72)
