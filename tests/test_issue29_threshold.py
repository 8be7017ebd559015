"""At a threshold above every score nothing is flagged: the Fraud threshold page says so where precision
would be, and the other figures stay numbers."""

from __future__ import annotations

from app_fixtures import FRAUD_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from fault_kit import metric, open_link, shown_errors


def test_precision_with_no_alerts_reads_no_alerts_and_the_rest_stays_readable(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold", model=FRAUD_MODEL, threshold="1e9", strategy="manual")
    assert not shown_errors(at)
    assert metric(at, "Alerts") == "0" and metric(at, "Expected alerts") == "0"
    assert metric(at, "Precision") == "—, no alerts"
    assert metric(at, "Precision at deployment") == "—, no alerts"
    assert metric(at, "Recall") == "0.000" and metric(at, "False-positive rate") == "0.0000"
    assert metric(at, "Total cost").startswith("€")
    shown = [m.value for m in at.metric] + [c.value for c in at.caption] + [m.value for m in at.markdown]
    assert not [text for text in shown if "undefined" in str(text) or "nan" in str(text).split()]
