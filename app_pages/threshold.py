"""Fraud threshold: where to cut reconstruction error, and what each cut costs.

A threshold move asks the cached sweep for one point (O(log n)) and redraws pre-binned figures.
"""

import streamlit as st

import app_fraud
import app_ui
from vae_core import figures, fraud_views

THRESHOLD = app_ui.THRESHOLD


def threshold_state(name: str, data_key, default: float) -> dict:
    state = st.session_state.get(THRESHOLD)
    if not state or state.get("model") != name or state.get("data") != list(data_key):
        state = {"model": name, "data": list(data_key), "value": float(default), "strategy": None, "params": {}}
        shared = st.session_state.pop(app_ui.URL_THRESHOLD, None)  # a threshold from a shared link
        if shared and shared["model"] == name:
            state |= {"value": shared["value"], "strategy": shared["strategy"]}
        st.session_state[THRESHOLD] = state
    return state


def _set_threshold(value: float, strategy: str | None = None, params: dict | None = None) -> None:
    st.session_state[THRESHOLD] = st.session_state[THRESHOLD] | {
        "value": float(value), "strategy": strategy, "params": params or {}}


def strategy_params(strategy: str, n: int) -> dict:
    """Widgets for one strategy's parameter."""
    if strategy == "percentile":
        return {"contamination": st.number_input("Share of normal rows to flag", 0.0001, 0.5, 0.01, 0.005,
                                                 format="%.4f", key="thr_p_contamination")}
    if strategy == "precision_at_recall":
        return {"min_recall": st.slider("Catch at least this share of frauds", 0.05, 1.0, 0.8, 0.05,
                                        key="thr_p_recall")}
    if strategy == "fpr_cap":
        return {"max_fpr": st.number_input("Largest false-positive rate", 0.0, 0.5, 0.01, 0.001, format="%.4f",
                                           key="thr_p_fpr")}
    if strategy == "alert_budget":
        return {"per_thousand": st.number_input("Alerts per 1,000 transactions", 0.0, 1000.0, 10.0, 1.0,
                                                key="thr_p_budget")}
    if strategy == "min_cost":
        st.caption("Uses the costs in the money panel below.")
    return {}


def controls(model, scored, summary, state: dict, fee: float, fraud_cost) -> None:
    """Strategy picker, slider and exact input; all three write the one threshold in session state."""
    left, right = st.columns([1, 2])
    with left:
        strategy = st.selectbox("Strategy", list(fraud_views.STRATEGY_LABELS),
                                format_func=fraud_views.STRATEGY_LABELS.get, key="thr_strategy")
        params = strategy_params(strategy, summary.n)
        go, reset = st.columns(2)
        if go.button("Set by strategy", key="thr_apply", type="primary"):
            with app_ui.guard("That strategy found no threshold"):
                value = fraud_views.strategy_threshold(strategy, params, scored, review_fee=fee, fraud_cost=fraud_cost)
                _set_threshold(value, strategy, params)
                st.rerun()
        reset.button("Model's threshold", key="thr_reset", on_click=_set_threshold,
                     args=(model.threshold_, model.info.get("threshold", {}).get("strategy"),
                           model.info.get("threshold", {}).get("params")),
                     help=f"{model.threshold_:.4g}, chosen on the validation split when the model was trained")
        st.caption("Strategies run on the rows shown; the model's own threshold was chosen on its "
                   "validation split, so test-split metrics stay honest with it.")
    with right:
        options = summary.options.tolist()
        st.session_state["thr_slider"] = fraud_views.nearest_stop(summary.options, state["value"])
        st.session_state["thr_exact"] = float(state["value"])
        st.select_slider("Threshold (flag rows scoring at or above it)", options, key="thr_slider",
                         format_func="{:.4g}".format,
                         on_change=lambda: _set_threshold(st.session_state["thr_slider"], "manual"))
        st.number_input("Exact threshold", key="thr_exact", format="%.6g", step=max(summary.score_max / 1000, 1e-6),
                        on_change=lambda: _set_threshold(st.session_state["thr_exact"], "manual"))
        if state.get("strategy") and state["strategy"] != "manual":
            label = fraud_views.STRATEGY_LABELS.get(state["strategy"], state["strategy"])
            st.caption(f"Set by: {label} {state.get('params') or ''}")


def metrics_row(point, summary) -> None:
    cells = st.columns(6)
    cells[0].metric("Alerts", f"{point.alerts:,}", help=f"of {summary.n:,} rows")
    if point.tp is not None:
        cells[1].metric("Precision", f"{point.precision:.3f}", help="depends on prevalence")
        cells[2].metric("Recall", f"{point.recall:.3f}")
        cells[3].metric("F1", f"{point.f1:.3f}")
        cells[4].metric("False-positive rate", f"{point.fpr:.4f}")
    if point.cost is not None:
        cells[5].metric("Total cost", f"€{point.cost:,.0f}")


def money_panel(costs, point, threshold: float, log_x: bool) -> None:
    st.subheader("Money")
    if costs is None:
        st.info("The cost of a missed fraud is its amount, but this data has no Amount column: choose a fixed "
                "cost per missed fraud above.")
        return
    st.plotly_chart(figures.cost_figure(costs.thresholds, costs.cost, current=(threshold, point.cost),
                                        best=(costs.best_threshold, costs.best_cost),
                                        flag_nothing=costs.flag_nothing, flag_everything=costs.flag_everything,
                                        log_x=log_x), key="thr_cost_chart")
    saving = costs.flag_nothing - point.cost
    st.markdown(f"Minimum **€{costs.best_cost:,.0f}** at threshold **{costs.best_threshold:.4g}**; here "
                f"€{point.cost:,.0f}, which saves €{saving:,.0f} against flagging nothing "
                f"(€{costs.flag_nothing:,.0f}); flagging everything costs €{costs.flag_everything:,.0f}.")
    st.button("Use the minimum-cost threshold", key="thr_use_best", on_click=_set_threshold,
              args=(costs.best_threshold, "min_cost"))


def flagged_section(model, scored, threshold: float) -> None:
    st.subheader("Flagged transactions")
    positions = fraud_views.flagged_positions(scored, threshold)
    if len(positions) == 0:
        st.info("Nothing is flagged at this threshold.")
        return
    st.caption(f"{len(positions):,} flagged; the 200 highest scores are listed (the CSV export has all).")
    st.dataframe(fraud_views.flagged_frame(scored, threshold, 200), hide_index=True, height=280, key="thr_table")
    top = positions[:200].tolist()
    labels = scored.labels
    chosen = st.selectbox("Transaction to inspect", top, key="thr_inspect",
                          format_func=lambda p: f"row {int(scored.rows[p])} · score {scored.scores[p]:.3g}"
                          + ("" if labels is None else f" · {'fraud' if labels[p] else 'normal'}"))
    names, errors = fraud_views.feature_errors(scored, model.feature_names, int(chosen))
    st.plotly_chart(figures.feature_bars(names, errors, title="Per-feature reconstruction error",
                                         value_title="squared error (standardised units)"), key="thr_errors")


def main() -> None:
    st.title("Fraud threshold")
    info = app_ui.pick_model(("fraud",))
    if info is None:
        return
    key = app_ui.model_key(info.name)
    loaded = app_ui.get_model(info.name)
    model = app_fraud.model_of(loaded)
    data_key = app_fraud.data_picker(loaded)
    if data_key is None:
        return
    scored = app_fraud.scored(key, data_key)
    summary = app_fraud.summary(key, data_key)
    app_ui.source_banner(fraud_views.describe(scored), scored.synthetic)
    st.caption(fraud_views.prevalence_text(summary.prevalence))

    st.sidebar.subheader("Costs")
    fee = st.sidebar.number_input("Review cost per alert (€)", 0.0, 10_000.0, 5.0, 1.0, key="thr_fee")
    modes = ["amount", "fixed"] if scored.amounts is not None else ["fixed"]
    mode = st.sidebar.radio("Cost of a missed fraud", modes, key="thr_cost_mode",
                            format_func={"amount": "its amount", "fixed": "a fixed sum"}.get)
    fraud_cost = "amount" if mode == "amount" else st.sidebar.number_input(
        "Missed fraud (€)", 0.0, 1e6, 100.0, 10.0, key="thr_fixed_cost")

    state = threshold_state(info.name, data_key, model.threshold_)
    controls(model, scored, summary, state, fee, fraud_cost)
    threshold = float(st.session_state[THRESHOLD]["value"])
    sweep = app_fraud.sweep(key, data_key, float(fee), fraud_cost)
    point = sweep.at(threshold)
    metrics_row(point, summary)

    log_x = st.toggle("Log-scale scores", value=True, key="thr_log_x")
    log_y = st.toggle("Log-scale counts", value=False, key="thr_log_y")
    hist, confusion = st.columns([3, 1])
    edges, counts = ((summary.hist_log_edges, summary.hist_log_counts) if log_x
                     else (summary.hist_edges, summary.hist_counts))
    hist.plotly_chart(figures.score_histogram(edges, counts, threshold, log_x=log_x, log_y=log_y), key="thr_hist")
    if point.tp is not None:
        confusion.plotly_chart(figures.confusion_figure(point.tp, point.fp, point.fn, point.tn), key="thr_confusion",
                               config={"displayModeBar": False})
    if summary.auroc is not None:
        roc, pr = st.columns(2)
        roc.plotly_chart(figures.roc_figure(summary.roc_fpr, summary.roc_tpr, (point.fpr, point.recall),
                                            summary.auroc), key="thr_roc")
        pr.plotly_chart(figures.pr_figure(summary.pr_recall, summary.pr_precision, (point.recall, point.precision),
                                          summary.average_precision, summary.prevalence), key="thr_pr")

    money_panel(fraud_views.cost_view(sweep, summary.options), point, threshold, log_x)
    flagged_section(model, scored, threshold)

    if scored.labels is not None:
        st.subheader("Latent space by outcome")
        positions = summary.scatter_positions
        codes = fraud_views.outcome_codes(scored.scores[positions], scored.labels[positions], threshold)
        colours = {k: figures.OUTCOME_COLOURS[v] for k, v in fraud_views.OUTCOME_NAMES.items()}
        st.plotly_chart(figures.latent_scatter(summary.scatter_xy, codes, fraud_views.OUTCOME_NAMES, positions,
                                               summary.scatter_hover, ("z0", "z1"), colours=colours,
                                               monospace_hover=False,
                                               title=f"μ of {len(positions):,} rows (every fraud, sampled normals)"),
                        key="thr_outcomes")

    st.subheader("Export")
    left, right = st.columns(2)
    left.download_button("Flagged rows (CSV)", data=lambda: fraud_views.flagged_csv(scored, threshold),
                         file_name=f"{info.name}-flagged.csv", mime="text/csv", key="thr_export_csv",
                         on_click="ignore", icon=":material/download:")
    settings = fraud_views.settings_json(
        model=info.name, threshold=threshold, strategy=st.session_state[THRESHOLD].get("strategy"),
        params=st.session_state[THRESHOLD].get("params") or {}, point=point, review_fee=float(fee),
        fraud_cost=fraud_cost, data_source=scored.source, evaluated_on=scored.evaluated_on,
        prevalence=summary.prevalence)
    right.download_button("Threshold settings (JSON)", data=settings, file_name=f"{info.name}-threshold.json",
                          mime="application/json", key="thr_export_json", on_click="ignore",
                          icon=":material/download:")


with app_ui.guard():
    main()
