"""Fraud threshold: where to cut reconstruction error, what each cut costs, and how sure those numbers are.

Dragging the threshold runs in the browser (the threshold explorer component): counts, metrics, the
confusion matrix and the charts follow the pointer with no rerun. The release sets the threshold in
force (state.set_threshold), and this script then adds what needs the server: bootstrap intervals at
that exact threshold, the flagged rows and their explanations, the export and the link.
"""

import functools
import json

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import figures, loaders, presentation, report, state, widgets
from dashboard.components.threshold_explorer import explorer_args, released_threshold, threshold_explorer
from vae_core import settings
from vae_core.tables import bootstrap, fraud, fraud_analysis, thresholds
from vae_core.tables.advice import advice

EXPLORER = "thr_explorer"
INTERVAL_METRICS = ("precision", "recall", "f1", "fpr", "cost")
PREVALENCE_INPUT = "thr_prevalence"  # the deployment prevalence widget, in percent
FLAGGED_LISTED = 200  # rows the flagged table lists, highest scores first (the CSV export has all)


def class_names(feature_names) -> tuple[str, str]:
    """(normal, positive) as the legend names them: "fraud" for the credit-card schema (V1…V28)."""
    return ("normal", "fraud") if {f"V{i}" for i in range(1, 29)} <= set(feature_names) else ("normal", "positive")


def strategy_params(strategy: str) -> dict:
    """Widgets for one strategy's parameter."""
    if strategy == "percentile":
        return {"contamination": st.number_input("Share of normal rows to flag", 0.0001, 0.5, 0.01, 0.005,
                                                 format="%.4f", key="thr_p_contamination")}
    if strategy == "precision_at_recall":
        return {"min_recall": st.slider("Catch at least this share of positives", 0.05, 1.0, 0.8, 0.05,
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


def in_force(model, current: dict, scorer: str, scored, decide: float | None) -> tuple[float, str]:
    """(threshold in force, what set it) for the fraud model `model`, its threshold state and the scorer."""
    saved = model.info.get("threshold", {})
    if current["strategy"] == state.MODEL_THRESHOLD or current["value"] is None:
        where = saved.get("chosen_on", "validation split")
        name = presentation.STRATEGY_LABELS.get(saved.get("strategy"), saved.get("strategy", "?"))
        own = model.scorer_threshold(scorer)
        if own is not None:
            whose = "the model's own threshold" if scorer == state.DEFAULT_SCORER else f"{scorer}'s own threshold"
            return own, f"{whose}: {name} on its {where} at training time"
        strategy, params = saved.get("strategy", "max_f1"), saved.get("params", {})
        if scored.labels is None:  # unlabelled rows: a budget is the one strategy that needs no labels
            strategy, params = "alert_budget", fraud.DEFAULT_STRATEGY_PARAMS["alert_budget"]
        found = thresholds.run_strategy(strategy, params, scored.scores, scored.labels, scored.amounts,
                                        prevalence=decide)
        label = presentation.STRATEGY_LABELS.get(strategy, strategy)
        return found, (f"{label} for {scorer} on the rows shown: this model was saved before its baselines got "
                       "thresholds of their own on validation")
    if current["strategy"] == "manual":
        return float(current["value"]), "set by hand"
    params = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in (current.get("params") or {}).items())
    name = presentation.STRATEGY_LABELS.get(current["strategy"], current["strategy"])
    return float(current["value"]), f"{name}{f' ({params})' if params else ''} on the rows shown"


def scorer_picker(name: str, model) -> str:
    """Who scores the rows: the VAE or a baseline stored with it; a link's unknown scorer is named."""
    st.session_state.setdefault(state.SCORER, state.DEFAULT_SCORER)
    if st.session_state[state.SCORER] not in model.scorers:
        st.warning(f"This model has no scorer named {st.session_state[state.SCORER]!r}; showing the VAE's scores. "
                   f"It has {', '.join(model.scorers)}.", icon=":material/link_off:")
        st.session_state[state.SCORER] = state.DEFAULT_SCORER
    if len(model.scorers) > 1:
        st.selectbox("Scorer", model.scorers, key=state.SCORER, on_change=state.use_scorer, args=(name,),
                     format_func=lambda s: presentation.VAE_SCORER_NAME if s == state.DEFAULT_SCORER else f"{s} (stored baseline)",
                     help="A baseline fitted on the same training normals scores the same rows, with the same "
                          "threshold tools; its own threshold was chosen on validation like the VAE's.")
    return st.session_state[state.SCORER]


def advice_panel(info, scorer: str) -> None:
    """Say plainly when a stored baseline beat the VAE on validation by more than its interval."""
    for item in advice(info.metadata.get("metrics", {}).get("validation_comparison")):
        hint = "" if scorer != state.DEFAULT_SCORER else " Choose it under Scorer to use it with the same threshold tools."
        st.warning(item["text"] + hint, icon=":material/lightbulb:")


def deployment_controls(name: str, model, summary, two_classes: bool) -> tuple[float, float | None]:
    """The deployment prevalence and whether decisions are made at it: (the deployment prevalence,
    the prevalence to decide at or None for the rows as sampled)."""
    target = state.deploy_prevalence(name, model.deploy_prevalence)
    if not two_classes:
        return target, None
    left, right = st.columns([1, 2])
    st.session_state[PREVALENCE_INPUT] = target * 100
    left.number_input("Deployment prevalence (%)", min_value=0.0001, max_value=99.9999, step=0.01, format="%.4f",
                      key=PREVALENCE_INPUT,
                      on_change=lambda: state.set_deploy_prevalence(name, float(f"{st.session_state[PREVALENCE_INPUT] / 100:.10g}")),
                      help=f"The share of positives where the model is used. The model's own: "
                           f"{model.deploy_prevalence:.3%} ({model.deploy_prevalence_source}).")
    labels = {"deployment": f"deployment prevalence ({target:.3%})",
              "sampled": f"these rows as sampled ({summary.prevalence:.3%})"}
    st.session_state.setdefault(state.DECIDE_AT, state.DECIDE_CHOICES[0])
    right.radio("Strategies and the minimum cost decide at", state.DECIDE_CHOICES, format_func=labels.get,
                key=state.DECIDE_AT, horizontal=True)
    return target, target if state.decide_at() == "deployment" else None


def controls(name: str, model, scored, value: float, fee: float, fraud_cost, decide: float | None) -> None:
    """Strategy picker and the exact threshold; the explorer below sets it by dragging. Strategies
    decide at the prevalence `decide` (None: as sampled)."""
    left, right = st.columns([1, 1])
    with left:
        strategy = st.selectbox("Strategy", list(presentation.STRATEGY_LABELS),
                                format_func=presentation.STRATEGY_LABELS.get, key="thr_strategy")
        params = strategy_params(strategy)
        go, reset = st.columns(2)
        if go.button("Set by strategy", key="thr_apply", type="primary"):
            with widgets.guard("That strategy found no threshold"):
                found = thresholds.run_strategy(strategy, params, scored.scores, scored.labels, scored.amounts,
                                                review_fee=fee, fraud_cost=fraud_cost, prevalence=decide)
                state.set_threshold(name, found, strategy, params)
                st.rerun()
        reset.button("Model's threshold", key="thr_reset", on_click=state.use_scorer, args=(name,),
                     help=f"{model.threshold_:.6g}, chosen on the validation split when the model was trained, "
                          f"at its deployment prevalence {model.deploy_prevalence:.3%}")
    with right:
        st.session_state["thr_exact"] = value
        st.number_input("Exact threshold (flag rows scoring at or above it)", key="thr_exact", format="%.6g",
                        step=max(float(np.max(scored.scores)) / 1000, 1e-6),
                        on_change=lambda: state.set_threshold(name, st.session_state["thr_exact"], "manual"))
        st.caption("Strategies run on the rows shown; the model's own threshold was chosen on its "
                   "validation split, so test-split metrics stay honest with it.")


def _released(name: str) -> None:
    value = released_threshold(st.session_state.get(EXPLORER))
    if value is not None:
        state.set_threshold(name, value, "manual")


def interval_text(metric: str, interval: tuple[float, float] | None) -> str:
    if interval is None:
        return ""
    shown = {"fpr": "{:.4f}".format, "cost": presentation.money}.get(metric, "{:.3f}".format)
    return f"95% CI {shown(interval[0])}–{shown(interval[1])}"


def metrics_row(point, summary, intervals: dict | None) -> None:
    """The threshold in force, computed on the server, with bootstrap intervals under each metric."""
    cells = st.columns(6)
    cells[0].metric("Alerts", f"{point.alerts:,}", help=f"of {summary.n:,} rows")
    shown = {}
    if point.tp is not None:
        shown = {"precision": (1, "Precision", presentation.precision_text(point.precision),
                               "TP / alerts: no value when nothing is flagged. Depends on prevalence."),
                 "recall": (2, "Recall", f"{point.recall:.3f}", None),
                 "f1": (3, "F1", f"{point.f1:.3f}", None),
                 "fpr": (4, "False-positive rate", f"{point.fpr:.4f}", None)}
    if point.cost is not None:
        shown["cost"] = (5, "Total cost", presentation.money(point.cost), None)
    for metric, (column, label, value, help_text) in shown.items():
        cells[column].metric(label, value, help=help_text)
        text = interval_text(metric, (intervals or {}).get(metric))
        if text:
            cells[column].caption(text)


def baseline_table(rows: list[dict], costs: dict[str, dict], target: float | None) -> None:
    """The VAE beside the baselines stored with it, on these rows (the dashed curves in the explorer),
    and their cost curves on one scale, alerts per 1,000, at the prevalence decisions use (`target`;
    None: as sampled)."""
    if not rows:
        return
    st.markdown("**Beside simple baselines** fitted on the same training normals and stored with the model "
                "(the dashed curves above), on these rows:")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="thr_baselines", column_config={
        "scorer": "scorer",
        "auroc": st.column_config.NumberColumn("AUROC", format="%.3f"),
        "average_precision": st.column_config.NumberColumn("AP", format="%.3f"),
        "recall_at_fpr": st.column_config.NumberColumn("recall at 1% FPR", format="%.3f"),
        "min_cost": st.column_config.NumberColumn("minimum cost", format=presentation.MONEY_COLUMN)})
    if costs:
        where = "as sampled" if target is None else f"at the deployment prevalence ({target:.3%})"
        st.plotly_chart(figures.scorer_costs(costs, where), key="thr_scorer_costs")


def prevalence_row(point, missed: float | None, summary, fee: float, target: float, intervals: dict | None,
                   deployed_costs) -> fraud_analysis.PrevalenceEstimate | None:
    """Alerts, precision and cost as they would be at the deployment prevalence `target` (rows
    reweighted), beside the naive thresholds' costs there."""
    estimate = fraud_analysis.at_prevalence(point.tp, point.fp, summary.n_fraud, summary.n - summary.n_fraud,
                                            target, missed=missed, review_fee=fee)
    st.markdown(f"**At deployment prevalence ({target:.3%} positives)**, expected per {estimate.per:,} "
                "transactions:")
    cells = st.columns(6)
    cells[0].metric("Expected alerts", f"{estimate.alerts:,.0f}",
                    help=f"of {estimate.per:,} transactions, {estimate.frauds:,.1f} of them frauds")
    cells[1].metric("Precision at deployment", presentation.precision_text(estimate.precision))
    text = interval_text("precision", (intervals or {}).get("precision_at_prevalence"))
    if text:
        cells[1].caption(text)
    cells[2].metric("Recall", "—" if point.recall is None else f"{point.recall:.3f}", help="The same at every prevalence")
    cells[4].metric("False-positive rate", "—" if point.fpr is None else f"{point.fpr:.4f}",
                    help="The same at every prevalence")
    if estimate.cost is not None:
        scale = estimate.per / bootstrap.PREVALENCE_PER
        cells[5].metric("Expected total cost", presentation.money(estimate.cost))
        low_high = (intervals or {}).get("cost_at_prevalence")
        if low_high is not None:
            cells[5].caption(interval_text("cost", (low_high[0] * scale, low_high[1] * scale)))
    if deployed_costs is not None:
        per_row = estimate.per / summary.n
        st.caption(f"At {target:.3%}, per {estimate.per:,} transactions, flagging nothing would cost "
                   f"{presentation.money(deployed_costs.flag_nothing * per_row)} and flagging everything "
                   f"{presentation.money(deployed_costs.flag_everything * per_row)}.")
    st.caption(f"{fraud_analysis.ESTIMATE_NOTE} Each normal row here stands for {estimate.normal_weight:.3g} times a "
               "fraud row's weight.")
    return estimate


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
    if not has_amounts:
        st.sidebar.caption("This data has no Amount column, so a missed positive costs a fixed sum.")
    return state.costs()


def money_panel(name: str, costs, point, labelled: bool, decide: float | None, n_rows: int) -> None:
    """What the threshold in force costs against the minimum and the naive thresholds, where decisions
    are made: expected per 1,000 transactions at the deployment prevalence `decide`, or on these rows."""
    st.subheader("Money")
    if not labelled:
        st.info("Costs need to know which rows are frauds, and this data has no label column. Upload a "
                "file with one (and set its name under Label column) to see what each threshold costs.")
        return
    if costs is None:
        st.info("The cost of a missed fraud is its amount, but this data has no Amount column: choose a fixed "
                "cost per missed fraud in the sidebar.")
        return
    scale = 1.0 if decide is None else 1000 / n_rows
    where = (f"on these {n_rows:,} rows" if decide is None
             else f"expected per 1,000 transactions at {decide:.3%} (the deployment prevalence)")
    saving = costs.flag_nothing - point.cost
    money = functools.partial(presentation.money, cents=True)
    st.markdown(f"{where.capitalize()}: minimum **{money(costs.best_cost * scale)}** at threshold "
                f"**{costs.best_threshold:.6g}**; here {money(point.cost * scale)}, which saves "
                f"{money(saving * scale)} against flagging nothing ({money(costs.flag_nothing * scale)}); flagging "
                f"everything costs {money(costs.flag_everything * scale)}.")
    st.button("Use the minimum-cost threshold", key="thr_use_best", on_click=state.set_threshold,
              args=(name, costs.best_threshold, "min_cost"))


def explain_section(key, data_key, model, scored, position: int, threshold: float, names: tuple[str, str]) -> None:
    """Per-feature error of one flagged row, and the changes that would make it look normal."""
    errors, explained = st.columns(2)
    errors.plotly_chart(figures.feature_bars(model.feature_names, np.asarray(scored.feature_errors[position], float),
                                             title="Per-feature reconstruction error",
                                             value_title=model.feature_error_unit), key="thr_errors")
    caption = presentation.constraint_caption(model)
    if caption:
        errors.caption(caption)
    cf = loaders.walk(key, data_key, position).at(threshold)
    with explained:
        st.markdown(f"**What would make it look {names[0]}** (the biggest changes, in the data's own units)")
        table = cf.table().head(10).rename(columns={"value": "this row", "counterfactual": f"looks {names[0]}"})
        st.dataframe(table, hide_index=True, key="thr_counterfactual", column_config={
            **{c: st.column_config.NumberColumn(format="%.4g") for c in ("this row", f"looks {names[0]}", "change")},
            "standardised change": st.column_config.NumberColumn(
                "change (standardised)", format="%+.2f",
                help="The same change in the model's standardised units, comparable across features")})
        if not cf.found:
            st.warning(f"Even the prior's centre decodes to a transaction scoring {cf.counterfactual_score:.4g}, at or "
                       f"above this threshold ({threshold:.4g}): no point on the way looks {names[0]} to the model.")
        elif cf.alpha == 0:
            st.caption(f"The model's reconstruction of this row scores {cf.counterfactual_score:.4g} (under "
                       f"{threshold:.4g}): it is the nearest transaction the model finds {names[0]}, and the changes are "
                       "what the model expected instead of what it saw.")
        else:
            below, above = presentation.distinct_numbers(cf.counterfactual_score, threshold)
            st.caption(f"The reconstruction still scored at or above the threshold, so μ was moved {cf.alpha:.1%} of "
                       f"the way toward the prior's centre, where the decoded transaction first scores under it "
                       f"({below} < {above}).")


def flagged_section(key, data_key, model, scored, threshold: float, names: tuple[str, str], *,
                    explain: bool = True) -> None:
    st.subheader("Flagged rows")
    positions = fraud_analysis.flagged_positions(scored, threshold)
    if len(positions) == 0:
        st.info("Nothing is flagged at this threshold.")
        return
    st.caption(presentation.flagged_caption(len(positions), FLAGGED_LISTED))
    st.dataframe(fraud_analysis.flagged_frame(scored, threshold, FLAGGED_LISTED, names=names), hide_index=True, height=280,
                 key="thr_table")
    labels = scored.labels
    chosen = st.selectbox("Transaction to inspect", positions[:FLAGGED_LISTED].tolist(), key="thr_inspect",
                          format_func=lambda p: f"row {int(scored.rows[p])} · score {scored.scores[p]:.3g}"
                          + ("" if labels is None else f" · {names[int(labels[p])]}"))
    if explain:
        explain_section(key, data_key, model, scored, int(chosen), threshold, names)
    else:
        st.caption("Explanations read the VAE's reconstruction; choose the VAE as the scorer to see them.")


def outcome_scatter(summary, scored, threshold: float, names: tuple[str, str]) -> None:
    st.subheader("Latent space by outcome")
    positions = summary.scatter_positions
    codes = fraud_analysis.outcome_codes(scored.scores[positions], scored.labels[positions], threshold)
    colours = {k: figures.OUTCOME_COLOURS[v] for k, v in fraud_analysis.OUTCOME_NAMES.items()}
    hover = [f"row {r} · score {v:.3g}" for r, v in zip(scored.rows[positions].tolist(),
                                                        scored.scores[positions].tolist())]
    st.plotly_chart(figures.latent_scatter(summary.scatter_xy, codes, fraud_analysis.OUTCOME_NAMES, positions,
                                           hover, ("z0", "z1"), colours=colours, monospace_hover=False,
                                           title=presentation.outcome_scatter_title(
                                               len(positions), summary.n_fraud or 0, summary.n, names)),
                    key="thr_outcomes")


def explorer(name: str, model_threshold: float, summary, point, missed: float | None, table, costs, *,
             log_x: bool, log_y: bool, names, fee: float, fraud_cost, target: float | None, intervals: dict | None, bands,
             baselines: tuple[list[dict], dict]) -> None:
    """The browser-side explorer: drag on the histogram; the release sets the threshold in force."""
    current = {"threshold": float(point.threshold), "alerts": point.alerts, "fn": point.fn, "missed": missed,
               "intervals": intervals}
    cost_note = None if point.cost is None else (
        "its amount" if fraud_cost == "amount" else presentation.money(fraud_cost, cents=None))
    band_at, band_intervals = bands if bands is not None else (None, None)
    threshold_explorer(explorer_args(
        table=table, summary=summary, current=current, log_x=log_x, log_y=log_y, names=names, review_fee=fee,
        cost_note=cost_note, prevalence=target, per=fraud_analysis.DEFAULT_VOLUME, bands=band_intervals,
        band_at=band_at, model_threshold=model_threshold,
        best=None if costs is None else (costs.best_threshold, costs.best_cost),
        flag_nothing=None if costs is None else costs.flag_nothing, baselines=baselines[1],
        baseline_metrics={row["scorer"]: {"auroc": row["auroc"], "average_precision": row["average_precision"]}
                          for row in baselines[0]}), key=EXPLORER, on_change=lambda: _released(name))


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
    scorer = scorer_picker(info.name, model)
    advice_panel(info, scorer)
    data_key = (*data_key, scorer)
    scored = loaders.scored(key, data_key)
    summary = loaders.summary(key, data_key)
    labelled = scored.labels is not None
    two_classes = labelled and 0 < summary.n_fraud < summary.n
    names = class_names(model.feature_names)
    widgets.source_banner(presentation.describe(scored), scored.synthetic)
    st.caption(presentation.prevalence_text(summary.prevalence))
    fee, fraud_cost = cost_widgets(scored.amounts is not None)
    fee = float(fee)

    target, decide = deployment_controls(info.name, model, summary, two_classes)
    threshold, source = in_force(model, state.threshold_state(info.name), scorer, scored, decide)
    controls(info.name, model, scored, threshold, fee, fraud_cost, decide)
    st.caption(f"Threshold in force: **{threshold:.6g}** — {source}.")
    sweep = loaders.sweep(key, data_key, fee, fraud_cost, None)
    point = sweep.at(threshold)
    missed = sweep.missed_cost([threshold])
    missed = None if missed is None else float(missed[0])  # the cost's second term, as the browser adds it

    options = st.columns([1, 1, 2])
    log_x = options[0].toggle("Log-scale scores", value=True, key="thr_log_x")
    log_y = options[1].toggle("Log-scale counts", value=False, key="thr_log_y")
    table = loaders.stop_table(key, data_key, fee, fraud_cost)
    costs = loaders.costs(key, data_key, fee, fraud_cost, None) if labelled else None
    deployed_costs = loaders.costs(key, data_key, fee, fraud_cost, target) if two_classes else None
    others = loaders.baselines(key, data_key, fee, fraud_cost) if two_classes else ([], {})
    intervals = loaders.intervals_at(key, data_key, fee, fraud_cost, float(threshold), target) if two_classes else None
    own = model.scorer_threshold(scorer)
    explorer(info.name, threshold if own is None else own, summary, point, missed, table, costs, log_x=log_x,
             log_y=log_y, names=names, fee=fee, fraud_cost=fraud_cost, target=target if two_classes else None,
             intervals=None if intervals is None else {m: intervals.get(m) for m in INTERVAL_METRICS},
             bands=loaders.bands(key, data_key, fee, fraud_cost) if two_classes else None, baselines=others)

    st.markdown(f"**At the threshold in force, as sampled** ({summary.n:,} rows, {summary.prevalence:.3%} positives; "
                f"computed on the server; the intervals resample these rows {bootstrap.DEFAULT_RESAMPLES} times, "
                "the model is not refitted):" if two_classes else "**At the threshold in force:**")
    metrics_row(point, summary, intervals)
    estimate = (prevalence_row(point, missed, summary, fee, target, intervals, deployed_costs)
                if two_classes else None)

    baseline_table(others[0], loaders.scorer_costs(key, data_key, fee, fraud_cost, decide) if others[0] else {},
                   decide)
    if decide is None:
        money_panel(info.name, costs, point, labelled, None, summary.n)
    else:
        money_panel(info.name, deployed_costs, loaders.sweep(key, data_key, fee, fraud_cost, decide).at(threshold),
                    labelled, decide, summary.n)
    flagged_section(key, data_key, model, scored, threshold, names, explain=scorer == state.DEFAULT_SCORER)
    if labelled:
        outcome_scatter(summary, scored, threshold, names)
    robustness_section(key, data_key, threshold)

    st.subheader("Export")
    left, right = st.columns(2)
    left.download_button("Flagged rows (CSV)", data=lambda: fraud_analysis.flagged_csv(scored, threshold, names=names),
                         file_name=f"{info.name}-flagged.csv", mime="text/csv", key="thr_export_csv",
                         on_click="ignore", icon=":material/download:")
    current = state.threshold_state(info.name)
    threshold_json = fraud_analysis.settings_json(
        model=info.name, threshold=threshold, strategy=current["strategy"], params=current.get("params") or {},
        point=point, review_fee=fee, fraud_cost=fraud_cost, data_source=scored.source,
        evaluated_on=scored.evaluated_on, prevalence=summary.prevalence,
        intervals=None if intervals is None else {"level": 0.95, "resamples": bootstrap.DEFAULT_RESAMPLES,
                                                  **{m: None if v is None else list(v) for m, v in intervals.items()}},
        estimate=estimate, scorer=scorer, decided_at=decide)
    if two_classes:
        right.download_button(
            "Curves' data (CSV)", key="thr_export_curves", file_name=f"{info.name}-curves.csv", mime="text/csv",
            on_click="ignore", icon=":material/download:",
            data=lambda: loaders.curves_csv(key, data_key, fee, fraud_cost, target),
            help="The ROC, PR and cost curves of the VAE and the stored baselines on these rows: one line per "
                 f"threshold (every distinct score, or {fraud_analysis.CURVE_ROWS:,} spread over them), as sampled and "
                 "at the deployment prevalence.")
    right.download_button("Threshold settings (JSON)", data=threshold_json, file_name=f"{info.name}-threshold.json",
                          mime="application/json", key="thr_export_json", on_click="ignore",
                          icon=":material/download:")
    left.download_button(
        "Export report (HTML)", key="thr_export_report", file_name=f"{info.name}-report.html", mime="text/html",
        on_click="ignore", icon=":material/description:", disabled=scorer != state.DEFAULT_SCORER,
        data=lambda: report.fraud_report(info, model, scored, threshold=threshold, how=source, review_fee=fee,
                                         fraud_cost=fraud_cost, deploy_prevalence=target),
        help="One HTML file that opens from disk with no server: the model card, this explorer, the decision in "
             "force and the latent map" + ("" if scorer == state.DEFAULT_SCORER else " (for the VAE's scores: "
                                                                                   "choose it under Scorer)"))
    drift_section(info.name, key, threshold if scorer == state.DEFAULT_SCORER else None)


def robustness_section(key, data_key, threshold: float) -> None:
    """The threshold in force by Amount bucket, by time of day and over time windows."""
    segments, windows = loaders.robustness(key, data_key, float(threshold))
    if not segments and windows is None:
        return
    st.subheader("How robust is this threshold")
    st.caption("The same threshold on parts of these rows: a rate that moves a lot between parts says the "
               "decision depends on who is transacting and when.")
    tabs = st.tabs([title for title, present in (("By amount", "amount" in segments),
                                                 ("By time of day", "hour" in segments),
                                                 ("Over time", windows is not None)) if present])
    shown = iter(tabs)
    if "amount" in segments:
        next(shown).dataframe(presentation.segment_table_rows(segments["amount"], "Amount"), hide_index=True,
                              key="thr_segments_amount")
    if "hour" in segments:
        next(shown).dataframe(presentation.segment_table_rows(segments["hour"], "Hour of day"), hide_index=True,
                              key="thr_segments_hour")
    if windows is not None:
        tab = next(shown)
        tab.caption(presentation.window_spread_text(windows))
        tab.dataframe(presentation.segment_table_rows(windows, "Window"), hide_index=True, key="thr_windows")


def drift_section(name: str, key, threshold: float | None) -> None:
    """Check a new batch: an upload against the model's validation rows, at the threshold in force."""
    st.subheader("Check a new batch")
    st.caption("Upload the next batch of transactions (a label column is optional) to see whether it still looks "
               "like what this model was validated on" + (", at the threshold in force." if threshold is not None
                                                          else ", at the VAE's own threshold."))
    upload = st.file_uploader("New batch (CSV)", type=["csv"], key="thr_drift_upload",
                              max_upload_size=settings.current().max_csv_mb)
    if upload is None:
        return
    with widgets.guard("That batch cannot be checked"):
        report = loaders.drift_report(key, upload.file_id, threshold, upload.name, upload.getvalue())
        verdict = st.warning if report["drifted"] else st.success
        verdict(("Drift: " if report["drifted"] else "No drift detected: ") + report["compared"] + ".",
                icon=":material/warning:" if report["drifted"] else ":material/check_circle:")
        cells = st.columns(4)
        cells[0].metric("Population stability index", f"{report['psi']:.3f}")
        cells[1].metric("Kolmogorov–Smirnov D", f"{report['ks']:.3f}")
        cells[2].metric("Alert rate expected", f"{report['expected_alert_rate']:.2%}")
        cells[3].metric("Alert rate in the batch", f"{report['observed_alert_rate']:.2%}")
        for line in report["verdicts"].values():
            st.markdown(f"- {line}")
        st.dataframe(presentation.drift_feature_rows(report["features"]), hide_index=True, key="thr_drift_features",
                     height=min(420, 38 + 35 * min(10, len(report["features"]))))
        if "metrics" in report:
            st.caption(presentation.drift_metrics_text(report["metrics"]))
        if "unknowable" in report:
            st.info(report["unknowable"], icon=":material/help:")
        st.download_button("Drift report (JSON)", data=json.dumps(report, indent=2), file_name=f"{name}-drift.json",
                           mime="application/json", key="thr_drift_json", on_click="ignore",
                           icon=":material/download:")


main()
