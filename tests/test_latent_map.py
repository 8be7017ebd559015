"""The latent map's engine (selections and their statistics, per-point terms, projections and their
disk cache, contours), its link parameters, and the Latent space page through AppTest.

The browser side (hover images, lasso, colouring, a reloaded link) is in tests/e2e/test_latent_map_browser.py.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from vae_core.errors import ConfigError
from vae_core.latent import (cached_projection, contour_segments, density_contours, kl_per_point, largest_terms,
                             point_terms, prior_radii, project_all)
from vae_core.selection import (RangeFilter, Region, class_counts, confusion_in, digit_frame, mean_image, to_csv,
                                transaction_frame)

APP = Path(__file__).resolve().parents[1] / "app.py"


# --- selections ---------------------------------------------------------------------------------------

def test_a_box_holds_the_points_inside_it_edges_included():
    box = Region.box(1.0, 1.0, -1.0, -1.0)  # corners in any order
    assert box.points == ((-1.0, -1.0), (1.0, 1.0))
    xy = np.array([[0, 0], [1, 1], [1.01, 0], [0, -1.5], [-1, 0.5]])
    assert box.contains(xy).tolist() == [True, True, False, False, True]


def test_a_concave_lasso_leaves_out_its_notch():
    # An L: the unit square's top-right quarter is cut away.
    lasso = Region.make("lasso", [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    xy = np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [1.5, 1.5], [2.5, 0.5], [-0.1, 1.0]])
    assert lasso.contains(xy).tolist() == [True, True, True, False, False, False]


def test_a_region_travels_as_text_with_five_significant_digits():
    region = Region.make("lasso", [(0.123456789, -2.5), (3.0, 1e-7), (-1234567.0, 4.25)])
    text = region.to_text()
    assert text == "lasso:0.12346,-2.5,3,1e-07,-1.2346e+06,4.25"
    assert Region.from_text(text) == region
    assert Region.from_dict(region.to_dict()) == region


@pytest.mark.parametrize("text", ["box:0,0,1", "box:0,0,0,1", "lasso:0,0,1,1", "circle:0,0,1,1", "box:a,b,c,d",
                                  "box:nan,0,1,1", "lasso:" + ",".join(["0"] * 402), ""])
def test_unreadable_regions_are_refused_with_a_reason(text):
    with pytest.raises(ConfigError):
        Region.from_text(text)


def test_a_range_filter_travels_as_text_and_matches_its_closed_range():
    both = RangeFilter.from_text("column:Amount:100..500")
    assert (both.column, both.low, both.high) == ("column:Amount", 100.0, 500.0)
    assert both.to_text() == "column:Amount:100..500" and both.describe("Amount") == "Amount from 100 to 500"
    values = np.array([50, 100, 300, 500, 500.01, np.nan])
    assert both.matches(values).tolist() == [False, True, True, True, False, False]
    above = RangeFilter.from_text("kl:2..")
    assert above.matches(values).tolist() == [True, True, True, True, True, False]
    assert above.to_text() == "kl:2.." and above.describe("KL term") == "KL term of 2 or more"
    below = RangeFilter("error", high=-1.234567)
    assert below.to_text() == "error:..-1.2346" and RangeFilter.from_text(below.to_text()).high == -1.2346


@pytest.mark.parametrize("text, message", [
    ("Amount", "expected column:low..high"), ("Amount:1-2", "expected column:low..high"),
    ("Amount:..", "needs a lower or an upper end"), (":1..2", "needs a column"),
    ("Amount:x..2", "its ends must be numbers"), ("Amount:3..2", "lower end 3 is above its upper end 2"),
    ("Amount:inf..", "must be finite numbers")])
def test_unreadable_filters_are_refused_with_a_reason(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        RangeFilter.from_text(text)


def test_counts_by_class_name_every_class():
    labels = np.array([0, 1, 1, 2, 2, 2])
    mask = np.array([True, False, True, True, True, False])
    assert class_counts(labels, mask, {0: "zero", 1: "one", 2: "two", 3: "three"}) == \
        {"zero": 1, "one": 1, "two": 2, "three": 0}


def test_confusion_inside_a_selection_at_a_threshold():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.95, 0.05, 0.6])
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 1])
    mask = np.array([True, True, True, True, True, False, False, False])
    inside = confusion_in(scores, labels, mask, threshold=0.5)
    # Inside: 0.9 fraud → TP; 0.8, 0.7 normal → FP, FP; 0.2 fraud → FN; 0.1 normal → TN.
    assert inside.counts == {"TP": 1, "FP": 2, "FN": 1, "TN": 1}
    # Everywhere: 0.95 normal adds an FP, 0.05 normal a TN, 0.6 fraud a TP.
    assert inside.totals == {"TP": 2, "FP": 3, "FN": 1, "TN": 2}
    assert inside.precision == pytest.approx(1 / 3)
    assert inside.share == {"TP": 0.5, "FP": pytest.approx(2 / 3), "FN": 1.0, "TN": 0.5}
    assert inside.flagged == 3
    nothing = confusion_in(scores, labels, mask, threshold=10.0)
    assert nothing.precision is None and nothing.flagged == 0 and nothing.share["TP"] is None


def test_mean_image_of_a_selection():
    images = np.stack([np.full((2, 2), v, np.float32) for v in (0.0, 0.5, 1.0)])
    assert mean_image(images, np.array([False, True, True])).tolist() == [[0.75, 0.75], [0.75, 0.75]]
    assert mean_image(images, np.zeros(3, bool)).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_the_transactions_csv_holds_the_selected_rows():
    features = pd.DataFrame({"V1": [1.5, -2.0], "V2": [0.25, 3.0], "Amount": [12.5, 99.0]})
    frame = transaction_frame(np.array([17, 42]), np.array([3.0, 0.5]), np.array([1, 1]), 1.0,
                              np.array([[0.1, 0.2], [0.3, 0.4]]), ("z0", "z1"), features, np.array([12.5, 99.0]))
    read = pd.read_csv(io.BytesIO(to_csv(frame)))
    assert list(read.columns) == ["row", "score", "flagged", "label", "outcome", "z0", "z1", "V1", "V2", "Amount"]
    assert read["row"].tolist() == [17, 42]
    assert read["outcome"].tolist() == ["TP", "FN"]
    assert read["flagged"].tolist() == [True, False]
    assert read["label"].tolist() == ["fraud", "fraud"]
    assert read["V2"].tolist() == [0.25, 3.0]


def test_the_digits_csv_holds_the_selected_rows():
    frame = digit_frame(np.array([3, 9]), np.array([7, 1]), np.array([[1.0, 2.0], [3.0, 4.0]]),
                        np.array([80.5, 120.0]), np.array([3.25, 4.0]), ("z0", "z1"))
    read = pd.read_csv(io.BytesIO(to_csv(frame)))
    assert read.to_dict("list") == {"test_index": [3, 9], "digit": [7, 1], "z0": [1.0, 3.0], "z1": [2.0, 4.0],
                                    "reconstruction_nats": [80.5, 120.0], "kl_nats": [3.25, 4.0]}


# --- what travels to the browser -------------------------------------------------------------------------

def test_each_blob_travels_once_until_it_changes():
    from dashboard.components.latent_map import MapConfig, blob, map_args

    config = MapConfig(n=3, kind="mnist", axis_titles=("z0", "z1"), bounds=(-1, 1, -1, 1), view_id="v",
                       legend={"kind": "categorical"}, class_names=["a"])
    xy, colour = blob(np.zeros((3, 2), np.float32)), blob(np.array([0, 1, 2], np.uint8))
    sent: dict[str, str] = {}
    first = map_args({"xy": xy, "colour": colour}, config, sent)
    assert first["blob_xy"] == np.zeros(6, np.float32).tobytes() and first["blob_colour"] == b"\x00\x01\x02"
    assert first["ids"] == {"xy": xy.id, "colour": colour.id} and first["sending"] == ["colour", "xy"]
    again = map_args({"xy": xy, "colour": colour}, config, sent)
    assert "blob_xy" not in again and "blob_colour" not in again  # the browser keeps them
    assert again["sending"] == []
    recoloured = blob(np.array([2, 1, 0], np.uint8))
    changed = map_args({"xy": xy, "colour": recoloured}, config, sent)
    assert "blob_xy" not in changed and changed["blob_colour"] == b"\x02\x01\x00"
    assert json.dumps({k: v for k, v in changed.items() if not k.startswith("blob_")})  # the rest is JSON


def test_continuous_colours_spread_over_256_levels():
    from dashboard.components.latent_map import continuous_colours

    values = np.linspace(1, 1000, 10_001)
    codes, legend = continuous_colours(values, "error", log=True, coverage=1.0)
    levels = np.frombuffer(codes.data, np.uint8)
    assert levels[0] == 0 and levels[-1] == 255 and (np.diff(levels.astype(int)) >= 0).all()
    assert levels[5000] == pytest.approx(255 * np.log10(values[5000]) / 3, abs=1)  # even in log space
    assert legend["low"] == pytest.approx(1.0) and legend["high"] == pytest.approx(1000.0) and legend["log"]
    assert len(legend["palette"]) == 256


def test_the_sprite_sheet_holds_each_image_in_its_tile():
    from PIL import Image

    from dashboard.components.latent_map import image_atlas

    images = np.random.default_rng(0).random((7, 28, 28)).astype(np.float32)
    sheet, layout = image_atlas(images)
    assert layout == {"tile": 28, "columns": 3, "count": 7}
    pixels = np.asarray(Image.open(io.BytesIO(sheet.data)))
    assert pixels.shape == (3 * 28, 3 * 28)
    assert np.array_equal(pixels[28:56, 0:28], np.rint(images[3] * 255).astype(np.uint8))  # row 1, column 0


# --- per-point terms ----------------------------------------------------------------------------------

def test_point_terms_agree_with_the_models_own_terms(tiny_vae, tiny_images):
    x = tiny_images[0][:64]
    terms = point_terms(tiny_vae, x)
    mu, _ = tiny_vae.encode(x)
    assert terms.mu == pytest.approx(mu)
    assert terms.reconstruction == pytest.approx(tiny_vae.decoder_nll(x, mu), rel=1e-5)
    losses = tiny_vae.per_example_losses(x)
    assert terms.kl == pytest.approx(losses["kl"], rel=1e-4, abs=1e-4)
    assert (terms.kl >= 0).all()


def test_kl_is_zero_for_a_point_code():
    mu = np.array([[1.0, 2.0], [0.0, 0.0]])
    assert kl_per_point(mu, np.full((2, 2), -np.inf)).tolist() == [0.0, 0.0]
    assert kl_per_point(mu, np.zeros((2, 2))) == pytest.approx([2.5, 0.0])  # ½‖μ‖² when σ = 1


def test_largest_terms_name_the_worst_features_and_their_shares():
    errors = np.array([[1.0, 6.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    top, shares = largest_terms(errors)
    assert top[0].tolist() == [1, 3, 0]
    assert shares[0].tolist() == [60, 30, 10]
    assert shares[1].tolist() == [0, 0, 0]


# --- projections and contours -------------------------------------------------------------------------

def _two_clusters(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    mu = rng.normal(0, 0.3, (n, 5)) + np.where(labels[:, None] == 1, 6.0, -6.0)
    return mu.astype(np.float32), labels


def test_tsne_fitted_on_a_sample_still_places_every_point():
    mu, labels = _two_clusters()
    projection = project_all(mu, "tsne", fit_limit=60)
    assert projection.sampled and projection.fitted_on == 60 and projection.xy.shape == (300, 2)
    assert np.isfinite(projection.xy).all() and projection.prior_centre is None
    centres = [projection.xy[labels == k].mean(axis=0) for k in (0, 1)]
    spread = max(np.linalg.norm(projection.xy[labels == k] - centres[k], axis=1).max() for k in (0, 1))
    assert np.linalg.norm(centres[0] - centres[1]) > 2 * spread  # the two clusters stay apart


def test_pca_puts_the_prior_where_z_is_zero():
    mu, _ = _two_clusters()
    projection = project_all(mu + 3.0, "pca")
    assert not projection.sampled and projection.axis_titles[0].startswith("PC1")
    from sklearn.decomposition import PCA

    expected = PCA(n_components=2).fit(mu + 3.0).transform(np.zeros((1, 5)))[0]
    assert np.abs(projection.prior_centre) == pytest.approx(np.abs(expected), abs=1e-4)


def test_the_tsne_map_is_kept_on_disk_per_model_and_rows(tmp_path, monkeypatch):
    from vae_core import latent

    mu, _ = _two_clusters(120)
    first = cached_projection(mu, "tsne", directory=tmp_path)
    saved = list((tmp_path / "projections").glob("tsne-*.npz"))
    assert len(saved) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed instead of read from the cache")

    monkeypatch.setattr(latent, "project_all", refuse)
    again = cached_projection(mu, "tsne", directory=tmp_path)
    assert np.array_equal(again.xy, first.xy) and again.axis_titles == first.axis_titles
    monkeypatch.undo()
    cached_projection(mu[:100], "tsne", directory=tmp_path)  # other rows: another map
    assert len(list((tmp_path / "projections").glob("tsne-*.npz"))) == 2


def test_density_contours_of_normal_points_sit_on_the_prior_circles():
    xy = np.random.default_rng(1).standard_normal((40_000, 2))
    contours = density_contours(xy, (0.5, 0.9))
    radii = prior_radii((0.5, 0.9))
    for (mass, segments), radius in zip(contours, radii):
        assert len(segments) > 20
        found = np.hypot(segments[:, 0], segments[:, 1])
        assert found.mean() == pytest.approx(radius, rel=0.06), mass


def test_contour_segments_of_a_cone_are_a_circle():
    axis = np.linspace(-2, 2, 81)
    grid = 3.0 - np.hypot(*np.meshgrid(axis, axis))  # high in the middle
    segments = contour_segments(grid, axis, axis, level=2.0)  # the circle of radius 1
    ends = np.concatenate([segments[:, :2], segments[:, 2:]])
    assert np.hypot(ends[:, 0], ends[:, 1]) == pytest.approx(1.0, abs=0.01)
    assert len(segments) > 50


# --- link parameters -------------------------------------------------------------------------------------

def open_link(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(params)
    at.run()
    return at.switch_page(f"dashboard/pages/{page}.py").run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def map_args(at: AppTest) -> dict:
    """The JSON arguments the latent map received on the last run."""
    component = next(e for e in at.get("component_instance") if e.proto.component_name.endswith("latent_map"))
    return json.loads(component.proto.json_args)


def test_a_latent_link_restores_the_map_view(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=FRAUD_MODEL, proj="pca", colour="outcome", sel="box:-50,-50,50,50")
    assert_clean(at)
    assert at.session_state["latent_map_view"] == {"model": FRAUD_MODEL, "projection": "pca", "dims": [0, 1],
                                                    "colour": "outcome", "region": "box:-50,-50,50,50",
                                                    "filter": None}
    assert dict(at.query_params) == {"model": FRAUD_MODEL, "proj": "pca", "colour": "outcome",
                                     "sel": "box:-50,-50,50,50"}
    args = map_args(at)
    assert args["selection"] == {"kind": "box", "points": [[-50.0, -50.0], [50.0, 50.0]]}
    assert args["legend"]["names"] == ["TP", "FP", "FN", "TN"]


def test_malformed_map_parameters_mean_defaults(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=MNIST_MODEL, proj="umap?", dims="1,1", colour="rainbow", sel="lasso:1,2")
    assert_clean(at)
    view = at.session_state["latent_map_view"]
    assert (view["projection"], view["dims"], view["colour"], view["region"]) == ("dims", [0, 1], "class", None)
    assert map_args(at)["selection"] is None


def test_dims_of_a_3d_latent_travel_in_the_link(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=FRAUD_MODEL)
    at.selectbox(key="latent_dim_y").select(2).run()
    assert_clean(at)
    assert at.query_params["dims"] == "0,2"
    assert map_args(at)["axis_titles"] == ["z0", "z2"]
    at.selectbox(key="latent_dim_x").select(2).run()  # the y axis's dim: the two swap
    assert_clean(at)
    assert map_args(at)["axis_titles"] == ["z2", "z0"] and at.query_params["dims"] == "2,0"


# --- the page -----------------------------------------------------------------------------------------

def table_rows(at: AppTest, index: int = 0) -> list[dict]:
    return at.table[index].value.to_dict("records")


def test_a_first_latent_visit_after_start_up_computes_nothing(app_env, trained_models_dir, monkeypatch):
    """What the server's start-up prepares (warmup.prepare_first_views) is what the Latent space page
    draws first: encoding, projection, contours and the digit sprites all come from the caches."""
    import streamlit as st

    import dashboard.components.latent_map as latent_map_component
    import vae_core.latent
    from dashboard import warmup

    app_env(trained_models_dir)
    st.cache_resource.clear()
    st.cache_data.clear()
    warmup.prepare_first_views(MNIST_MODEL)

    def recomputed(*_args, **_kwargs):
        raise AssertionError("the first visit computed what start-up should have prepared")

    for module, name in ((vae_core.latent, "point_terms"), (vae_core.latent, "cached_projection"),
                         (vae_core.latent, "density_contours"), (latent_map_component, "image_atlas")):
        monkeypatch.setattr(module, name, recomputed)
    at = open_link("latent", model=MNIST_MODEL)
    assert_clean(at)
    args = map_args(at)
    assert args["n"] == 200 and args["atlas"]["count"] == 200


def test_every_test_digit_is_on_the_map(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=MNIST_MODEL)
    assert_clean(at)
    args = map_args(at)
    assert args["n"] == 200 and args["kind"] == "mnist"  # every test digit of the small data folder
    assert args["atlas"] == {"tile": 28, "columns": 15, "count": 200}
    assert set(args["ids"]) == {"xy", "contours", "colour", "labels", "error", "kl", "atlas", "recon"}


def test_a_selected_region_shows_counts_images_and_its_mean(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=MNIST_MODEL, sel="box:-100,-100,100,100")  # every point
    assert_clean(at)
    assert any(m.value.startswith("**200 of 200 points selected**") for m in at.markdown)
    counts = table_rows(at)
    assert [row["class"] for row in counts] == [str(d) for d in range(10)]
    assert sum(int(row["selected"]) for row in counts) == 200
    assert all(row["share of the class"] in ("100.0%", "–") for row in counts)
    captions = [caption for image in at.image for caption in image.captions]
    assert "mean of 200 selected" in captions
    assert "the first 64 of 200 selected (test order)" in captions


def test_the_colouring_changes_the_map_and_the_link(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=MNIST_MODEL)
    before = map_args(at)
    assert before["legend"]["kind"] == "categorical"
    at.selectbox(key="latent_colour").set_value("error").run()
    assert_clean(at)
    after = map_args(at)
    assert after["legend"]["kind"] == "continuous" and after["legend"]["title"].startswith("−log p(x|μ)")
    assert after["ids"]["colour"] != before["ids"]["colour"] and after["ids"]["xy"] == before["ids"]["xy"]
    assert at.query_params["colour"] == "error"


def test_a_fraud_selection_survives_a_threshold_change(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=FRAUD_MODEL, sel="box:-1000,-1000,1000,1000")
    assert_clean(at)
    outcomes = {row["outcome"]: row for row in table_rows(at, 1)}
    assert set(outcomes) == {"TP", "FP", "FN", "TN"}
    assert all(row["selected"] == row["all rows"] for row in outcomes.values())  # the box holds every row
    flagged = next(m.value for m in at.metric if m.label == "Flagged inside")
    at.session_state["fraud_threshold"] = {"model": FRAUD_MODEL, "value": 1e9, "strategy": "manual", "params": {}}
    at.run()
    assert_clean(at)
    assert at.query_params["sel"] == "box:-1000,-1000,1000,1000"  # the selection is still there…
    assert next(m.value for m in at.metric if m.label == "Flagged inside") == "0" != flagged  # …at the new threshold
    assert next(m.value for m in at.metric if m.label == "Precision inside") == "–"


def test_the_first_view_holds_every_point_with_a_margin_outliers_included():
    from vae_core.latent import map_bounds

    xy = np.random.default_rng(0).normal(size=(10_000, 2))
    xy[17] = (40.0, -3.0)  # one far outlier, e.g. the transaction one is looking for
    x0, x1, y0, y1 = map_bounds(xy)
    assert x0 < xy[:, 0].min() and x1 > xy[:, 0].max() and y0 < xy[:, 1].min() and y1 > xy[:, 1].max()
    span = max(np.ptp(xy[:, 0]), np.ptp(xy[:, 1]))
    assert x1 - xy[:, 0].max() == pytest.approx(0.06 * span) and xy[:, 1].min() - y0 == pytest.approx(0.06 * span)


def test_a_chosen_digit_shows_its_nearest_digits_rings_them_and_k_travels_in_the_link(app_env, trained_models_dir):
    from dashboard import loaders
    from vae_core.latent import nearest_neighbours

    app_env(trained_models_dir)
    at = open_link("latent", model=MNIST_MODEL, point="7", k="5")
    assert_clean(at)
    points = loaders.map_points(loaders.model_key(MNIST_MODEL), None)
    indices, distances = nearest_neighbours(points.mu, 7, 5)

    def shown() -> list[str]:
        return [c for image in at.image for c in image.captions if c.startswith("#")]

    assert shown() == [f"#{i} · digit {points.labels[i]} · {d:.3f}" for i, d in zip(indices, distances)]
    assert map_args(at)["neighbours"] == indices.tolist() and map_args(at)["selected"] == 7
    assert any(c.value.startswith("The 5 points nearest to digit 7: Euclidean distance between their μ over all 2 "
                                  "latent dims") for c in at.caption)
    assert at.query_params["k"] == "5"
    at.number_input(key="latent_neighbours").set_value(3).run()
    assert_clean(at)
    assert shown() == [f"#{i} · digit {points.labels[i]} · {d:.3f}" for i, d in zip(indices[:3], distances[:3])]
    assert map_args(at)["neighbours"] == indices[:3].tolist() and at.query_params["k"] == "3"
    at.number_input(key="latent_neighbours").set_value(8).run()  # the default leaves the link
    assert "k" not in at.query_params and len(shown()) == 8


def test_a_chosen_transaction_lists_its_nearest_rows_with_their_distances(app_env, trained_models_dir):
    from dashboard import loaders, presentation
    from vae_core.latent import nearest_neighbours

    app_env(trained_models_dir)
    at = open_link("latent", model=FRAUD_MODEL, point="4", k="6")
    assert_clean(at)
    key, data_key = loaders.model_key(FRAUD_MODEL), ("model", None, "", "")  # the model's own rows
    scored = loaders.scored(key, data_key)
    indices, distances = nearest_neighbours(loaders.map_points(key, data_key).mu, 4, 6)
    assert loaders.map_points(key, data_key).mu.shape[1] == 3  # every one of its 3 dims, not the map's two
    table = next(t.value for t in at.table if "distance" in t.value.columns)
    assert table.to_dict("records") == [
        {"file row": int(scored.rows[i]), "class": "fraud" if scored.labels[i] else "normal",
         "Amount": presentation.money(float(scored.amounts[i]), cents=True), "score": f"{scored.scores[i]:.2f}",
         "flagged": "yes" if scored.scores[i] >= map_args(at)["threshold"] else "no", "distance": f"{d:.3f}"}
        for i, d in zip(indices, distances)]
    assert map_args(at)["neighbours"] == indices.tolist()


def test_colour_by_a_column_of_the_rows_with_its_scale_and_the_link(app_env, trained_models_dir):
    from dashboard import loaders
    from dashboard.components.latent_map import continuous_colours

    app_env(trained_models_dir)
    at = open_link("latent", model=FRAUD_MODEL)
    assert {"Column Amount", "Column V1", "Column V2"} <= set(at.selectbox(key="latent_colour").options)
    features = loaders.scored(loaders.model_key(FRAUD_MODEL), ("model", None, "", "")).features
    for column, log in (("Amount", True), ("V2", False)):  # Amount runs from cents to thousands of euros
        at.selectbox(key="latent_colour").set_value(f"column:{column}").run()
        assert_clean(at)
        colours, legend = continuous_colours(features[column].to_numpy(np.float64), column, log=log)
        args = map_args(at)
        assert args["legend"] == legend and args["ids"]["colour"] == colours.id
        assert legend["title"] == column and legend["log"] is log and legend["low"] < legend["high"]
        assert at.query_params["colour"] == f"column:{column}"
    at = open_link("latent", model=FRAUD_MODEL, colour="column:V2")
    assert map_args(at)["legend"]["title"] == "V2"  # the link reopens the same colouring
    at = open_link("latent", model=FRAUD_MODEL, colour="column:Nowhere")
    assert_clean(at)
    assert map_args(at)["legend"]["kind"] == "categorical" and "colour" not in at.query_params


def test_colour_digits_by_their_brightness(app_env, trained_models_dir):
    from dashboard import loaders
    from dashboard.components.latent_map import continuous_colours

    app_env(trained_models_dir)
    at = open_link("latent", model=MNIST_MODEL, colour="brightness")
    assert_clean(at)
    images = loaders.mnist_test().x_test
    brightness = images.reshape(len(images), -1).mean(axis=1, dtype=np.float64)
    colours, legend = continuous_colours(brightness, "brightness (mean pixel, 0–1)")
    args = map_args(at)
    assert args["legend"] == legend and args["ids"]["colour"] == colours.id
    assert 0 < legend["low"] < legend["high"] < 1
    assert at.selectbox(key="latent_colour").value == "brightness" and at.query_params["colour"] == "brightness"


def test_a_filter_highlights_the_matching_rows_dims_the_rest_and_travels_in_the_link(app_env, trained_models_dir):
    from dashboard import loaders
    from dashboard.components.latent_map import blob

    app_env(trained_models_dir)
    at = open_link("latent", model=FRAUD_MODEL, filter="column:Amount:10..200")
    assert_clean(at)
    key, data_key = loaders.model_key(FRAUD_MODEL), ("model", None, "", "")
    amounts = loaders.scored(key, data_key).features["Amount"].to_numpy()
    expected = (amounts >= 10) & (amounts <= 200)
    assert 0 < expected.sum() < len(expected)

    def matching() -> list[str]:
        return [m.value for m in at.markdown if "points match" in m.value]

    assert matching() == [f"**{expected.sum():,} of {len(expected):,} points match Amount from 10 to 200**; "
                          "the rest are dimmed."]
    assert map_args(at)["ids"]["filter"] == blob(expected.astype(np.uint8)).id
    assert at.query_params["filter"] == "column:Amount:10..200"
    at.selectbox(key="latent_filter_column").set_value("kl").run()  # another column starts with no ends
    assert_clean(at)
    assert matching() == [] and "filter" not in map_args(at)["ids"] and "filter" not in at.query_params
    at.number_input(key="latent_filter_low").set_value(1.5).run()
    kl = loaders.map_points(key, data_key).kl
    assert matching() == [f"**{(kl >= 1.5).sum():,} of {len(kl):,} points match KL term of 1.5 or more**; "
                          "the rest are dimmed."]
    assert at.query_params["filter"] == "kl:1.5.."
    at.number_input(key="latent_filter_high").set_value(1.0).run()  # below the lower end
    assert [e.value for e in at.sidebar.error] == ["The filter's lower end 1.5 is above its upper end 1."]
    assert matching() == [] and "filter" not in at.query_params
    at.selectbox(key="latent_filter_column").set_value("none").run()
    assert_clean(at)
    assert "filter" not in map_args(at)["ids"] and at.sidebar.error == []


@pytest.mark.parametrize("link, says", [
    ("column:Nowhere:1..2", "This map has no column 'Nowhere' to filter by; highlighting nothing."),
    ("brightness:0..1", "This map has no column 'Brightness (mean pixel)' to filter by"),  # the digits' own
    ("kl:3..2", "The link's filter='kl:3..2' is not a filter (The filter's lower end 3 is above its upper end 2.)")])
def test_a_link_whose_filter_the_model_cannot_use_says_so_and_highlights_nothing(app_env, trained_models_dir,
                                                                                   link, says):
    app_env(trained_models_dir)
    at = open_link("latent", model=FRAUD_MODEL, filter=link)
    assert any(says in w.value for w in at.warning), [w.value for w in at.warning]
    assert "filter" not in map_args(at)["ids"] and "filter" not in at.query_params
