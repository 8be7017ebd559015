"""Latent space: every row's μ on one map (drawn in the browser), coloured by class, error, KL or
outcome; hover shows the image or the transaction, a box or lasso answers what the selection holds,
and a clicked point goes to the Decoder."""

import numpy as np
import streamlit as st

from dashboard import figures, loaders, presentation, report, state, widgets
from dashboard.components.latent_map import MapConfig, blob, latent_map
from dashboard.navigation import page_path
from vae_core.errors import VAEError
from vae_core.latent import PROJECTIONS, TSNE_NEIGHBOURS, encode_decode, mosaic
from vae_core.selection import (RangeFilter, Region, class_counts, confusion_in, digit_frame, mean_image, to_csv,
                                transaction_frame)

MAP = "latent_map"
COLOUR_LABELS = {"class": "Class", "error": "Reconstruction error", "kl": "KL term",
                 "outcome": "Outcome at the threshold (TP/FP/FN/TN)", "brightness": "Brightness (mean pixel)"}
GRID_IMAGES = 64  # selected digits shown as images


def value_name(colour: str) -> str:
    """How people call a colouring's values: its label, or the data column's own name ("V14")."""
    return COLOUR_LABELS.get(colour) or colour.removeprefix(loaders.COLUMN_COLOUR)


def colour_label(colour: str) -> str:
    """What the "Colour by" box shows for a colouring: its name, or "Column V14" for a data column."""
    return COLOUR_LABELS.get(colour) or f"Column {value_name(colour)}"


def _select_from_input(model: str) -> None:
    st.session_state[state.POINT] = {"model": model, "row": int(st.session_state["latent_row"])}


def _map_event(model: str, event: dict) -> None:
    """A person acted on the map: a selection drawn or cleared, or a point clicked."""
    view = state.map_view(model)
    if event.get("event") == "select":
        try:
            view["region"] = None if event.get("region") is None else Region.from_dict(event["region"]).to_text()
        except VAEError:
            view["region"] = None
    elif event.get("event") == "click" and isinstance(event.get("index"), int):
        st.session_state[state.POINT] = {"model": model, "row": int(event["index"])}


def _projection_picked(model: str) -> None:
    view = state.map_view(model)
    view["projection"], view["region"] = st.session_state["latent_projection"], None  # the region was drawn on the old map


def _dims_picked(model: str, axis: int) -> None:
    """One axis got a new dim; picking the other axis's dim swaps the two."""
    view = state.map_view(model)
    dims = [st.session_state["latent_dim_x"], st.session_state["latent_dim_y"]]
    if dims[0] == dims[1]:
        dims[1 - axis] = view["dims"][axis]
    view["dims"], view["region"] = dims, None  # the region was drawn on the old map


def _colour_picked(model: str) -> None:
    state.map_view(model)["colour"] = st.session_state["latent_colour"]


FILTER_OFF = "none"
FILTER_KEYS = ("latent_filter_column", "latent_filter_low", "latent_filter_high")


def _filter_changed(model: str) -> None:
    """The highlight's column or an end changed: the view keeps a filter once it has a column and an end."""
    column, low, high = (st.session_state.get(key) for key in FILTER_KEYS)
    view = state.map_view(model)
    st.session_state.pop("latent_filter_problem", None)
    if column == FILTER_OFF or (low is None and high is None):
        view["filter"] = None
        return
    try:
        view["filter"] = RangeFilter(column, low, high).to_text()
    except VAEError as exc:
        view["filter"] = None
        st.session_state["latent_filter_problem"] = str(exc)


def _filter_column_picked(model: str) -> None:
    """Another column: its ends start empty (no filter until one is typed)."""
    st.session_state[FILTER_KEYS[1]] = st.session_state[FILTER_KEYS[2]] = None
    _filter_changed(model)


def filter_controls(model: str, filterable: list[str]) -> RangeFilter | None:
    """Sidebar: highlight the points whose value in one column lies in a range (the rest dimmed);
    returns the filter in force."""
    view = state.map_view(model)
    chosen = RangeFilter.from_text(view["filter"]) if view.get("filter") else None
    if chosen is not None and chosen.column not in filterable:
        st.sidebar.warning(f"This map has no column {value_name(chosen.column)!r} to "
                           "filter by; highlighting nothing.")
        view["filter"] = chosen = None
    if chosen is not None:
        for key, value in zip(FILTER_KEYS, (chosen.column, chosen.low, chosen.high)):
            st.session_state[key] = value
    elif st.session_state.get(FILTER_KEYS[0]) not in filterable:
        st.session_state[FILTER_KEYS[0]] = FILTER_OFF
    column = st.sidebar.selectbox("Highlight points by", [FILTER_OFF, *filterable], key=FILTER_KEYS[0],
                                  format_func=lambda c: "nothing" if c == FILTER_OFF else colour_label(c),
                                  on_change=_filter_column_picked, args=(model,))
    if column != FILTER_OFF:
        low, high = st.sidebar.columns(2)
        low.number_input("from", value=None, key=FILTER_KEYS[1], placeholder="no lower end",
                         on_change=_filter_changed, args=(model,))
        high.number_input("to", value=None, key=FILTER_KEYS[2], placeholder="no upper end",
                          on_change=_filter_changed, args=(model,))
    if st.session_state.get("latent_filter_problem"):
        st.sidebar.error(st.session_state["latent_filter_problem"])
    return chosen


def controls(model: str, latent_dim: int, colours: list[str]) -> dict:
    """Sidebar: how μ maps to two axes, and what the colour shows; returns the (checked) map view."""
    view = state.map_view(model)
    if latent_dim <= 2 or view["projection"] not in PROJECTIONS:
        view["projection"] = "dims"
    if not (0 <= min(view["dims"]) and max(view["dims"]) < max(latent_dim, 2)) or latent_dim == 1:
        view["dims"] = [0, 1]
    if view["colour"] not in colours:
        view["colour"] = "class"
    st.sidebar.subheader("Map")
    if latent_dim > 2:
        st.session_state["latent_projection"] = view["projection"]
        st.sidebar.radio("Axes", list(PROJECTIONS), format_func=presentation.PROJECTION_LABELS.get,
                         key="latent_projection", horizontal=True, on_change=_projection_picked, args=(model,))
        if view["projection"] == "dims":
            st.session_state["latent_dim_x"], st.session_state["latent_dim_y"] = view["dims"]
            st.sidebar.selectbox("x axis", range(latent_dim), format_func="z{}".format, key="latent_dim_x",
                                 on_change=_dims_picked, args=(model, 0))
            st.sidebar.selectbox("y axis", range(latent_dim), format_func="z{}".format, key="latent_dim_y",
                                 on_change=_dims_picked, args=(model, 1))
    st.session_state["latent_colour"] = view["colour"]
    st.sidebar.selectbox("Colour by", colours, format_func=colour_label, key="latent_colour",
                         on_change=_colour_picked, args=(model,))
    return view


def threshold_in_force(name: str, model) -> tuple[float, str]:
    """(the fraud threshold in force for `name`, where it came from), as the Fraud threshold page sets it."""
    current = state.threshold_state(name)
    if current["strategy"] == state.MODEL_THRESHOLD or current["value"] is None:
        return model.threshold_, "the model's own threshold"
    return float(current["value"]), "the threshold set on the Fraud threshold page"


def selected_row(name: str, n_rows: int) -> int:
    """The chosen row (row 0 when none is chosen, or when a link named one out of range)."""
    chosen = st.session_state.get(state.POINT) or {}
    if chosen.get("model") != name or not 0 <= int(chosen["row"]) < n_rows:
        return 0
    return int(chosen["row"])


def projection_note(projection, n: int) -> str:
    """What the axes are, and whether the projection was fitted on a sample."""
    if projection.sampled:
        return (f"t-SNE fitted on a random sample of {projection.fitted_on:,} of {n:,} points; the other "
                f"points sit at the distance-weighted mean of their {TSNE_NEIGHBOURS} nearest sampled points (in "
                "latent space).")
    if projection.method == "pca":
        return "PCA of every point's μ (linear: the prior N(0, I) stays a circle of the same size)."
    return f"Every point's μ on {projection.axis_titles[0]} and {projection.axis_titles[1] or 'a line'}."


def draw_map(name: str, key, data_key, points, view: dict, threshold: float | None, row: int,
             neighbours: np.ndarray, highlight: RangeFilter | None) -> None:
    """The map: blobs from the caches, the view's selection, the chosen row and its `neighbours` (k,),
    the points matching `highlight` in full colour and the rest dimmed."""
    method, dims = view["projection"], tuple(view["dims"])
    geometry = loaders.map_geometry(key, data_key, method, dims)
    projection = loaders.map_projection(key, data_key, method, dims)
    colour, legend = loaders.map_colours(key, data_key, view["colour"],
                                         threshold if view["colour"] == "outcome" else None)
    blobs = {**geometry.blobs, "colour": colour, **loaders.map_hover(key, data_key)}
    atlas = None
    if points.kind == "mnist":
        images, atlas = loaders.map_images(key)
        blobs.update(images)
    if highlight is not None:
        matching = loaders.map_filter(key, data_key, highlight.to_text())
        blobs["filter"] = blob(matching.astype(np.uint8))
        st.markdown(f"**{int(matching.sum()):,} of {len(matching):,} points match "
                    f"{highlight.describe(value_name(highlight.column))}**; the rest are dimmed.")
    region = Region.from_text(view["region"]) if view["region"] else None
    config = MapConfig(
        n=len(points.error), kind=points.kind, axis_titles=projection.axis_titles, bounds=geometry.bounds,
        view_id=f"{name}|{method}|{dims}", legend=legend, class_names=list(points.label_names.values()),
        selection=None if region is None else region.to_dict(), selected=row,
        neighbours=[int(i) for i in neighbours], threshold=threshold,
        feature_names=list(loaders.fraud_model(name).feature_names) if points.kind == "fraud" else [],
        prior=geometry.prior, density=geometry.density, atlas=atlas)
    latent_map(blobs, config, key=MAP, on_event=lambda event: _map_event(name, event))
    st.caption(projection_note(projection, len(points.error)) + " Drag to pan, scroll to zoom, hover for the "
               "point, click it to inspect it below; Box select and Lasso answer what a region holds; click "
               "legend entries to hide classes.")


def export_report(info, key, data_key, view: dict, threshold: float | None, where: str) -> None:
    """A download of the model's report (dashboard.report): one HTML file with this map's axes and
    selection; for a fraud model the threshold in force and the costs set on the Fraud threshold page."""
    region = Region.from_text(view["region"]).to_dict() if view["region"] else None

    def build() -> str:  # built on click
        if data_key is None:
            return report.mnist_report(info, loaders.get_model(info.name), loaders.mnist_test(),
                                       method=view["projection"], dims=tuple(view["dims"]), region=region)
        model = loaders.fraud_model(info.name)
        fee, fraud_cost = state.costs()
        return report.fraud_report(info, model, loaders.scored(key, data_key), threshold=float(threshold),
                                   how=where, review_fee=fee, fraud_cost=fraud_cost,
                                   deploy_prevalence=state.deploy_prevalence(info.name, model.deploy_prevalence),
                                   method=view["projection"], dims=tuple(view["dims"]), region=region)

    st.download_button("Export report (HTML)", data=build, file_name=f"{info.name}-report.html", mime="text/html",
                       key="latent_export_report", on_click="ignore", icon=":material/description:",
                       help="One HTML file that opens from disk with no server: the model card and this map with its "
                            "selection, and the threshold explorer and decision (fraud) or the decoder and prior "
                            "samples (MNIST)")


def digit_selection(mask: np.ndarray, xy: np.ndarray, titles, points, name: str) -> None:
    """The selected digits: their mean image, the first GRID_IMAGES of them, and a CSV of the rows."""
    data = loaders.mnist_test()
    chosen = np.flatnonzero(mask)
    left, right = st.columns([1, 3])
    with left:
        widgets.show_image(mean_image(data.x_test, mask), caption=f"mean of {len(chosen):,} selected", scale=5)
    with right:
        shown = chosen[:GRID_IMAGES]
        st.image(mosaic(data.x_test[shown], 16), clamp=True, width="stretch",
                 caption=f"the first {len(shown):,} of {len(chosen):,} selected (test order)")
    def csv() -> bytes:  # built on click
        return to_csv(digit_frame(chosen, points.labels[chosen], xy[chosen], points.error[chosen], points.kl[chosen],
                                  (titles[0] or "x", titles[1] or "y")))

    st.download_button("Selected rows (CSV)", data=csv, file_name=f"{name}-selection.csv",
                       mime="text/csv", key="latent_selection_csv", on_click="ignore", icon=":material/download:")


def fraud_selection(mask: np.ndarray, xy: np.ndarray, titles, points, key, data_key, name: str,
                    threshold: float, where: str) -> None:
    """Inside the selection at the threshold in force: outcomes, precision, the share of each outcome
    the region holds, and a CSV of its rows."""
    result = loaders.scored(key, data_key)
    if points.labels is not None:
        confusion = confusion_in(points.error, points.labels, mask, threshold)
        c1, c2, c3 = st.columns(3)
        c1.metric("Flagged inside", f"{confusion.flagged:,}")
        c2.metric("Precision inside", "–" if confusion.precision is None else f"{confusion.precision:.3f}",
                  help="TP / (TP + FP) among the selected rows")
        fp_share = confusion.share["FP"]
        c3.metric("False positives here", f"{confusion.counts['FP']:,} of {confusion.totals['FP']:,}",
                  delta=None if fp_share is None else f"{fp_share:.0%} of all", delta_color="off")
        st.table(confusion_rows(confusion))
        st.caption(f"At threshold {threshold:.4g} ({where}). "
                   + presentation.prevalence_text(float(points.labels.mean()) if len(points.labels) else None))
    chosen = np.flatnonzero(mask)

    def csv() -> bytes:  # built on click: a selection can hold every one of 284,807 rows
        return to_csv(transaction_frame(
            result.rows[chosen], result.scores[chosen], None if result.labels is None else result.labels[chosen],
            threshold, xy[chosen], (titles[0] or "x", titles[1] or "y"), result.features.iloc[chosen],
            None if result.amounts is None else result.amounts[chosen]))

    st.download_button("Selected rows (CSV)", data=csv, file_name=f"{name}-selection.csv",
                       mime="text/csv", key="latent_selection_csv", on_click="ignore", icon=":material/download:")


def count_rows(inside: dict[str, int], everywhere: dict[str, int]) -> list[dict[str, str]]:
    """Per class: selected, its share of the selection, and the share of that class the selection holds."""
    chosen = max(1, sum(inside.values()))
    return [{"class": name, "selected": f"{inside[name]:,}", "share of selection": f"{inside[name] / chosen:.1%}",
             "share of the class": f"{inside[name] / everywhere[name]:.1%}" if everywhere[name] else "–"}
            for name in inside]


def confusion_rows(confusion) -> list[dict[str, str]]:
    """Per outcome: inside the selection, in all the rows, and the selection's share of it."""
    return [{"outcome": name, "selected": f"{confusion.counts[name]:,}", "all rows": f"{confusion.totals[name]:,}",
             "share here": "–" if confusion.share[name] is None else f"{confusion.share[name]:.1%}"}
            for name in confusion.counts]


def selection_panel(name: str, key, data_key, points, view: dict, threshold: float | None, where: str) -> None:
    """What the drawn region holds: counts by class, then per kind the images or the outcomes."""
    st.subheader("Selection")
    if not view["region"]:
        st.caption("Use Box select or Lasso above the map to pick a region: its counts by class, "
                   + ("its images and their mean" if points.kind == "mnist" else
                      "its confusion counts and precision at the threshold in force") + " appear here.")
        return
    region = Region.from_text(view["region"])
    projection = loaders.map_projection(key, data_key, view["projection"], tuple(view["dims"]))
    mask = loaders.map_selection(key, data_key, view["projection"], tuple(view["dims"]), view["region"])
    n, chosen = len(mask), int(mask.sum())
    st.markdown(f"**{chosen:,} of {n:,} points selected** ({region.describe()})")
    if st.button("Clear selection", key="latent_clear_selection", icon=":material/deselect:"):
        view["region"] = None
        st.rerun()
    if points.labels is not None:
        st.table(count_rows(class_counts(points.labels, mask, points.label_names),
                            class_counts(points.labels, np.ones(n, bool), points.label_names)))
    if chosen == 0:
        return
    if points.kind == "mnist":
        digit_selection(mask, projection.xy, projection.axis_titles, points, name)
    else:
        fraud_selection(mask, projection.xy, projection.axis_titles, points, key, data_key, name, threshold, where)


def fraud_point(loaded, data_key, row: int, threshold: float) -> np.ndarray:
    """One scored transaction beside its reconstruction; returns its μ (latent_dim,)."""
    result = loaders.scored(loaders.model_key(loaded.name), data_key)
    model = loaders.fraud_model(loaded.name)
    x = model.preprocessor.transform(result.features.iloc[[row]])
    mu, reconstruction = encode_decode(loaded.vae, x)
    label = "" if result.labels is None else (" · fraud" if result.labels[row] else " · normal")
    amount = "" if result.amounts is None else f" · {presentation.money(result.amounts[row], cents=True)}"
    flagged = "flagged" if result.scores[row] >= threshold else "not flagged"
    st.markdown(f"**File row {int(result.rows[row])}**{label}{amount} · score {result.scores[row]:.2f} "
                f"({flagged} at {threshold:.4g})")
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


def show_neighbours(key, data_key, points, row: int, near: tuple[np.ndarray, np.ndarray],
                    threshold: float | None) -> None:
    """The chosen point's nearest points in latent space (ringed on the map), as digits or rows, with
    their distances; how many is a setting that travels in the link."""
    indices, distances = near
    st.markdown("**Nearest in latent space**")
    st.number_input("Neighbours", 1, 50, help="How many of the nearest points to show here and ring on the map",
                    **state.setting_widget("latent", "k"))
    dims = points.mu.shape[1]
    st.caption(f"The {len(indices)} points nearest to {'digit' if points.kind == 'mnist' else 'row'} {row}: "
               f"Euclidean distance between their μ over all {dims} latent dims"
               + ("" if dims == 2 else " (the map draws two)") + "; ringed on the map.")
    if points.kind == "mnist":
        images = loaders.mnist_test().x_test[indices].reshape(len(indices), 28, 28)
        st.image([np.kron(image, np.ones((3, 3), np.float32)) for image in images], clamp=True,
                 caption=[f"#{i} · digit {points.label_names[int(points.labels[i])]} · {d:.3f}"
                          for i, d in zip(indices, distances)])
    else:
        result = loaders.scored(key, data_key)
        st.table(presentation.neighbour_rows(indices, distances, result.rows, result.scores, result.labels,
                                             result.amounts, threshold))


def show_point(loaded, data_key, row: int, n_rows: int, threshold: float | None) -> None:
    """The chosen row beside its reconstruction, and the hand-off to the Decoder."""
    st.subheader("Point")
    st.session_state["latent_row"] = row
    label = "Scored row (or click a point)" if loaded.kind == "fraud" else "Test digit (or click a point)"
    st.number_input(label, 0, n_rows - 1, key="latent_row", on_change=_select_from_input, args=(loaded.name,))
    z = fraud_point(loaded, data_key, row, threshold) if loaded.kind == "fraud" else digit_point(loaded, row)
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
    data_key, threshold, where = None, None, ""
    if loaded.kind == "fraud":
        data_key = widgets.fraud_rows_picker()
        if data_key is None:
            return
        result = loaders.scored(key, data_key)
        widgets.source_banner(presentation.describe(result), result.synthetic)
        threshold, where = threshold_in_force(info.name, loaders.fraud_model(info.name))
    colours = ["class", "error", "kl"]
    points = loaders.map_points(key, data_key)
    if points.kind == "fraud" and points.labels is not None:
        colours.append("outcome")
    if points.kind == "mnist":
        colours.append("brightness")
        widgets.source_banner(f"{presentation.short_source(points.source)} · test split, {len(points.error):,} digits")
    else:
        columns = loaders.scored(key, data_key).features.select_dtypes("number").columns  # features, Time
        colours += [loaders.COLUMN_COLOUR + str(name) for name in columns]
    view = controls(info.name, latent_dim, colours)
    highlight = filter_controls(info.name, [c for c in colours if c not in ("class", "outcome")])
    row = selected_row(info.name, len(points.error))
    near = loaders.neighbours(key, data_key, row, int(state.setting("latent", "k")))
    draw_map(info.name, key, data_key, points, view, threshold, row, near[0], highlight)
    export_report(info, key, data_key, view, threshold, where)
    left, right = st.columns([3, 2])
    with left:
        selection_panel(info.name, key, data_key, points, view, threshold, where)
    with right:
        show_point(loaded, data_key, row, len(points.error), threshold)
        show_neighbours(key, data_key, points, row, near, threshold)


main()
