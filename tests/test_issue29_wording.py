"""Explanations that read as the numbers are: two different scores never print alike, the flagged
table's caption counts what it lists, and the latent chart says whether normal rows were sampled."""

from __future__ import annotations

import json

from app_fixtures import FRAUD_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from dashboard.presentation import distinct_numbers, flagged_caption, outcome_scatter_title
from fault_kit import metric, open_link, shown_errors


def test_different_numbers_print_differently_and_equal_ones_alike():
    assert distinct_numbers(118.41, 118.44) == ("118.41", "118.44")
    assert distinct_numbers(118.4000001, 118.4000002) == ("118.4000001", "118.4000002")
    assert distinct_numbers(0.5, 1234.5) == ("0.5", "1234")
    assert distinct_numbers(2.0, 2.0) == ("2", "2")


def test_the_flagged_caption_counts_what_the_table_lists():
    assert flagged_caption(139, 200) == "139 flagged, all listed."
    assert flagged_caption(1_234, 200) == "1,234 flagged; the 200 highest scores are listed (the CSV export has all)."


def test_the_latent_chart_title_says_sampled_only_when_rows_were_left_out():
    names = ("normal", "fraud")
    assert outcome_scatter_title(1_001, 148, 1_001, names) == "μ of 1,001 rows (every fraud row, every normal row)"
    assert outcome_scatter_title(5_000, 490, 284_807, names) == "μ of 5,000 rows (every fraud row, sampled normal rows)"


def test_the_page_counts_the_flagged_rows_it_lists_and_names_the_rows_it_draws(app_env, trained_models_dir):  # noqa: F811
    app_env(trained_models_dir)
    at = open_link("threshold", model=FRAUD_MODEL)
    assert not shown_errors(at)
    alerts = int(metric(at, "Alerts").replace(",", ""))
    assert 0 < alerts <= 200
    assert f"{alerts:,} flagged, all listed." in [c.value for c in at.caption]
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]
    banner = next(c.value for c in at.caption if c.value.startswith("Data:"))
    rows = banner.split(" rows,")[0].rsplit("· ", 1)[-1]
    assert f"μ of {rows} rows (every fraud row, every normal row)" in titles


def test_the_per_feature_charts_axis_title_is_wrapped_to_fit_beside_it(app_env, trained_models_dir):  # noqa: F811
    from dashboard.figures import wrapped

    assert wrapped("squared error, whitened along normal rows' relations (standardised units)") == \
        "squared error, whitened along<br>normal rows' relations<br>(standardised units)"
    app_env(trained_models_dir)
    at = open_link("threshold", model=FRAUD_MODEL)
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["layout"]["title"]["text"] == "Per-feature reconstruction error")
    lines = spec["layout"]["yaxis"]["title"]["text"].split("<br>")
    assert len(lines) >= 2 and all(len(line) <= 30 for line in lines)
    unit = " ".join(lines)
    assert unit.startswith("squared error") and unit.endswith("(standardised units)")


def test_money_reads_one_way_everywhere():
    from dashboard.presentation import MONEY_COLUMN, money

    assert (money(1149.4), money(1149.5, cents=True), money(12.5, cents=None), money(5.0, cents=None)) == \
        ("€1,149", "€1,149.50", "€12.50", "€5")
    assert money(-2500) == "-€2,500" and MONEY_COLUMN == "€%,.0f"


def test_the_threshold_page_groups_the_thousands_of_every_sum_it_shows(app_env, trained_models_dir):  # noqa: F811
    import re

    app_env(trained_models_dir)
    at = open_link("threshold", model=FRAUD_MODEL, fee="1234.5", miss="2500")
    assert not shown_errors(at)
    texts = [m.value for m in at.metric] + [c.value for c in at.caption] + [m.value for m in at.markdown]
    sums = [s for text in texts for s in re.findall(r"€[\d,.]+\d", text)]
    assert sums and all(re.fullmatch(r"€\d{1,3}(,\d{3})*(\.\d\d)?", s) for s in sums), sums
    assert any(s.replace(",", "").startswith("€1") and len(s) >= 6 for s in sums)  # a sum of thousands was shown
    formats = [column.get("type_config", {}).get("format") for frame in at.dataframe
               for column in json.loads(frame.proto.columns or "{}").values()]
    assert "€%,.0f" in formats and "€%.0f" not in formats
