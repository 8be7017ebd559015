"""Decoder: move z with one slider per latent dim and watch the decoding update (inside a fragment,
so only that part reruns); a browser-side scrub, the manifold grid, interpolation and prior samples.

A slider release reruns only `point_editor`, and that rerun is kept small: the decoded image and the
z map are two small PNGs sent inside the page's message as data: URLs (no second request for the
browser to make), the map drawn here rather than as a Plotly chart (which the browser would rebuild
on every move), and nothing large is read from the caches. The scrub plane belongs to the same
fragment, so the sliders, the buttons and the plane always show one z.
"""

import base64
import io
import math

import numpy as np
import streamlit as st
from PIL import Image

from dashboard import figures, loaders, presentation, state, widgets
from vae_core.latent import decode_images, interpolate, manifold_mosaic, mosaic, prior_mosaic, sample_prior

MAX_SLIDERS = 32
Z_LIMIT = 4.0  # the sliders span ±4 prior standard deviations, wider when z lies further out
MAP_SCALE = 4  # screen pixels per density bin of the z map (60 bins: 240 pixels)
# The z map's colours, readable on Streamlit's light and dark backgrounds alike (its own is transparent).
INK, INK_ALPHA = np.array([66, 133, 244]), 0.85
GRID, RED = np.array([128, 128, 128]), np.array([214, 39, 40])
_SHOWN_REV = "_dec_sliders_rev"  # (model, z revision) the sliders were last set from


def current_z(name: str, latent_dim: int) -> list[float]:
    """This model's z (the origin until set)."""
    current = st.session_state.get(state.DECODER_Z)
    if not current or current.get("model") != name or len(current.get("z", [])) != latent_dim:
        state.set_decoder_z(name, [0.0] * latent_dim)
    return st.session_state[state.DECODER_Z]["z"]


def slider_extent(z: list[float]) -> float:
    """±Z_LIMIT, widened to the next whole number when a value of z lies beyond it."""
    return max(Z_LIMIT, float(math.ceil(max((abs(v) for v in z), default=0.0))))


def class_picker(loaded) -> int | None:
    """For a conditional model: the class every decoded point is drawn as (None otherwise)."""
    if not loaded.vae.vae_config.conditional:
        return None
    classes = list(range(loaded.vae.vae_config.num_classes))
    return st.sidebar.selectbox("Decode as class", classes, key=f"dec_class_{loaded.name}",
                                help="This model is conditional: the decoder also takes a class label.")


def _slider_moved(name: str, i: int, key: str) -> None:
    state.move_decoder_z(name, i, st.session_state[key])


def _draw(name: str, latent_dim: int) -> None:
    draws = st.session_state.get("_dec_draws", 0) + 1
    st.session_state["_dec_draws"] = draws
    state.set_decoder_z(name, np.round(np.random.default_rng(draws).standard_normal(latent_dim), 3))


def png_url(image: np.ndarray) -> str:
    """A (h, w), (h, w, 3) or (h, w, 4) RGBA uint8 image as a data: URL of its PNG (st.image shows it as it is)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def enlarged(image: np.ndarray, scale: int) -> np.ndarray:
    """A (h, w) image in [0, 1] as (h·scale, w·scale) uint8 with crisp pixels."""
    grey = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)


def z_map_image(counts: np.ndarray, extent: float, z_xy: tuple[float, float]) -> np.ndarray:
    """Where z sits: the density `counts` (bins, bins) [y, x] of μ over ±extent as blue ink whose
    opacity grows with the density, grey lines at whole numbers (stronger at 0) and z as a red cross
    (at the edge when outside), on a transparent background, so the page's light or dark theme shows
    through. Returns (bins·MAP_SCALE, bins·MAP_SCALE, 4) uint8 RGBA with z1 pointing up."""
    shade = np.log1p(counts)
    shade = shade / max(float(shade.max()), 1e-9)
    alpha = np.repeat(np.repeat(shade[::-1, :] * INK_ALPHA, MAP_SCALE, axis=0), MAP_SCALE, axis=1)
    size = alpha.shape[0]
    colour = np.broadcast_to(INK, (size, size, 3)).astype(np.float64).copy()
    to_pixel = lambda v: int(np.clip(round((v + extent) / (2 * extent) * (size - 1)), 0, size - 1))  # noqa: E731
    for value in range(-int(extent), int(extent) + 1):
        line = 0.9 if value == 0 else 0.45
        column, row = to_pixel(value), size - 1 - to_pixel(value)
        for index in (np.s_[:, column], np.s_[row, :]):
            colour[index] = np.where((alpha[index] >= line)[:, None], colour[index], GRID)
            alpha[index] = np.maximum(alpha[index], line)
    x, y = to_pixel(z_xy[0]), size - 1 - to_pixel(z_xy[1])
    for d in range(-6, 7):
        for thick in (0, 1):
            for row, column in ((y + d, x + d + thick), (y + d, x - d + thick)):
                if 0 <= row < size and 0 <= column < size:
                    colour[row, column], alpha[row, column] = RED, 1.0
    return np.dstack([np.round(colour), np.round(alpha * 255)]).astype(np.uint8)


def decoded_transaction(loaded, z: list[float]) -> None:
    """A fraud model's decoding of z: standardised feature bars, and the amount in euros."""
    model = loaders.fraud_model(loaded.name)
    standardised = loaded.vae.decode(np.asarray(z, np.float32)[None, :])[0]
    st.plotly_chart(figures.feature_bars(model.feature_names, standardised, title="Decoded transaction"),
                    key="dec_fraud_bars", config={"displayModeBar": False})
    if "Amount" in model.feature_names:
        amount = model.preprocessor.inverse_transform(standardised[None, :])["Amount"].iloc[0]
        st.caption(f"Decoded amount: {presentation.money(amount, cents=True)} (bars are standardised feature values)")


def decoded_transactions(loaded, z: np.ndarray, titles: list[str], key: str) -> None:
    """Several decoded transactions as a heatmap (rows: points, columns: features)."""
    model = loaders.fraud_model(loaded.name)
    st.plotly_chart(figures.feature_heatmap(model.feature_names, loaded.vae.decode(np.asarray(z, np.float32)), titles),
                    key=key)


@widgets.fragment
def point_editor(loaded, key: tuple, data_key, label: int | None) -> None:
    """Sliders → decoded output and the z map; a slider release reruns only this fragment."""
    name, latent_dim = loaded.name, loaded.vae.vae_config.latent_dim
    z = current_z(name, latent_dim)
    revision = st.session_state[state.DECODER_Z].get("rev", 0)
    extent = slider_extent(z)
    sliders, output, where = st.columns([2, 2, 2])
    with sliders:
        shown = min(latent_dim, MAX_SLIDERS)
        # The sliders take z only when it was set from elsewhere (a link, a button, the scrub): while a
        # slider is being moved its own value stands, so no arrow-key step is lost to a rerun.
        rebuild = st.session_state.get(_SHOWN_REV) != (name, revision)
        st.session_state[_SHOWN_REV] = (name, revision)
        for i in range(shown):
            slider_key = f"dec_z_{name}_{i}"
            if rebuild or slider_key not in st.session_state:
                st.session_state[slider_key] = float(np.clip(z[i], -extent, extent))
            st.slider(f"z{i}", -extent, extent, step=0.05, key=slider_key, on_change=_slider_moved,
                      args=(name, i, slider_key))
        if extent > Z_LIMIT:
            st.caption(f"The sliders span ±{extent:g} to hold this z (it lies beyond ±{Z_LIMIT:g}).")
        if latent_dim > shown:
            st.caption(f"Dims z{shown}…z{latent_dim - 1} keep their values (set them from the Latent page).")
        reset, draw = st.columns(2)
        reset.button("Origin", key="dec_reset", on_click=state.set_decoder_z, args=(name, [0.0] * latent_dim),
                     icon=":material/center_focus_strong:")
        draw.button("Draw from prior", key="dec_draw", on_click=_draw, args=(name, latent_dim),
                    icon=":material/casino:")
    with output:
        if loaded.kind == "fraud":
            decoded_transaction(loaded, z)
        else:
            st.image(png_url(enlarged(decode_images(loaded.vae, [z], label)[0], 8)), caption="decoded p(x | z)")
            if label is not None:
                from vae_core.images.conditional import digit_row

                st.image(digit_row(loaded.vae, z), caption="the same z (style) as each of the ten digits",
                         clamp=True, width="stretch")
    with where:
        if latent_dim >= 2:
            counts, _ = loaders.latent_density(key, (0, 1), Z_LIMIT, data_key)
            outside = " (z lies beyond the map: the cross is at its edge)" if max(abs(z[0]), abs(z[1])) > Z_LIMIT else ""
            st.image(png_url(z_map_image(counts, Z_LIMIT, (z[0], z[1]))),
                     caption=f"Where z sits among the test rows' μ: z0 →, z1 ↑, ±{Z_LIMIT:g}{outside}")
            source = loaders.mnist_test().source if data_key is None else loaders.scored(key, data_key).source
            st.caption(f"Shading: μ of the test rows of {source}")
    if loaded.kind != "fraud" and latent_dim >= 2:
        scrub_section(loaded, key, data_key, label, z)


def scrub_section(loaded, key: tuple, data_key, label: int | None, z: list[float]) -> None:
    """Drag over the plane: the image redraws in the browser with no rerun; z comes back on release
    and the sliders take it (the plane takes the sliders' z on every move of theirs)."""
    from dashboard.components.latent_scrub import latent_scrub

    st.subheader("Scrub without a round trip")
    st.caption("Drag over the plane (z0 → , z1 ↑): the decoder runs in your browser, so the image "
               "follows the pointer continuously; releasing sends z back to the sliders.")
    name = loaded.name
    counts, _ = loaders.latent_density(key, (0, 1), Z_LIMIT, data_key)
    released = latent_scrub(loaded.vae, z, label=label, dims=(0, 1), extent=Z_LIMIT, density=counts,
                            label_picker=False, key=f"dec_scrub_{name}")
    if released:
        state.set_decoder_z(name, released["z"])
        st.rerun()  # the sliders, and the grid's other dims, take the released z


@widgets.fragment
def manifold_section(loaded, label: int | None) -> None:
    latent_dim = loaded.vae.vae_config.latent_dim
    c1, c2, c3, c4 = st.columns(4)
    n = c1.slider("Grid size", 3, 30, **state.setting_widget("decoder", "grid"))
    extent = c2.slider("Range (±σ)", 0.5, 4.0, step=0.25, **state.setting_widget("decoder", "range"))
    spacing = c3.radio("Spacing", ["linear", "quantile"], horizontal=True, **state.setting_widget("decoder", "spacing"),
                       help="quantile: equal prior mass per cell (standard-normal quantiles)")
    dims = (0, 1)
    if latent_dim > 2:
        a = c4.selectbox("x dim", range(latent_dim), format_func="z{}".format,
                         **state.setting_widget("decoder", "gx", range(latent_dim)))
        b = c4.selectbox("y dim", range(latent_dim), format_func="z{}".format,
                         **state.setting_widget("decoder", "gy", range(latent_dim)))
        dims = (a, b)
        st.caption("The other dims are held at the current z.")
    with widgets.guard("Grid"):
        base = np.asarray(current_z(loaded.name, latent_dim), np.float32)
        grid = manifold_mosaic(loaded.vae, n, extent, spacing, dims, base, label)
        st.image(grid, caption=f"{n}×{n} grid over z{dims[0]} (→) and z{dims[1]} (↑)", clamp=True,
                 width=min(700, 28 * n * 2))


def _ends_typed(name: str) -> None:
    st.session_state[state.INTERP] = {"model": name, "a": int(st.session_state["dec_interp_a"]),
                                      "b": int(st.session_state["dec_interp_b"])}


@widgets.fragment
def interpolation_section(loaded, key: tuple, data_key, label: int | None) -> None:
    """Straight line between the μ of two rows, decoded."""
    name = loaded.name
    view = loaders.latent_view(key, loaders.VIEW_POINTS, data_key)
    last = int(view.index.max())
    ends = st.session_state.get(state.INTERP)
    if not ends or ends.get("model") != name:
        ends = {"model": name, "a": 0, "b": min(1, last)}
        st.session_state[state.INTERP] = ends
    st.session_state["dec_interp_a"], st.session_state["dec_interp_b"] = ends["a"], ends["b"]
    c1, c2, c3 = st.columns(3)
    a = c1.number_input("From row", 0, last, key="dec_interp_a", on_change=_ends_typed, args=(name,))
    b = c2.number_input("To row", 0, last, key="dec_interp_b", on_change=_ends_typed, args=(name,))
    steps = c3.slider("Steps", 2, 20, **state.setting_widget("decoder", "steps"))
    positions = {int(r): i for i, r in enumerate(view.index)}
    if int(a) not in positions or int(b) not in positions:
        st.info("Pick rows of the test set (rows shown on the Latent space page).")
        return
    z = interpolate(view.mu[positions[int(a)]], view.mu[positions[int(b)]], steps)
    if loaded.kind == "fraud":
        decoded_transactions(loaded, z, [f"step {i}" for i in range(steps)], "dec_fraud_interp")
    else:
        st.image(mosaic(decode_images(loaded.vae, z, label), steps), caption=f"μ of row {a} → μ of row {b} in {steps} steps",
                 clamp=True, width="stretch")


@widgets.fragment
def prior_section(loaded, label: int | None) -> None:
    c1, c2 = st.columns(2)
    side = c1.slider("Samples per side", 2, 10, **state.setting_widget("decoder", "side"))
    seed = c2.number_input("Seed", 0, 10**6, **state.setting_widget("decoder", "seed"))
    if loaded.kind == "fraud":
        z = sample_prior(loaded.vae.vae_config.latent_dim, side, int(seed))
        decoded_transactions(loaded, z, [f"sample {i}" for i in range(side)], "dec_fraud_prior")
    else:
        st.image(prior_mosaic(loaded.vae, side, int(seed), label), caption=f"{side * side} draws z ~ N(0, I)",
                 clamp=True, width=min(560, 28 * side * 3))


def main() -> None:
    st.title("Decoder")
    info = widgets.explorer_picker()
    if info is None:
        return
    key = loaders.model_key(info.name)
    loaded = loaders.get_model(info.name)
    data_key = None
    if loaded.kind == "fraud":
        data_key = widgets.fraud_rows_picker()
        if data_key is None:
            return
    label = class_picker(loaded)
    point_editor(loaded, key, data_key, label)
    latent_dim = loaded.vae.vae_config.latent_dim
    if loaded.kind != "fraud" and latent_dim >= 2:
        st.subheader("Manifold grid")
        manifold_section(loaded, label)
    st.subheader("Interpolation")
    interpolation_section(loaded, key, data_key, label)
    st.subheader("Samples from the prior")
    prior_section(loaded, label)


main()
