"""ELBO anatomy's commentary on decoding μ follows the order of the numbers it sits beside."""

from __future__ import annotations

import re

import pytest

from app_fixtures import app_data_dir, app_env, trained_models_dir  # noqa: F401
from dashboard.presentation import reconstruction_at_mu_text, sweep_progress_text
from fault_kit import metric, open_link


@pytest.mark.parametrize(("at_mu", "mean", "says"), [
    (148.04, 150.9, "At μ itself the reconstruction term would be 148.0 nats, 2.9 less than the mean over the 8 "
                    "draws: the draws pay for the encoder's uncertainty."),
    (153.0, 150.94, "153.0 nats, 2.1 more than the mean over the 8 draws: for this image, points near μ decode it "
                    "better than μ does"),
    (150.91, 150.94, "150.9 nats, the same as the mean over the 8 draws"),
])
def test_the_commentary_says_which_is_cheaper_as_the_numbers_show(at_mu, mean, says):
    assert says in reconstruction_at_mu_text(at_mu, mean, 8)


def test_the_page_commentary_agrees_with_its_reconstruction_metric(app_env, trained_models_dir):  # noqa: F811
    at = open_link("elbo")
    for seed in range(6):
        at.number_input(key="elbo_seed").set_value(seed).run()
        shown = float(metric(at, "Reconstruction"))
        caption = next(c.value for c in at.caption if c.value.startswith("At μ itself"))
        at_mu = float(re.search(r"would be ([\d.]+) nats", caption).group(1))
        if at_mu < shown:
            assert f"{shown - at_mu:.1f} less than the mean" in caption
        elif at_mu > shown:
            assert f"{at_mu - shown:.1f} more than the mean" in caption
        else:
            assert "the same as the mean" in caption


@pytest.mark.parametrize(("elapsed", "fraction", "says"), [
    (4.0, 0.5, "Training the VAE for β 1 · 0:04 elapsed, about 0:04 left"),
    (12.0, 0.75, "Training the VAE for β 1 · 0:12 elapsed, about 0:04 left"),
    (1.0, 0.01, "Training the VAE for β 1 · 0:01 elapsed, estimating the time left"),
])
def test_the_sweeps_time_left_comes_from_its_pace_so_far(elapsed, fraction, says):
    assert sweep_progress_text(1.0, elapsed, fraction) == says
