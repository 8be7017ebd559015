"""Latent space: the test set's μ as a WebGL scatter; click a point to see it beside its
reconstruction, and send it to the Decoder."""

import numpy as np
import streamlit as st

from dashboard import figures, loaders, presentation, state, widgets
from dashboard.navigation import page_path
from vae_core.latent import PROJECTIONS, TSNE_MAX_POINTS, encode_decode

CHART = "latent_chart"


def _select_from_chart(model: str) -> None:
    points = st.session_state[CHART].selection.points
    if points:
        row = points[0].get("customdata")
        row = row[0] if isinstance(row, (list, tuple)) else row
        if row is not None:
            st.session_state[state.POINT] = {"model": model, "row": int(row)}


def _select_from_input(model: str) -> None:
    st.session_state[state.POINT] = {"model": model, "row": int(st.session_state["latent_row"])}


def controls(latent_dim: int, n_total: int) -> tuple[int, str, tuple[int, int]]:
    """Sidebar: how many points, and how to map μ to two axes."""
    st.sidebar.subheader("Scatter")
    method = "dims"
    if latent_dim > 2:
        method = st.sidebar.radio("Axes", list(PROJECTIONS), format_func=presentation.PROJECTION_LABELS.get,
                                  key="latent_projection", horizontal=True)
    cap = min(n_total, TSNE_MAX_POINTS) if method == "tsne" else n_total
    n = st.sidebar.slider("Points", min(100, cap), cap, min(5000, cap), step=100 if cap > 1000 else 1,
                          key=f"latent_points_{method}")
    dims = (0, 1)
    if method == "dims" and latent_dim > 2:
        a = st.sidebar.selectbox("x axis", range(latent_dim), 0, format_func="z{}".format, key="latent_dim_x")
        b = st.sidebar.selectbox("y axis", range(latent_dim), 1, format_func="z{}".format, key="latent_dim_y")
        dims = (a, b)
    return n, method, dims


def selected_row(name: str, n_rows: int) -> int:
    """The chosen row (row 0 when none is chosen, or when a link named one out of range)."""
    chosen = st.session_state.get(state.POINT) or {}
    if chosen.get("model") != name or not 0 <= int(chosen["row"]) < n_rows:
        return 0
    return int(chosen["row"])


def fraud_point(loaded, data_key, row: int) -> np.ndarray:
    """One scored transaction beside its reconstruction; returns its μ (latent_dim,)."""
    result = loaders.scored(loaders.model_key(loaded.name), data_key)
    model = loaders.fraud_model(loaded.name)
    x = model.preprocessor.transform(result.features.iloc[[row]])
    mu, reconstruction = encode_decode(loaded.vae, x)
    label = "" if result.labels is None else (" · fraud" if result.labels[row] else " · normal")
    amount = "" if result.amounts is None else f" · €{result.amounts[row]:,.2f}"
    st.markdown(f"**File row {int(result.rows[row])}**{label}{amount} · score {result.scores[row]:.2f} "
                f"(model threshold {model.threshold_:.4g})")
    st.plotly_chart(figures.feature_bars(model.feature_names, reconstruction[0], compare=x[0],
                                         labels=("reconstruction", "input"), title="Input vs reconstruction"),
                    key="latent_fraud_point")
    return mu[0]


def digit_point(loaded, row: int) -> np.ndarray:
    """One test digit beside its reconstruction; returns its μ (latent_dim,)."""
    data = loaders.mnist_test()
    x, y = data.x_test[row:row + 1], data.y_test[row:row + 1].astype(np.int64)
    mu, reconstruction = encode_decode(loaded.vae, x, y)
    left, right = st.columns(2)
    with left:
        widgets.show_image(x[0].reshape(28, 28), caption=f"test #{row} · digit {int(y[0])}", scale=5)
    with right:
        widgets.show_image(reconstruction[0].reshape(28, 28), caption="reconstruction (from μ)", scale=5)
    return mu[0]


def show_point(loaded, data_key, row: int, n_rows: int) -> None:
    """The chosen row beside its reconstruction, and the hand-off to the Decoder."""
    st.session_state["latent_row"] = row
    label = "Scored row (or click a point)" if loaded.kind == "fraud" else "Test digit (or click a point)"
    st.number_input(label, 0, n_rows - 1, key="latent_row", on_change=_select_from_input, args=(loaded.name,))
    z = fraud_point(loaded, data_key, row) if loaded.kind == "fraud" else digit_point(loaded, row)
    st.caption("μ = [" + ", ".join(f"{v:.2f}" for v in z[:8]) + (", …]" if len(z) > 8 else "]"))
    st.page_link(page_path("decoder"), label="Open in Decoder", icon=":material/tune:",
                 query_params={**state.link_params("decoder"), "model": loaded.name,
                               "z": ",".join(f"{v:.3f}" for v in z)})
    ends = st.session_state.get(state.INTERP)
    if not ends or ends.get("model") != loaded.name:
        ends = {"model": loaded.name, "a": 0, "b": 1}
    a, b = st.columns(2)
    if a.button("Interpolate from", key="latent_interp_a", width="stretch",
                help="Start the Decoder's interpolation at this point"):
        st.session_state[state.INTERP] = ends = ends | {"a": row}
    if b.button("Interpolate to", key="latent_interp_b", width="stretch",
                help="End the Decoder's interpolation at this point"):
        st.session_state[state.INTERP] = ends = ends | {"b": row}
    st.caption(f"Interpolation on the Decoder page: row {ends['a']} → row {ends['b']}")


def main() -> None:
    st.title("Latent space")
    info = widgets.explorer_picker()
    if info is None:
        return
    key = loaders.model_key(info.name)
    loaded = loaders.get_model(info.name)
    latent_dim = loaded.vae.vae_config.latent_dim
    data_key = None
    if loaded.kind == "fraud":
        data_key = widgets.fraud_rows_picker()
        if data_key is None:
            return
        result = loaders.scored(key, data_key)
        n_total = len(result.scores)
        widgets.source_banner(presentation.describe(result), result.synthetic)
    else:
        data = loaders.mnist_test()
        n_total = len(data.x_test)
        widgets.source_banner(f"{presentation.short_source(data.source)} · test split, {n_total:,} digits")
    n, method, dims = controls(latent_dim, n_total)
    view = loaders.latent_view(key, n, data_key)
    xy, titles = loaders.projected(key, n, method, dims, data_key)
    row = selected_row(info.name, n_total)

    chart, detail = st.columns([3, 2])
    with chart:
        colours = figures.FRAUD_COLOURS if loaded.kind == "fraud" else None
        fig = figures.latent_scatter(xy, view.labels, view.label_names, view.index, view.hover, titles,
                                     selected=row, colours=colours, monospace_hover=loaded.kind != "fraud",
                                     title=f"μ of {len(view.index):,} rows")
        st.plotly_chart(fig, key=CHART, on_select=lambda: _select_from_chart(info.name),
                        selection_mode="points", config={"scrollZoom": True})
        st.caption("Click a point to inspect it; drag to pan, scroll to zoom, click legend entries to hide classes.")
    with detail:
        show_point(loaded, data_key, row, n_total)


main()
