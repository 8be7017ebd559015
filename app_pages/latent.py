"""Latent space: the test set's μ as a WebGL scatter; click a point to see it, its reconstruction,
and to send it to the Decoder."""

import streamlit as st

import app_fraud
import app_ui
from vae_core import figures, views

CHART = "latent_chart"


def _select_from_chart(model: str) -> None:
    points = st.session_state[CHART].selection.points
    if points:
        row = points[0].get("customdata")
        row = row[0] if isinstance(row, (list, tuple)) else row
        if row is not None:
            st.session_state[app_ui.SELECTED_POINT] = {"model": model, "row": int(row)}


def _select_from_input(model: str) -> None:
    st.session_state[app_ui.SELECTED_POINT] = {"model": model, "row": int(st.session_state["latent_row"])}


def controls(latent_dim: int, n_total: int) -> tuple[int, str, tuple[int, int]]:
    """Sidebar: how many points, and how to map μ to two axes."""
    st.sidebar.subheader("Scatter")
    method = "dims"
    if latent_dim > 2:
        method = st.sidebar.radio("Axes", list(views.PROJECTIONS), format_func=views.PROJECTIONS.get,
                                  key="latent_projection", horizontal=True)
    cap = min(n_total, views.TSNE_MAX_POINTS) if method == "tsne" else n_total
    n = st.sidebar.slider("Points", min(100, cap), cap, min(5000, cap), step=100 if cap > 1000 else 1,
                          key=f"latent_points_{method}")
    dims = (0, 1)
    if method == "dims" and latent_dim > 2:
        a = st.sidebar.selectbox("x axis", range(latent_dim), 0, format_func="z{}".format, key="latent_dim_x")
        b = st.sidebar.selectbox("y axis", range(latent_dim), 1, format_func="z{}".format, key="latent_dim_y")
        dims = (a, b)
    return n, method, dims


def selected_row(name: str, sample, n_rows: int) -> int:
    chosen = st.session_state.get(app_ui.SELECTED_POINT)
    if not chosen or chosen.get("model") != name or not 0 <= int(chosen["row"]) < n_rows:  # e.g. from an old link
        chosen = {"model": name, "row": int(sample.index[0])}
        st.session_state[app_ui.SELECTED_POINT] = chosen
    return int(chosen["row"])


def show_point(loaded, sample_key, row: int, n_rows: int) -> None:
    """The chosen row beside its reconstruction, and the hand-off to the Decoder."""
    st.session_state["latent_row"] = row
    label = "Scored row (or click a point)" if loaded.kind == "fraud" else "Test digit (or click a point)"
    st.number_input(label, 0, n_rows - 1, key="latent_row",
                    on_change=_select_from_input, args=(loaded.name,))
    if loaded.kind == "fraud":
        z = app_fraud.show_point(loaded, sample_key, row)
    else:
        data = app_ui.mnist_test()
        x, y = data.x_test[row:row + 1], data.y_test[row:row + 1]
        mu, reconstruction = views.encode_decode(loaded.vae, x, y)
        left, right = st.columns(2)
        with left:
            app_ui.show_image(views.as_image(x[0]), caption=f"test #{row} · digit {int(y[0])}", scale=5)
        with right:
            app_ui.show_image(views.as_image(reconstruction[0]), caption="reconstruction (from μ)", scale=5)
        z = mu[0]
    st.caption("μ = [" + ", ".join(f"{v:.2f}" for v in z[:8]) + (", …]" if len(z) > 8 else "]"))
    if st.button("Open in Decoder", key="latent_to_decoder", type="primary", icon=":material/tune:", width="stretch"):
        st.session_state[app_ui.DECODER_Z] = {"model": loaded.name, "z": views.clamp_z(z, len(z))}
        st.switch_page(app_ui.PAGES["decoder"])
    ends = st.session_state.get(app_ui.INTERP_ENDS)
    if not ends or ends.get("model") != loaded.name:
        ends = {"model": loaded.name, "a": row, "b": row}
    a, b = st.columns(2)
    if a.button("Interpolate from", key="latent_interp_a", width="stretch",
                help="Start the Decoder's interpolation at this point"):
        st.session_state[app_ui.INTERP_ENDS] = ends | {"a": row}
    if b.button("Interpolate to", key="latent_interp_b", width="stretch",
                help="End the Decoder's interpolation at this point"):
        st.session_state[app_ui.INTERP_ENDS] = ends | {"b": row}
    chosen = st.session_state.get(app_ui.INTERP_ENDS, ends)
    st.caption(f"Interpolation on the Decoder page: row {chosen['a']} → row {chosen['b']}")


def main() -> None:
    st.title("Latent space")
    info = app_ui.pick_model()
    if info is None:
        return
    key = app_ui.model_key(info.name)
    loaded = app_ui.get_model(info.name)
    latent_dim = loaded.vae.vae_config.latent_dim
    if loaded.kind == "fraud":
        sample_key = app_fraud.data_picker(loaded)
        if sample_key is None:
            return
        n_total = app_fraud.n_rows(key, sample_key)
    else:
        sample_key, n_total = None, len(app_ui.mnist_test().x_test)
    n, method, dims = controls(latent_dim, n_total)
    sample = app_ui.latent_sample(key, n, sample_key)
    xy, titles = app_ui.projected(key, n, method, dims, sample_key)
    if loaded.kind == "fraud":
        app_ui.source_banner(app_fraud.describe(key, sample_key), sample.synthetic)
    else:
        app_ui.source_banner(f"{sample.source} · test split, {n_total:,} digits", sample.synthetic)
    row = selected_row(info.name, sample, n_total)

    chart, detail = st.columns([3, 2])
    with chart:
        colours = figures.FRAUD_COLOURS if loaded.kind == "fraud" else None
        fig = figures.latent_scatter(xy, sample.labels, sample.label_names, sample.index, sample.hover, titles,
                                     selected=row, colours=colours, monospace_hover=loaded.kind != "fraud",
                                     title=f"μ of {len(sample.index):,} rows")
        st.plotly_chart(fig, key=CHART, on_select=lambda: _select_from_chart(info.name),
                        selection_mode="points", config={"scrollZoom": True})
        st.caption("Click a point to inspect it; drag to pan, scroll to zoom, click legend entries to hide classes.")
    with detail:
        show_point(loaded, sample_key, row, n_total)


with app_ui.guard():
    main()
