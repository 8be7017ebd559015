"""Fraud threshold: where to cut reconstruction error, and what each cut costs.

A threshold move asks the cached sweep for one point (O(log n)) and redraws pre-binned figures.
"""

import numpy as np
import streamlit as st

from dashboard import figures, loaders, presentation, state, widgets
from vae_core import fraud_analysis, thresholds


def strategy_params(strategy: str) -> dict:
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
        st.caption("Uses the costs in the sidebar.")
    return {}


def in_force(model, current: dict) -> tuple[float, str]:
    """(threshold in force, what set it) for the fraud model `model` and its threshold state."""
    saved = model.info.get("threshold", {})
    if current["strategy"] == state.MODEL_THRESHOLD or current["value"] is None:
        where = saved.get("chosen_on", "validation split")
        name = presentation.STRATEGY_LABELS.get(saved.get("strategy"), saved.get("strategy", "?"))
        return model.threshold_, f"the model's own threshold: {name} on its {where} at training time"
    if current["strategy"] == "manual":
        return float(current["value"]), "set by hand"
    params = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in (current.get("params") or {}).items())
    name = presentation.STRATEGY_LABELS.get(current["strategy"], current["strategy"])
    return float(current["value"]), f"{name}{f' ({params})' if params else ''} on the rows shown"


def slider_stops(options: np.ndarray, value: float) -> list[float]:
    """The slider's stops with the threshold in force among them, so its label shows that value."""
    return sorted({*options.tolist(), float(value)})


def controls(name: str, model, scored, summary, value: float, fee: float, fraud_cost) -> None:
    """Strategy picker, slider and exact input; all three set the one threshold in session state."""
    left, right = st.columns([1, 2])
    with left:
        strategy = st.selectbox("Strategy", list(presentation.STRATEGY_LABELS),
                                format_func=presentation.STRATEGY_LABELS.get, key="thr_strategy")
        params = strategy_params(strategy)
        go, reset = st.columns(2)
        if go.button("Set by strategy", key="thr_apply", type="primary"):
            with widgets.guard("That strategy found no threshold"):
                found = thresholds.run_strategy(strategy, params, scored.scores, scored.labels, scored.amounts,
                                                review_fee=fee, fraud_cost=fraud_cost)
                state.set_threshold(name, found, strategy, params)
                st.rerun()
        reset.button("Model's threshold", key="thr_reset", on_click=state.set_threshold,
                     args=(name, model.threshold_, state.MODEL_THRESHOLD),
                     help=f"{model.threshold_:.6g}, chosen on the validation split when the model was trained")
        st.caption("Strategies run on the rows shown; the model's own threshold was chosen on its "
                   "validation split, so test-split metrics stay honest with it.")
    with right:
        st.session_state["thr_slider"] = value
        st.session_state["thr_exact"] = value
        st.select_slider("Threshold (flag rows scoring at or above it)", slider_stops(summary.options, value),
                         key="thr_slider", format_func="{:.6g}".format,
                         on_change=lambda: state.set_threshold(name, st.session_state["thr_slider"], "manual"))
        st.number_input("Exact threshold", key="thr_exact", format="%.6g", step=max(summary.score_max / 1000, 1e-6),
                        on_change=lambda: state.set_threshold(name, st.session_state["thr_exact"], "manual"))


def metrics_row(point, summary) -> None:
    cells = st.columns(6)
    cells[0].metric("Alerts", f"{point.alerts:,}", help=f"of {summary.n:,} rows")
    if point.tp is not None:
        cells[1].metric("Precision", "undefined" if point.precision is None else f"{point.precision:.3f}",
                        help="TP / alerts: undefined when nothing is flagged. Depends on prevalence.")
        cells[2].metric("Recall", f"{point.recall:.3f}")
        cells[3].metric("F1", f"{point.f1:.3f}")
        cells[4].metric("False-positive rate", f"{point.fpr:.4f}")
    if point.cost is not None:
        cells[5].metric("Total cost", f"€{point.cost:,.0f}")


def cost_widgets(has_amounts: bool) -> tuple[float, float | str]:
    """Sidebar: review fee per alert and the cost of a missed fraud (its amount, or a fixed sum)."""
    st.sidebar.subheader("Costs")
    st.session_state.setdefault(state.FEE, state.DEFAULT_FEE)
    st.session_state.setdefault(state.COST_MODE, "amount")
    st.session_state.setdefault(state.FIXED_COST, state.DEFAULT_FIXED_COST)
    st.sidebar.number_input("Review cost per alert (€)", 0.0, 10_000.0, step=1.0, key=state.FEE)
    modes = ["amount", "fixed"] if has_amounts else ["fixed"]
    if st.session_state[state.COST_MODE] not in modes:
        st.session_state[state.COST_MODE] = "fixed"
    st.sidebar.radio("Cost of a missed fraud", modes, key=state.COST_MODE,
                     format_func={"amount": "its amount", "fixed": "a fixed sum"}.get)
    if st.session_state[state.COST_MODE] == "fixed":
        st.sidebar.number_input("Missed fraud (€)", 0.0, 1e6, step=10.0, key=state.FIXED_COST)
    return state.costs()


def money_panel(costs, point, threshold: float, log_x: bool, labelled: bool) -> None:
    st.subheader("Money")
    if not labelled:
        st.info("Costs need to know which rows are frauds, and this data has no label column. Upload a "
                "file with one (and set its name under Label column) to see what each threshold costs.")
        return
    if costs is None:
        st.info("The cost of a missed fraud is its amount, but this data has no Amount column: choose a fixed "
                "cost per missed fraud in the sidebar.")
        return
    st.plotly_chart(figures.cost_figure(costs.thresholds, costs.cost, current=(threshold, point.cost),
                                        best=(costs.best_threshold, costs.best_cost),
                                        flag_nothing=costs.flag_nothing, flag_everything=costs.flag_everything,
                                        log_x=log_x), key="thr_cost_chart")
    saving = costs.flag_nothing - point.cost
    st.markdown(f"Minimum **€{costs.best_cost:,.0f}** at threshold **{costs.best_threshold:.6g}**; here "
                f"€{point.cost:,.0f}, which saves €{saving:,.0f} against flagging nothing "
                f"(€{costs.flag_nothing:,.0f}); flagging everything costs €{costs.flag_everything:,.0f}.")


def flagged_section(model, scored, threshold: float) -> None:
    st.subheader("Flagged transactions")
    positions = fraud_analysis.flagged_positions(scored, threshold)
    if len(positions) == 0:
        st.info("Nothing is flagged at this threshold.")
        return
    st.caption(f"{len(positions):,} flagged; the 200 highest scores are listed (the CSV export has all).")
    st.dataframe(fraud_analysis.flagged_frame(scored, threshold, 200), hide_index=True, height=280, key="thr_table")
    top = positions[:200].tolist()
    labels = scored.labels
    chosen = st.selectbox("Transaction to inspect", top, key="thr_inspect",
                          format_func=lambda p: f"row {int(scored.rows[p])} · score {scored.scores[p]:.3g}"
                          + ("" if labels is None else f" · {'fraud' if labels[p] else 'normal'}"))
    st.plotly_chart(figures.feature_bars(model.feature_names, np.asarray(scored.feature_errors[int(chosen)], float),
                                         title="Per-feature reconstruction error",
                                         value_title="squared error (standardised units)"), key="thr_errors")


def main() -> None:
    st.title("Fraud threshold")
    info = widgets.model_picker("fraud", "Fraud model")
    if info is None:
        return
    key = loaders.model_key(info.name)
    model = loaders.fraud_model(info.name)
    data_key = widgets.fraud_rows_picker()
    if data_key is None:
        return
    scored = loaders.scored(key, data_key)
    summary = loaders.summary(key, data_key)
    labelled = scored.labels is not None
    widgets.source_banner(presentation.describe(scored), scored.synthetic)
    st.caption(presentation.prevalence_text(summary.prevalence))
    fee, fraud_cost = cost_widgets(scored.amounts is not None)

    threshold, source = in_force(model, state.threshold_state(info.name))
    controls(info.name, model, scored, summary, threshold, fee, fraud_cost)
    st.caption(f"Threshold in force: **{threshold:.6g}** — {source}.")
    sweep = loaders.sweep(key, data_key, float(fee), fraud_cost)
    point = sweep.at(threshold)
    metrics_row(point, summary)

    log_x = st.toggle("Log-scale scores", value=True, key="thr_log_x")
    log_y = st.toggle("Log-scale counts", value=False, key="thr_log_y")
    hist, confusion = st.columns([3, 1])
    edges, counts = ((summary.hist_log_edges, summary.hist_log_counts) if log_x
                     else (summary.hist_edges, summary.hist_counts))
    names = ("normal", "fraud") if labelled else ("all rows (unlabelled)",)
    hist.plotly_chart(figures.score_histogram(edges, counts[:len(names)], threshold, log_x=log_x, log_y=log_y,
                                              names=names), key="thr_hist")
    if point.tp is not None:
        confusion.plotly_chart(figures.confusion_figure(point.tp, point.fp, point.fn, point.tn), key="thr_confusion",
                               config={"displayModeBar": False})
    if summary.auroc is not None:
        roc, pr = st.columns(2)
        roc.plotly_chart(figures.roc_figure(summary.roc_fpr, summary.roc_tpr, (point.fpr, point.recall),
                                            summary.auroc), key="thr_roc")
        pr.plotly_chart(figures.pr_figure(summary.pr_recall, summary.pr_precision,
                                          (point.recall, 1.0 if point.precision is None else point.precision),
                                          summary.average_precision, summary.prevalence), key="thr_pr")

    costs = fraud_analysis.cost_view(sweep, summary.options) if labelled else None
    money_panel(costs, point, threshold, log_x, labelled)
    if costs is not None:
        st.button("Use the minimum-cost threshold", key="thr_use_best", on_click=state.set_threshold,
                  args=(info.name, costs.best_threshold, "min_cost"))
    flagged_section(model, scored, threshold)

    if labelled:
        st.subheader("Latent space by outcome")
        positions = summary.scatter_positions
        codes = fraud_analysis.outcome_codes(scored.scores[positions], scored.labels[positions], threshold)
        colours = {k: figures.OUTCOME_COLOURS[v] for k, v in fraud_analysis.OUTCOME_NAMES.items()}
        hover = [f"row {r} · score {v:.3g}" for r, v in zip(scored.rows[positions].tolist(),
                                                            scored.scores[positions].tolist())]
        st.plotly_chart(figures.latent_scatter(summary.scatter_xy, codes, fraud_analysis.OUTCOME_NAMES, positions,
                                               hover, ("z0", "z1"), colours=colours, monospace_hover=False,
                                               title=f"μ of {len(positions):,} rows (every fraud, sampled normals)"),
                        key="thr_outcomes")

    st.subheader("Export")
    left, right = st.columns(2)
    left.download_button("Flagged rows (CSV)", data=lambda: fraud_analysis.flagged_csv(scored, threshold),
                         file_name=f"{info.name}-flagged.csv", mime="text/csv", key="thr_export_csv",
                         on_click="ignore", icon=":material/download:")
    current = state.threshold_state(info.name)
    settings = fraud_analysis.settings_json(
        model=info.name, threshold=threshold, strategy=current["strategy"], params=current.get("params") or {},
        point=point, review_fee=float(fee), fraud_cost=fraud_cost, data_source=scored.source,
        evaluated_on=scored.evaluated_on, prevalence=summary.prevalence)
    right.download_button("Threshold settings (JSON)", data=settings, file_name=f"{info.name}-threshold.json",
                          mime="application/json", key="thr_export_json", on_click="ignore",
                          icon=":material/download:")


main()
