"""Decoder: move z with one slider per latent dim and watch the decoding update (inside a fragment,
so only that part reruns); manifold grid, interpolation and prior samples below."""

import numpy as np
import streamlit as st

import app_fraud
import app_ui
from vae_core import figures, views

MAX_SLIDERS = 32


def current_z(name: str, latent_dim: int) -> list[float]:
    state = st.session_state.get(app_ui.DECODER_Z)
    if not state or state.get("model") != name or len(state.get("z", [])) != latent_dim:
        state = {"model": name, "z": [0.0] * latent_dim}
        st.session_state[app_ui.DECODER_Z] = state
    return state["z"]


def class_picker(loaded) -> int | None:
    """For a conditional model: the class every decoded point is drawn as (None otherwise)."""
    if not views.is_conditional(loaded.vae):
        return None
    classes = list(range(loaded.vae.vae_config.num_classes))
    return st.sidebar.selectbox("Decode as class", classes, key=f"dec_class_{loaded.name}",
                                help="This model is conditional: the decoder also takes a class label.")


def _slider_key(name: str, i: int) -> str:
    return f"dec_z_{name}_{i}"


def _slider_moved(name: str, i: int) -> None:
    z = list(st.session_state[app_ui.DECODER_Z]["z"])
    z[i] = float(st.session_state[_slider_key(name, i)])
    st.session_state[app_ui.DECODER_Z] = {"model": name, "z": z}


def _set_z(name: str, z) -> None:
    st.session_state[app_ui.DECODER_Z] = {"model": name, "z": views.clamp_z(z, len(z))}


def _draw(name: str, latent_dim: int) -> None:
    draws = st.session_state.get("_dec_draws", 0) + 1
    st.session_state["_dec_draws"] = draws
    _set_z(name, np.random.default_rng(draws).standard_normal(latent_dim))


@app_ui.fragment
def point_editor(loaded, key: tuple, sample_key, label: int | None) -> None:
    """Sliders → decoded output and the z map; a slider release reruns only this fragment."""
    name, latent_dim = loaded.name, loaded.vae.vae_config.latent_dim
    z = current_z(name, latent_dim)
    sliders, output, where = st.columns([2, 2, 2])
    with sliders:
        shown = min(latent_dim, MAX_SLIDERS)
        for i in range(shown):
            st.session_state[_slider_key(name, i)] = float(z[i])
            st.slider(f"z{i}", -views.Z_LIMIT, views.Z_LIMIT, step=0.05, key=_slider_key(name, i),
                      on_change=_slider_moved, args=(name, i))
        if latent_dim > shown:
            st.caption(f"Dims z{shown}…z{latent_dim - 1} keep their values (set them from the Latent page).")
        reset, draw = st.columns(2)
        reset.button("Origin", key="dec_reset", on_click=_set_z, args=(name, [0.0] * latent_dim),
                     icon=":material/center_focus_strong:")
        draw.button("Draw from prior", key="dec_draw", on_click=_draw, args=(name, latent_dim),
                    icon=":material/casino:")
    with output:
        if loaded.kind == "fraud":
            app_fraud.show_decoded(loaded, z)
        else:
            app_ui.show_image(views.decode_image(loaded.vae, z, label), caption="decoded p(x | z)", scale=8)
            if label is not None:
                from vae_core.lessons import digit_row

                st.image(digit_row(loaded.vae, z), caption="the same z (style) as each of the ten digits",
                         clamp=True, width="stretch")
    with where:
        dims = (0, 1) if latent_dim >= 2 else (0, 0)
        if latent_dim >= 2:
            counts, centres = app_ui.latent_density(key, dims, sample_key)
            st.plotly_chart(figures.z_map(counts, centres, (z[dims[0]], z[dims[1]]), ("z0", "z1")),
                            key="dec_zmap", config={"displayModeBar": False})
            source = app_ui.latent_sample(key, 10_000, sample_key, thumbnails=False).source
            st.caption(f"Shading: μ of the test rows of {source}")
    app_ui.mirror_to_url()  # a slider release reruns only this fragment: keep the link current


@app_ui.fragment
def scrub_section(loaded, key: tuple, sample_key, label: int | None) -> None:
    """Drag over the plane: the image redraws in the browser with no rerun; z comes back on release."""
    from components.latent_scrub import latent_scrub

    name = loaded.name
    counts, _ = app_ui.latent_density(key, (0, 1), sample_key)
    released = latent_scrub(loaded.vae, current_z(name, loaded.vae.vae_config.latent_dim), label=label,
                            dims=(0, 1), extent=views.Z_LIMIT, density=counts, label_picker=False,
                            key=f"dec_scrub_{name}")
    if released:
        _set_z(name, released["z"])
        st.rerun()  # the sliders above show the released z


@app_ui.fragment
def manifold_section(loaded, label: int | None) -> None:
    latent_dim = loaded.vae.vae_config.latent_dim
    c1, c2, c3, c4 = st.columns(4)
    n = c1.slider("Grid size", 3, 30, 15, key="dec_grid_n")
    extent = c2.slider("Range (±σ)", 0.5, 4.0, 2.5, 0.25, key="dec_grid_extent")
    spacing = c3.radio("Spacing", ["linear", "quantile"], key="dec_grid_spacing", horizontal=True,
                       help="quantile: equal prior mass per cell (standard-normal quantiles)")
    dims = (0, 1)
    if latent_dim > 2:
        a = c4.selectbox("x dim", range(latent_dim), 0, format_func="z{}".format, key="dec_grid_x")
        b = c4.selectbox("y dim", range(latent_dim), 1, format_func="z{}".format, key="dec_grid_y")
        dims = (a, b)
        st.caption("The other dims are held at the current z.")
    with app_ui.guard("Grid"):
        base = current_z(loaded.name, latent_dim)
        mosaic = views.manifold_mosaic(loaded.vae, n, extent, spacing, dims, base, label)
        st.image(mosaic, caption=f"{n}×{n} grid over z{dims[0]} (→) and z{dims[1]} (↑)", clamp=True,
                 width=min(700, 28 * n * 2))


@app_ui.fragment
def interpolation_section(loaded, key: tuple, sample_key, label: int | None) -> None:
    name = loaded.name
    sample = app_ui.latent_sample(key, 10_000, sample_key, thumbnails=False)
    ends = st.session_state.get(app_ui.INTERP_ENDS)
    if not ends or ends.get("model") != name:
        ends = {"model": name, "a": int(sample.index[0]), "b": int(sample.index[min(1, len(sample.index) - 1)])}
        st.session_state[app_ui.INTERP_ENDS] = ends
    st.session_state["dec_interp_a"], st.session_state["dec_interp_b"] = ends["a"], ends["b"]
    c1, c2, c3 = st.columns(3)
    last = int(sample.index.max())
    a = c1.number_input("From row", 0, last, key="dec_interp_a")
    b = c2.number_input("To row", 0, last, key="dec_interp_b")
    steps = c3.slider("Steps", 2, 20, 10, key="dec_interp_steps")
    st.session_state[app_ui.INTERP_ENDS] = {"model": name, "a": int(a), "b": int(b)}
    positions = {int(r): i for i, r in enumerate(sample.index)}
    if int(a) not in positions or int(b) not in positions:
        st.info("Pick rows of the test set (rows shown on the Latent page).")
        return
    z = views.interpolation_points(sample.mu[positions[int(a)]], sample.mu[positions[int(b)]], steps)
    if loaded.kind == "fraud":
        app_fraud.show_decoded_many(loaded, z, [f"step {i}" for i in range(steps)])
    else:
        st.image(views.image_strip(loaded.vae, z, label), caption=f"μ of row {a} → μ of row {b} in {steps} steps",
                 clamp=True, width="stretch")


@app_ui.fragment
def prior_section(loaded, label: int | None) -> None:
    c1, c2 = st.columns(2)
    side = c1.slider("Samples per side", 2, 10, 6, key="dec_prior_side")
    seed = c2.number_input("Seed", 0, 10**6, 0, key="dec_prior_seed")
    if loaded.kind == "fraud":
        from vae_core.latent import sample_prior

        z = sample_prior(loaded.vae.vae_config.latent_dim, side, int(seed))
        app_fraud.show_decoded_many(loaded, z, [f"sample {i}" for i in range(side)])
    else:
        st.image(views.prior_mosaic(loaded.vae, side, int(seed), label), caption=f"{side * side} draws z ~ N(0, I)",
                 clamp=True, width=min(560, 28 * side * 3))


def main() -> None:
    st.title("Decoder")
    info = app_ui.pick_model()
    if info is None:
        return
    key = app_ui.model_key(info.name)
    loaded = app_ui.get_model(info.name)
    sample_key = None
    if loaded.kind == "fraud":
        sample_key = app_fraud.data_picker(loaded)
        if sample_key is None:
            return
    label = class_picker(loaded)
    point_editor(loaded, key, sample_key, label)
    latent_dim = loaded.vae.vae_config.latent_dim
    if loaded.kind != "fraud" and latent_dim >= 2:
        st.subheader("Scrub without a round trip")
        st.caption("Drag over the plane (z0 → , z1 ↑): the decoder runs in your browser, so the image "
                   "follows the pointer continuously; releasing sends z back to the sliders.")
        scrub_section(loaded, key, sample_key, label)
        st.subheader("Manifold grid")
        manifold_section(loaded, label)
    st.subheader("Interpolation")
    interpolation_section(loaded, key, sample_key, label)
    st.subheader("Samples from the prior")
    prior_section(loaded, label)


with app_ui.guard():
    main()
