"""A fraud model's report as one self-contained HTML file: the model card, the threshold explorer
working in the file, the decision in force with expected alerts per day, and the latent map coloured
by outcome with hover.

Everything is inline (the components' own HTML and JS run in `<iframe srcdoc>`, their data as
base64); a small parent script plays Streamlit's part of the component protocol (it sends the same
"streamlit:render" message the dashboard sends, answers setFrameHeight, and reads setComponentValue),
so the file opens from disk with no server and makes no network request.

No Streamlit (or Plotly) here at module level: `vae-explorer report` loads this module through the
"vae_explorer.commands" entry point (see `register`), and `--help` must stay instant, so the heavy
imports live inside the functions.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
from pathlib import Path
from typing import Any

REPORT_ROWS = 50_000  # most rows on the report's latent map: every fraud (up to half) + a seeded sample
DEFAULT_VOLUME = 10_000  # transactions per day the expected-alerts box starts at
FRONTENDS = Path(__file__).resolve().parent / "components"
# figures.OUTCOME_COLOURS and FRAUD_COLOURS, repeated so that this module never imports Plotly
# (tests/test_report.py checks they agree).
OUTCOME_COLOURS = {"TP": "#2ca02c", "FP": "#ff7f0e", "FN": "#d62728", "TN": "#9e9e9e"}


# --- the command --------------------------------------------------------------------------------

def register(commands: argparse._SubParsersAction) -> Any:
    """The `report` subcommand (entry point "vae_explorer.commands"): adds its parser to `commands`
    and returns the handler (args → exit status)."""
    from vae_core.cli import _finite_float

    sub = commands.add_parser("report", help="write a model's report: one self-contained HTML file "
                                             "(threshold explorer, decision, latent map) that opens with no server")
    sub.add_argument("--models-dir", help="registry folder (default: $VAE_MODELS_DIR or ./models)")
    sub.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                     help="also show TensorFlow's start-up and logging lines")
    sub.add_argument("--name", required=True, help="the model to report on (fraud or MNIST)")
    sub.add_argument("--output", required=True, help="HTML file to write (never overwritten)")
    sub.add_argument("--data", help="fraud: transactions CSV to show (default: the rows the model was tested on); "
                                     "MNIST: a folder of IDX files or an mnist.npz (default: the best available)")
    choice = sub.add_mutually_exclusive_group()
    choice.add_argument("--threshold", type=_finite_float, help="the threshold in force (default: the model's)")
    choice.add_argument("--strategy", help="use a threshold strategy stored with the model (e.g. max_f1)")
    sub.add_argument("--review-fee", type=_finite_float, default=None, help="euros per alert reviewed (default 5)")
    sub.add_argument("--miss-cost", type=_finite_float, default=None,
                     help="euros a missed fraud costs (default: its amount)")
    return cmd_report


def cmd_report(args: argparse.Namespace) -> int:
    from vae_core.errors import DataError

    output = Path(os.path.expanduser(args.output))
    if output.exists():
        raise DataError(f"{output} exists; choose a new file for the report (it is never overwritten).")
    if not output.parent.is_dir():
        raise DataError(f"Output folder {output.parent} does not exist.")
    text = report_for(args.name, models_dir=args.models_dir, data=args.data, threshold=args.threshold,
                      strategy=args.strategy, review_fee=args.review_fee, miss_cost=args.miss_cost)
    write_new(output, text)
    print(f"report written to {output} ({output.stat().st_size / 1e6:.1f} MB)")
    return 0


def write_new(path: Path, text: str) -> None:
    """Write `text` to `path`, which must not exist (never overwritten, even if it appears meanwhile)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        partial.write_text(text, encoding="utf-8")
        os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def report_for(name: str, *, models_dir: str | None = None, data: str | None = None, threshold: float | None = None,
               strategy: str | None = None, review_fee: float | None = None, miss_cost: float | None = None) -> str:
    """The report on model `name`: a fraud model's (`fraud_report_for`), or an MNIST model's on the test
    split of `data` (an MNIST folder or mnist.npz; default: the best available source)."""
    from vae_core import sources
    from vae_core.errors import ConfigError
    from vae_core.registry import check_model, load_model

    info = check_model(name, models_dir)
    if info.kind == "fraud":
        return fraud_report_for(name, models_dir=models_dir, data=data, threshold=threshold, strategy=strategy,
                                review_fee=review_fee, miss_cost=miss_cost)
    given = [flag for flag, value in (("--threshold", threshold), ("--strategy", strategy),
                                      ("--review-fee", review_fee), ("--miss-cost", miss_cost)) if value is not None]
    if given:
        raise ConfigError(f"{name!r} is an MNIST model; {', '.join(given)} is for fraud models' reports.")
    images = sources.mnist_test("path", os.path.expanduser(data)) if data else sources.mnist_test()
    return mnist_report(info, load_model(name, models_dir), images)


def fraud_report_for(name: str, *, models_dir: str | None = None, data: str | None = None,
                     threshold: float | None = None, strategy: str | None = None, review_fee: float | None = None,
                     miss_cost: float | None = None) -> str:
    """The report on fraud model `name` (the CLI's path): its rows scored, the threshold in force
    (given, a stored strategy's, or the model's own)."""
    from vae_core import sources
    from vae_core.tables import thresholds
    from vae_core.errors import ConfigError
    from vae_core.tables.fraud import FraudModel, score_dataset, scoring_threshold
    from vae_core.registry import check_model, load_model

    info = check_model(name, models_dir)
    if info.kind != "fraud":
        raise ConfigError(f"Model {name!r} is an {info.kind} model; `report` writes fraud models' reports.")
    loaded = load_model(name, models_dir)
    model = FraudModel.from_loaded(loaded)
    chosen = scoring_threshold(model, threshold, strategy)
    if threshold is not None:
        how = "set by hand (--threshold)"
    else:
        saved = model.info.get("thresholds_by_strategy", {}).get(strategy) if strategy else model.info.get("threshold", {})
        label = thresholds.STRATEGY_NAMES.get((saved or {}).get("strategy", strategy), strategy or "?")
        how = f"{label}, chosen on the {(saved or {}).get('chosen_on', 'validation split')} at training time"
    options = {"label_column": model.label_column, "positive": model.positive}
    if data:  # a label column is optional: unlabelled rows get the explorer's counts and the alert rate
        from vae_core.tables import tabular

        rows = tabular.read_labelled_csv(os.path.expanduser(data), label_column=model.label_column,
                                         positive_label=model.positive, require_label=False)
    else:
        rows = sources.view_transactions(model.info.get("data", {}), model_folder=loaded.path, **options)
    scored = score_dataset(model, rows)
    fee = thresholds.DEFAULT_REVIEW_FEE if review_fee is None else float(review_fee)
    return fraud_report(info, model, scored, threshold=chosen, how=how, review_fee=fee,
                        fraud_cost="amount" if miss_cost is None else float(miss_cost))


# --- the report ---------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no "</script>", no "<!--")."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _frontend(component: str, index: str = "index.html") -> str:
    """A component's index.html with its scripts inlined: the document an <iframe srcdoc> shows."""
    folder = FRONTENDS / component / "frontend"
    text = (folder / index).read_text(encoding="utf-8")
    for script in sorted(folder.glob("*.js")):
        tag = f'<script src="{script.name}"></script>'
        if tag in text:
            code = script.read_text(encoding="utf-8").replace("</", "<\\/")
            text = text.replace(tag, f"<script>\n{code}\n</script>")
    return text


def _finite(value: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become None."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _table(rows: list[dict[str, Any]], formats: dict[str, str] | None = None, cls: str = "") -> str:
    if not rows:
        return ""
    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])

    def cell(key: str, value: Any) -> str:
        if value is None:
            return "–"
        if key in formats and isinstance(value, (int, float)):
            return formats[key].format(value)
        return str(value)

    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(k, v))}</td>" for k, v in row.items()) + "</tr>"
                   for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def model_card(info, model, scored, summary) -> str:
    """The model card: data, prevalences, architecture, training, stored metrics with intervals, baselines."""
    from dashboard import presentation

    meta = info.metadata
    metrics = meta.get("metrics", {})
    trained_on = model.info.get("data", {})
    validation = metrics.get("validation_comparison") or {}
    vae_validation = (validation.get("scorers") or {}).get("VAE") or {}
    interval = vae_validation.get("roc_auc_interval")

    def pct(value: Any) -> str:
        return "–" if not isinstance(value, (int, float)) else f"{value:.3%}"

    facts = [
        ("Model", f"{info.name} · {presentation.model_variant(info)}"),
        ("Architecture", presentation.architecture_text(info)),
        ("Trained on", f"{presentation.short_source(meta.get('data_source'))}"
                       + (f" · {trained_on['n_rows']:,} rows" if isinstance(trained_on.get("n_rows"), int) else "")
                       + (" (synthetic)" if trained_on.get("synthetic") else "")),
        ("Prevalence in the training data", pct(trained_on.get("prevalence"))),
        ("Deployment prevalence", f"{pct(model.deploy_prevalence)} ({model.deploy_prevalence_source})"),
        ("Training", f"{meta.get('epochs_run', '?')} epochs in {meta.get('training_seconds', '?')} s"
                     + (" (stopped early)" if meta.get("stopped_early") else "")
                     + f", created {str(meta.get('created') or '')[:16].replace('T', ' ')}"),
        ("ROC AUC (stored, " + str(metrics.get("evaluated_on", "test rows")) + ")",
         "–" if metrics.get("roc_auc") is None else f"{metrics['roc_auc']:.4f}"),
        ("Average precision (stored)", "–" if metrics.get("average_precision") is None
         else f"{metrics['average_precision']:.4f}"),
    ]
    if vae_validation:
        facts.append((f"On its {validation.get('rows', '?'):,} validation rows" if isinstance(validation.get("rows"), int)
                       else "On its validation rows",
                       f"ROC AUC {vae_validation.get('roc_auc', float('nan')):.4f}"
                       + (f" ({validation.get('level', 0.95):.0%} bootstrap interval {interval[0]:.4f}–{interval[1]:.4f}, "
                          f"{validation.get('resamples', '?')} resamples)" if interval else "")
                       + (f", AP {vae_validation['average_precision']:.4f}"
                          if isinstance(vae_validation.get("average_precision"), (int, float)) else "")))
    facts.append(("Rows in this report", f"{summary.n:,} ({scored.evaluated_on}; {presentation.short_source(scored.source)})"
                  + ("" if summary.prevalence is None else f", {summary.prevalence:.3%} positives")
                  + ("" if summary.auroc is None else f"; ROC AUC {summary.auroc:.4f}, AP {summary.average_precision:.4f} on them")))
    card = "<dl class=\"card\">" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts) + "</dl>"
    baselines = presentation.baseline_rows(metrics)
    if baselines:
        card += (f"<h3>Beside simple baselines</h3><p class=\"note\">On its {html.escape(str(metrics.get('evaluated_on', 'test rows')))}"
                 f" ({metrics.get('prevalence', 0):.1%} fraud), each fitted on the same training normals and stored with "
                 "the model.</p>" + _table(baselines, {"AUROC": "{:.3f}", "AP": "{:.3f}", "recall at 1% FPR": "{:.3f}",
                                                         "minimum cost (€)": "€{:,.0f}"}))
    rows = presentation.metrics_rows(metrics, info.vae_config.variational)
    card += ("<details><summary>Every stored metric</summary>" + _table(rows) + "</details>")
    return card


def explorer_payload(scored, summary, *, threshold: float, review_fee: float, fraud_cost: float | str,
                     target: float | None, model,
                     others: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the threshold explorer's args, with "data" as base64, as the threshold page builds them from the
    engine; the decision's numbers at the threshold in force). `others`: the stored baselines' scores
    of the rows, {name: (n,)}."""
    from dashboard import presentation
    from dashboard.components.threshold_explorer import explorer_args
    from vae_core.tables import bootstrap, fraud_analysis

    labelled = scored.labels is not None
    two_classes = labelled and 0 < (summary.n_fraud or 0) < summary.n
    sweep = fraud_analysis.build_sweep(scored, review_fee, fraud_cost, None)
    point = sweep.at(threshold)
    missed = sweep.missed_cost([threshold])
    missed = None if missed is None else float(missed[0])
    table = fraud_analysis.stop_table(sweep, fraud_analysis.explorer_stops(sweep))
    costs = fraud_analysis.cost_view(sweep, table.thresholds) if labelled else None
    intervals = bands = None
    baselines: tuple[list[dict], dict] = ([], {})
    if two_classes:
        intervals = bootstrap.bootstrap(sweep, threshold, prevalence=target).at(0)
        at = fraud_analysis.band_indices(len(table.thresholds))
        bands = (at, bootstrap.bootstrap(sweep, table.thresholds[at], curves=True))
        if others:
            rows = fraud_analysis.scorer_table({presentation.VAE_SCORER_NAME: scored.scores, **others}, scored.labels,
                                               scored.amounts, review_fee=review_fee, fraud_cost=fraud_cost)
            baselines = (rows, {n: fraud_analysis.scorer_curves(v, scored.labels) for n, v in others.items()})
    names = ("normal", "fraud") if {f"V{i}" for i in range(1, 29)} <= set(model.feature_names) else ("normal", "positive")
    cost_note = None if point.cost is None else (
        "its amount" if fraud_cost == "amount" else presentation.money(fraud_cost, cents=None))
    metrics = ("precision", "recall", "f1", "fpr", "cost")
    args = explorer_args(
        table=table, summary=summary,
        current={"threshold": float(threshold), "alerts": point.alerts, "fn": point.fn, "missed": missed,
                 "intervals": None if intervals is None else {m: intervals.get(m) for m in metrics}},
        log_x=True, log_y=False, names=names, review_fee=review_fee, cost_note=cost_note,
        prevalence=target if two_classes else None, per=fraud_analysis.DEFAULT_VOLUME,
        bands=None if bands is None else bands[1], band_at=None if bands is None else bands[0],
        model_threshold=float(model.threshold_), best=None if costs is None else (costs.best_threshold, costs.best_cost),
        flag_nothing=None if costs is None else costs.flag_nothing, baselines=baselines[1],
        baseline_metrics={row["scorer"]: {"auroc": row["auroc"], "average_precision": row["average_precision"]}
                          for row in baselines[0]})
    data = args.pop("data")
    args = _finite(args)
    args["data_b64"] = _b64(data)
    decision = {"threshold": float(threshold), "alerts": int(point.alerts), "fn": None if point.fn is None else int(point.fn),
                "n": int(summary.n), "n_pos": None if summary.n_fraud is None else int(summary.n_fraud),
                "prevalence": target if two_classes else None, "names": list(names),
                "best": None if costs is None else [float(costs.best_threshold), float(costs.best_cost)]}
    return args, decision


def map_payload(model, scored, threshold: float, *, limit: int = REPORT_ROWS, method: str = "dims",
                dims: tuple[int, int] = (0, 1), region: dict | None = None) -> tuple[dict[str, Any], str]:
    """(the latent map's args with every blob as base64, a note on which rows it shows): the scored
    rows' μ coloured by outcome at `threshold`, hover as on the Latent space page."""
    import numpy as np

    from dashboard.components.latent_map import MapConfig, blob, categorical_colours, map_args, map_geometry
    from vae_core.tables.fraud_analysis import frauds_first, outcome_codes
    from vae_core.latent import cached_projection, kl_per_point, largest_terms
    from vae_core.selection import OUTCOMES

    n = len(scored.scores)
    positions = frauds_first(scored.labels, n, limit)
    sampled = len(positions) < n
    latent = np.asarray(scored.latent[positions])
    _, log_var = model.vae.encode(model.preprocessor.transform(scored.features.iloc[positions]))
    if latent.shape[1] < 2:
        method = "dims"
    projection = cached_projection(latent, method, dims)
    geometry = map_geometry(projection)
    error = np.asarray(scored.scores[positions], np.float32)
    labels = None if scored.labels is None else np.asarray(scored.labels[positions])
    worst = largest_terms(np.asarray(scored.feature_errors)[positions])
    blobs = {**geometry.blobs,
             "labels": blob(np.full(len(positions), 255, np.uint8) if labels is None else labels.astype(np.uint8)),
             "error": blob(error), "kl": blob(kl_per_point(latent, log_var).astype(np.float32)),
             "rows": blob(np.asarray(scored.rows[positions]).astype(np.int32)),
             "worst": blob(np.concatenate([worst[0].astype(np.uint8), worst[1]], axis=1))}
    if labels is None:
        colour, legend = categorical_colours(np.zeros(len(positions)), ["unlabelled"], ["#4c78a8"], "class")
    else:
        colour, legend = categorical_colours(outcome_codes(error, labels, float(threshold)), list(OUTCOMES),
                                             [OUTCOME_COLOURS[o] for o in OUTCOMES], f"outcome at threshold {threshold:.4g}")
    blobs["colour"] = colour
    config = MapConfig(n=len(positions), kind="fraud", axis_titles=projection.axis_titles, bounds=geometry.bounds,
                       view_id=f"report|{method}|{dims}", legend=legend, class_names=["normal", "fraud"],
                       selection=region, selected=None, threshold=float(threshold),
                       feature_names=list(model.feature_names), prior=geometry.prior, density=geometry.density)
    args = map_args(blobs, config, {})
    for name in list(blobs):
        args[f"blob_{name}"] = _b64(args[f"blob_{name}"])
    frauds = 0 if labels is None else int(labels.sum())
    note = (f"The map shows {len(positions):,} of the {n:,} rows: every fraud ({frauds:,}) and a random sample "
            f"(seed 0) of the normal rows, so that the file stays small; the explorer above counts all {n:,}."
            if sampled else f"The map shows all {n:,} rows.")
    if projection.method == "dims":
        note += f" Axes: μ on {projection.axis_titles[0]} and {projection.axis_titles[1] or 'a line'}."
    return _finite(args), note


def fraud_report(info, model, scored, *, threshold: float, how: str, review_fee: float, fraud_cost: float | str,
                 deploy_prevalence: float | None = None, map_limit: int = REPORT_ROWS, method: str = "dims",
                 dims: tuple[int, int] = (0, 1), region: dict | None = None) -> str:
    """The report (HTML text) on fraud model `info`/`model` over its scored rows, at `threshold` (set
    `how`), with the costs (`review_fee` per alert, a miss's `fraud_cost`: "amount" or euros) and the
    deployment prevalence (default the model's). `method`, `dims` and `region` set the map's view."""
    import datetime

    from vae_core.tables.fraud_analysis import summarise

    summary = summarise(scored)
    target = model.deploy_prevalence if deploy_prevalence is None else float(deploy_prevalence)
    two_classes = scored.labels is not None and 0 < (summary.n_fraud or 0) < summary.n
    others = model.baseline_scores(scored.features) if two_classes else {}  # scored once, used twice
    explorer, decision = explorer_payload(scored, summary, threshold=threshold, review_fee=review_fee,
                                          fraud_cost=fraud_cost, target=target, model=model, others=others)
    decision |= {"how": how, "review_fee": review_fee,
                 "fraud_cost": "its amount" if fraud_cost == "amount" else f"€{float(fraud_cost):,.2f}".replace(".00", ""),
                 "volume": DEFAULT_VOLUME}
    map_args_, map_note = map_payload(model, scored, threshold, limit=map_limit, method=method, dims=dims,
                                      region=region)
    payload = {"explorer": explorer, "decision": _finite(decision), "explorer_html": _frontend("threshold_explorer"),
               "map": map_args_, "map_html": _frontend("latent_map")}
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return _page(info.name, created, model_card(info, model, scored, summary), map_note, payload,
                 robustness_html(info.name, scored, threshold, review_fee, fraud_cost, target, others))


def curves_link(name: str, scorers: dict[str, Any], scored, review_fee: float, fraud_cost: float | str,
                target: float) -> str:
    """A link that downloads the curves' CSV (fraud_analysis.curves_csv of `scorers`, name → scores
    (n,) of the scored rows, at most REPORT_CURVE_ROWS thresholds each) from the file itself: a data: URL."""
    from vae_core.tables.fraud_analysis import curves_csv

    data = curves_csv(scorers, scored.labels, scored.amounts, review_fee=review_fee, fraud_cost=fraud_cost,
                      prevalence=target, max_rows=REPORT_CURVE_ROWS)
    return (f'<p><a id="curves-csv" download="{html.escape(name)}-curves.csv" href="data:text/csv;base64,{_b64(data)}">'
            f"The curves' data (CSV)</a>: the ROC, PR and cost curves of {html.escape(', '.join(scorers))} on these "
            f"rows, one line per threshold (at most {REPORT_CURVE_ROWS:,} each), as sampled and at the deployment "
            f"prevalence ({target:.3%}).</p>")


def cost_chart(scorers: dict[str, Any], scored, review_fee: float, fraud_cost: float | str, target: float) -> str:
    """Each scorer's (name → scores (n,)) cost per 1,000 against its alerts per 1,000 at the deployment
    prevalence, as an inline SVG (fraud_analysis.scorer_cost_curves; the VAE solid, the baselines dashed)."""
    from vae_core.tables.fraud_analysis import scorer_cost_curves

    curves = scorer_cost_curves(scorers, scored.labels, scored.amounts, review_fee=review_fee, fraud_cost=fraud_cost,
                                prevalence=target)
    if len(curves) < 2:
        return ""
    # Up to 1.5 × flagging nothing: flagging nearly everything costs far more and would flatten the rest.
    ceiling = 1.5 * max(float(c["cost_per_1000"][0]) for c in curves.values())
    kept = {n: c["cost_per_1000"] <= ceiling for n, c in curves.items()}
    return _curve_svg({n: c["cost_per_1000"][kept[n]].tolist() for n, c in curves.items()},
                      f"Cost per 1,000 transactions (€) by alerts per 1,000, at {target:.3%}", width=640,
                      xs={n: c["alerts_per_1000"][kept[n]].tolist() for n, c in curves.items()},
                      x_label="alerts per 1,000")


def robustness_html(name: str, scored, threshold: float, review_fee: float, fraud_cost: float | str,
                    target: float, others: dict[str, Any]) -> str:
    """The threshold's counts by Amount bucket, by time of day and over time windows, as static
    tables at `threshold`, and with both classes the scorers' cost chart (the VAE and `others`, the
    baselines' scores {name: (n,)}) and the curves' data (empty without Amount, Time and labels)."""
    from dashboard import presentation
    from vae_core.tables.fraud_analysis import segment_rows, window_rows

    two_classes = scored.labels is not None and 0 < scored.labels.sum() < len(scored.labels)
    curves = ""
    if two_classes:
        scorers = {presentation.VAE_SCORER_NAME: scored.scores, **others}
        curves = (cost_chart(scorers, scored, review_fee, fraud_cost, target)
                + curves_link(name, scorers, scored, review_fee, fraud_cost, target))
    segments, windows = segment_rows(scored, threshold), window_rows(scored, threshold)
    parts = [(title, presentation.segment_table_rows(rows, first)) for title, first, rows in (
        ("By amount", "Amount", segments.get("amount")), ("By time of day", "Hour of day", segments.get("hour")),
        ("Over time", "Window", windows)) if rows]
    if not parts:
        return curves
    spread = "" if windows is None else f" {presentation.window_spread_text(windows)}"
    tables = "".join(f"<h3>{html.escape(title)}</h3>{_table(rows, cls='segments')}" for title, rows in parts)
    return (f'<h2>How robust is this decision</h2><p class="sub">The threshold {threshold:.6g} (the one in force '
            f"when this report was made; these tables do not follow the explorer) on parts of the rows: rates that "
            f"move a lot between parts say the decision depends on who is transacting and when.{html.escape(spread)}"
            f"</p>{tables}{curves}")


REPORT_CURVE_ROWS = 2_000  # thresholds per scorer in the report's curves' CSV (it travels base64 in the file)
MNIST_ROWS = 5_000  # test digits on an MNIST report's map (thumbnails of each travel in the file)
# figures.CLASS_COLOURS, repeated so that this module never imports Plotly (tests/test_report.py checks).
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
PRIOR_SAMPLES = 64


def _png(image) -> str:
    """A greyscale image (h, w) in [0, 1] as a data: URI."""
    import io

    import numpy as np
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8), mode="L").save(out, format="PNG")
    return "data:image/png;base64," + _b64(out.getvalue())


def _curve_svg(series: dict[str, list[float]], title: str, width: int = 520, height: int = 220, *,
               xs: dict[str, list[float]] | None = None, x_label: str = "epoch") -> str:
    """Curves as an inline SVG (no script): {name: y values} against `xs` {name: x values} on a log
    scale (x > 0 only), or else against the epoch 1…n."""
    import math

    def finite(v: Any) -> bool:
        return isinstance(v, (int, float)) and math.isfinite(v)

    points_of = {name: [(math.log10(x), y) for x, y in zip(xs[name], ys) if finite(x) and x > 0 and finite(y)]
                 if xs is not None else [(float(i), y) for i, y in enumerate(ys) if finite(y)]
                 for name, ys in series.items()}
    points = [p for pts in points_of.values() for p in pts]
    if not points:
        return ""
    low, high = min(y for _, y in points), max(y for _, y in points)
    high = high if high > low else low + 1
    first, last = min(x for x, _ in points), max(x for x, _ in points)
    last = last if last > first else first + 1
    left, right, top, bottom = 52, 10, 22, 28
    def x(v: float) -> float:
        return left + (width - left - right) * (v - first) / (last - first)
    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - low) / (high - low))
    colours = ("#4c78a8", "#e45756", "#54a24b", "#b279a2")
    parts = [f'<svg width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}" font-size="11" font-family="system-ui, sans-serif">',
             f'<text x="{left}" y="14" fill="#31333f">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#ccc"/>']
    for v in (low, (low + high) / 2, high):
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#6b6f7e">{v:.4g}</text>')
    if xs is None:
        parts.append(f'<text x="{width - right}" y="{height - 8}" text-anchor="end" fill="#6b6f7e">'
                     f'{html.escape(x_label)} {int(last) + 1}</text>')
    else:
        parts.append(f'<text x="{left}" y="{height - 8}" fill="#6b6f7e">{10 ** first:.3g}</text>')
        parts.append(f'<text x="{width - right}" y="{height - 8}" text-anchor="end" fill="#6b6f7e">'
                     f'{10 ** last:.3g} {html.escape(x_label)} (log scale)</text>')
    for k, (name, pts) in enumerate(points_of.items()):
        colour = colours[k % len(colours)]
        line = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in pts)
        dash = ' stroke-dasharray="5 3"' if xs is not None and k else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{line}"/>')
        parts.append(f'<text x="{left + 8 + 130 * k}" y="{top + 12}" fill="{colour}">— {html.escape(name)}</text>')
    return "".join(parts) + "</svg>"


def mnist_card(info) -> str:
    """An MNIST model's card: data, architecture, training, and the ELBO / IWAE figures with their protocol."""
    from dashboard import presentation

    meta = info.metadata
    metrics = meta.get("metrics", {})
    config = meta.get("train_config") or {}
    facts = [("Model", f"{info.name} · {presentation.model_variant(info)}"),
             ("Architecture", presentation.architecture_text(info)),
             ("Trained on", presentation.short_source(meta.get("data_source"))),
             ("Training", f"{meta.get('epochs_run', '?')} epochs in {meta.get('training_seconds', '?')} s"
                          + (f", batch {config['batch_size']}" if config.get("batch_size") else "")
                          + (f", learning rate {config['learning_rate']:g} ({config.get('lr_schedule', 'constant')})"
                             if isinstance(config.get("learning_rate"), (int, float)) else "")
                          + f", created {str(meta.get('created') or '')[:16].replace('T', ' ')}")]
    card = "<dl class=\"card\">" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts) + "</dl>"
    figures = []
    variational = info.vae_config.variational
    if not variational:  # an autoencoder: its loss is the reconstruction alone, with no ELBO or bound
        if isinstance(metrics.get("test_neg_elbo"), (int, float)):
            card += ("<h3>Reconstruction</h3>" + _table([{"figure": "test reconstruction loss (autoencoder: no ELBO)",
                                                          "nats": f"{metrics['test_neg_elbo']:.2f}"}]))
        metrics = {k: v for k, v in metrics.items() if k not in ("test_reconstruction", "test_kl", "test_iw_nll")}
    if isinstance(metrics.get("test_neg_elbo"), (int, float)) and variational:
        figures.append({"figure": "test −ELBO (single sample)", "nats": f"{metrics['test_neg_elbo']:.2f}"})
    if isinstance(metrics.get("test_reconstruction"), (int, float)):
        figures.append({"figure": "  of which reconstruction −log p(x|z)", "nats": f"{metrics['test_reconstruction']:.2f}"})
    if isinstance(metrics.get("test_kl"), (int, float)):
        figures.append({"figure": "  of which KL(q(z|x) ‖ p(z))", "nats": f"{metrics['test_kl']:.2f}"})
    if isinstance(metrics.get("test_iw_nll"), (int, float)):
        figures.append({"figure": f"test −log p(x) ≤ (IWAE, {metrics.get('iw_samples', '?'):,} draws per image)",
                        "nats": f"{metrics['test_iw_nll']:.2f}"})
    if figures:
        n_test = metrics.get("n_test")
        card += ("<h3>ELBO and IWAE</h3>" + _table(figures)
                 + f"<p class=\"note\">Protocol: continuous MNIST (pixels in [0, 1], summed Bernoulli cross-entropy over "
                   f"784 pixels), not binarized MNIST; averaged over {n_test:,} test images" if isinstance(n_test, int)
                 else "<p class=\"note\">Protocol: continuous MNIST (pixels in [0, 1], summed Bernoulli cross-entropy)")
        if figures:
            card += ("; the −ELBO with one draw of z per image, the importance-weighted bound with K draws from "
                     "q(z|x) (tighter as K grows)" + (f", computed in {metrics['iw_seconds']:g} s" if
                                                       isinstance(metrics.get("iw_seconds"), (int, float)) else "")
                     + ".</p>")
    history = meta.get("history") or {}
    if history.get("neg_elbo"):
        what = "−ELBO" if variational else "reconstruction loss"
        card += _curve_svg({f"training {what}": history.get("neg_elbo", []),
                            f"validation {what}": history.get("val_neg_elbo", [])}, f"{what} per epoch (nats)")
    card += ("<details><summary>Every stored metric</summary>"
             + _table(presentation.metrics_rows(metrics, info.vae_config.variational)) + "</details>")
    return card


def mnist_map_payload(vae, data, *, limit: int = MNIST_ROWS, method: str = "dims", dims: tuple[int, int] = (0, 1),
                      region: dict | None = None) -> tuple[dict[str, Any], str, Any]:
    """(the latent map's args with every blob as base64 and digit thumbnails, a note on the rows it
    shows, the μ of those rows)."""
    import numpy as np

    from dashboard.components.latent_map import (MapConfig, blob, categorical_colours, image_atlas, map_args,
                                                 map_geometry)
    from vae_core.latent import cached_projection, point_terms, sample_rows

    n = len(data.x_test)
    rows = sample_rows(n, limit, 0)
    x, labels = data.x_test[rows], data.y_test[rows].astype(np.int64)
    terms = point_terms(vae, x, labels)
    if vae.vae_config.latent_dim < 3:
        method = "dims"
    projection = cached_projection(terms.mu, method, dims)
    geometry = map_geometry(projection)
    colour, legend = categorical_colours(labels, [str(d) for d in range(10)], list(CLASS_COLOURS), "digit")
    reconstructions = vae.decode(terms.mu, labels if vae.conditional else None).reshape(len(rows), 28, 28)
    atlas, layout = image_atlas(x.reshape(len(rows), 28, 28))
    recon, _ = image_atlas(reconstructions, layout["columns"])
    blobs = {**geometry.blobs, "colour": colour, "labels": blob(labels.astype(np.uint8)),
             "error": blob(terms.reconstruction.astype(np.float32)), "kl": blob(terms.kl.astype(np.float32)),
             "atlas": atlas, "recon": recon}
    config = MapConfig(n=len(rows), kind="mnist", axis_titles=projection.axis_titles, bounds=geometry.bounds,
                       view_id=f"report|{method}|{dims}", legend=legend, class_names=[str(d) for d in range(10)],
                       selection=region, prior=geometry.prior, density=geometry.density, atlas=layout)
    args = map_args(blobs, config, {})
    for name in blobs:
        args[f"blob_{name}"] = _b64(args[f"blob_{name}"])
    note = (f"The map shows {len(rows):,} of the {n:,} test digits, a random sample (seed 0), so that the file stays "
            "small; hover a point for the digit and its reconstruction." if len(rows) < n else
            f"The map shows all {n:,} test digits; hover a point for the digit and its reconstruction.")
    return _finite(args), note, terms.mu


def scrub_payload(vae) -> dict[str, Any]:
    """The scrub decoder's args with a dense decoder's weights inline as float16 (half the bytes;
    the parent script turns them back into the float32 the scrub reads)."""
    import numpy as np

    from dashboard.components.latent_scrub import scrub_args

    args = scrub_args(vae, None, dims=(0, 1), extent=4.0, label=0 if vae.conditional else None)
    for layer in args["decoder"].get("layers", []):
        for part in ("kernel", "bias"):
            values = np.frombuffer(base64.b64decode(layer.pop(part)), "<f4")
            layer[f"{part}_f16"] = _b64(values.astype("<f2").tobytes())
    return args


def mnist_report(info, loaded, data, *, limit: int = MNIST_ROWS, method: str = "dims", dims: tuple[int, int] = (0, 1),
                 region: dict | None = None) -> str:
    """The report (HTML text) on MNIST model `info`/`loaded` over the test split of `data`: its card
    with the ELBO and IWAE figures, the latent map with digit thumbnails, the scrub decoder and prior samples."""
    import datetime

    import numpy as np

    from vae_core.latent import mosaic

    vae = loaded.vae
    config = vae.vae_config
    map_args_, note, _ = mnist_map_payload(vae, data, limit=limit, method=method, dims=dims, region=region)
    payload: dict[str, Any] = {"map": map_args_, "map_html": _frontend("latent_map")}
    scrub_note = ""
    if config.latent_dim >= 2:
        payload["scrub"] = scrub_payload(vae)
        payload["scrub_html"] = _frontend("latent_scrub")
        scrub_note = ("Drag on the plane (z0, z1; the other dims at 0) and the decoder redraws the digit in this "
                      "file, as on the Decoder page." + (" Its weights are stored here as float16, so a pixel can "
                                                          "differ from the app's by about a thousandth."
                                                          if "layers" in payload["scrub"]["decoder"] else ""))
    z = np.random.default_rng(0).standard_normal((PRIOR_SAMPLES, config.latent_dim)).astype(np.float32)
    labels = np.arange(PRIOR_SAMPLES) % 10 if vae.conditional else None
    samples = vae.decode(z, labels).reshape(PRIOR_SAMPLES, 28, 28)
    prior = (f'<img src="{_png(mosaic(samples, 16))}" alt="prior samples" width="{16 * 28 * 2}" '
             f'style="image-rendering: pixelated; max-width: 100%">')
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    scrub = "" if "scrub" not in payload else (f'<h2>Decoder</h2><p class="sub">{html.escape(scrub_note)}</p>'
                                               '<div id="scrub-slot"></div>')
    body = f"""<h2>Model card</h2>
{mnist_card(info)}
<h2>Latent space</h2>
<p class="sub">Each test digit's μ, coloured by digit. Drag to pan, scroll to zoom, click legend entries to hide a digit.
{html.escape(note)}</p>
<div id="map-slot"></div>
{scrub}
<h2>Prior samples</h2>
<p class="sub">{PRIOR_SAMPLES} draws of z ~ N(0, I) (seed 0), decoded to p(x | z)'s mean{" (labels 0–9 in turn)" if vae.conditional else ""}{"" if config.variational else
"; an autoencoder has no prior, so these show what its decoder makes of such draws"}.</p>
{prior}"""
    return _shell(f"{info.name}: MNIST model report", created, body, payload)


_STYLE = """
:root { --fg: #31333f; --muted: #6b6f7e; --line: #e6e7eb; --accent: #4c78a8; }
body { margin: 0 auto; max-width: 1180px; padding: 16px 24px 48px; color: var(--fg);
       font: 15px/1.45 "Source Sans Pro", "Source Sans 3", system-ui, sans-serif; }
h1 { font-size: 28px; margin: 8px 0 2px; } h2 { font-size: 21px; margin: 28px 0 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 16px 0 4px; }
.note, .sub { color: var(--muted); font-size: 13px; }
dl.card { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 8px 0; }
dl.card dt { color: var(--muted); } dl.card dd { margin: 0; }
table { border-collapse: collapse; margin: 6px 0; font-variant-numeric: tabular-nums; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: left; }
th { color: var(--muted); font-weight: normal; }
iframe { width: 100%; border: 0; display: block; }
#decision { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 6px 16px; margin: 8px 0; }
#decision .label { color: var(--muted); font-size: 13px; } #decision .value { font-size: 20px; font-variant-numeric: tabular-nums; }
input[type=number] { font: inherit; width: 9em; padding: 2px 4px; }
details { margin: 6px 0; }
"""

_SCRIPT = r"""
"use strict";
(function () {
  const P = JSON.parse(document.getElementById("report-data").textContent);
  const bytes = function (b64) { const s = atob(b64), out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i); return out; };
  const base64 = function (u8) { let text = ""; for (let i = 0; i < u8.length; i += 8192) text += String.fromCharCode.apply(null, u8.subarray(i, i + 8192)); return btoa(text); };
  const $ = function (id) { return document.getElementById(id); };
  window.__report = { frames: {} };

  function general(x, digits) {
    if (x === 0) return "0";
    const parts = x.toExponential(digits - 1).split("e"), exponent = Number(parts[1]);
    const strip = function (s) { return s.indexOf(".") < 0 ? s : s.replace(/0+$/, "").replace(/\.$/, ""); };
    if (exponent < -4 || exponent >= digits) return strip(parts[0]) + "e" + (exponent < 0 ? "-" : "+") + String(Math.abs(exponent)).padStart(2, "0");
    return strip(x.toFixed(Math.max(0, digits - 1 - exponent)));
  }
  const grouped = function (x, d) { return x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }); };

  // --- Streamlit's part of the component protocol -------------------------------------------------
  const frames = {};
  function mount(id, doc, args) {
    const frame = document.createElement("iframe");
    frame.id = id; frame.title = id; frame.setAttribute("sandbox", "allow-scripts");
    frame.srcdoc = doc;
    $(id + "-slot").appendChild(frame);
    frames[id] = { frame: frame, args: args };
    window.__report.frames[id] = { ready: false, heights: 0, values: 0 };
  }
  function render(id) {
    const f = frames[id];
    const args = id === "map" ? decodeMapArgs(f.args) : f.args;
    f.frame.contentWindow.postMessage({ type: "streamlit:render", args: args, dfs: [], disabled: false,
                                        theme: { base: "light" } }, "*");
  }
  window.addEventListener("message", function (event) {
    const data = event.data;
    if (!data || !data.isStreamlitMessage) return;
    const id = Object.keys(frames).find(function (k) { return frames[k].frame.contentWindow === event.source; });
    if (!id) return;
    const info = window.__report.frames[id];
    if (data.type === "streamlit:componentReady") { info.ready = true; render(id); }
    else if (data.type === "streamlit:setFrameHeight") { info.heights++; frames[id].frame.style.height = data.height + "px"; }
    else if (data.type === "streamlit:setComponentValue") { info.values++; onValue(id, data.value); }
  });
  function decodeMapArgs(m) {
    const out = Object.assign({}, m);
    Object.keys(m).forEach(function (k) { if (k.indexOf("blob_") === 0) out[k] = bytes(m[k]); });
    return out;
  }

  // --- the fraud report: the decision in force follows the explorer's releases ---------------------
  const D = P.decision, state = D ? { threshold: D.threshold, alerts: D.alerts, fn: D.fn, released: 0 } : null;
  window.__report.state = state;
  let arrays = null;
  if (P.explorer) {
    const explorerData = bytes(P.explorer.data_b64);
    const types = { f8: Float64Array, f4: Float32Array, i4: Int32Array };
    arrays = {};
    Object.keys(P.explorer.layout).forEach(function (name) {
      const spec = P.explorer.layout[name];
      arrays[name] = new types[spec[0]](explorerData.slice().buffer, spec[1], spec[2]);
    });
    P.explorer.data = explorerData;
    delete P.explorer.data_b64;
  }
  // The alert rate at the threshold: as sampled (alerts / rows), and at the deployment prevalence
  // (recall × p + false-positive rate × (1 − p)) when the rows are labelled.
  function rates() {
    const out = { sampled: state.alerts / D.n };
    if (D.prevalence !== null && D.n_pos !== null && state.fn !== null) {
      const tp = D.n_pos - state.fn, fp = state.alerts - tp;
      out.recall = tp / D.n_pos; out.fpr = fp / (D.n - D.n_pos);
      out.deployed = D.prevalence * out.recall + (1 - D.prevalence) * out.fpr;
    }
    return out;
  }
  function showDecision() {
    const volume = Math.max(0, Number($("volume").value) || 0), r = rates();
    $("d-threshold").textContent = general(state.threshold, 6);
    $("d-how").textContent = state.released ? "set by dragging in this file (" + D.how + " before)" : D.how;
    const rate = r.deployed !== undefined ? r.deployed : r.sampled;
    $("d-rate").textContent = grouped(100 * rate, 3) + "%";
    $("d-rate-where").textContent = r.deployed !== undefined ? "at the deployment prevalence " + grouped(100 * D.prevalence, 3) + "%" : "as sampled";
    $("d-per-day").textContent = grouped(volume * rate, 1);
    $("d-sampled").textContent = grouped(state.alerts, 0) + " of " + grouped(D.n, 0) + " rows (" + grouped(100 * r.sampled, 2) + "%)";
  }
  function onValue(id, value) {
    if (id !== "explorer" || !value || typeof value.threshold !== "number") return;  // the map's selections stay in the map
    const k = arrays.stops.indexOf(value.threshold);
    if (k < 0) return;
    state.threshold = value.threshold; state.alerts = arrays.alerts[k]; state.fn = arrays.fn ? arrays.fn[k] : null;
    state.released++;
    showDecision();
    if (frames.map) recolour();
  }
  // The map's outcome colours at the released threshold, as vae_core.tables.fraud_analysis.outcome_codes.
  function recolour() {
    const m = frames.map.args;
    if (!m.legend || m.legend.names.length !== 4) return;
    const error = new Float32Array(bytes(m.blob_error).buffer), labels = bytes(m.blob_labels);
    const codes = new Uint8Array(error.length), counts = [0, 0, 0, 0];
    for (let i = 0; i < error.length; i++) {
      const flagged = error[i] >= state.threshold, positive = labels[i] === 1;
      codes[i] = flagged ? (positive ? 0 : 1) : (positive ? 2 : 3);
      counts[codes[i]]++;
    }
    m.blob_colour = base64(codes);
    m.ids = Object.assign({}, m.ids, { colour: "outcome-" + state.threshold });
    m.legend = Object.assign({}, m.legend, { counts: counts, title: "outcome at threshold " + general(state.threshold, 4) });
    m.threshold = state.threshold;
    render("map");
  }

  // --- the MNIST report: the decoder's weights travel as float16, the scrub reads float32 ----------
  function float16To32(b64) {
    const b = bytes(b64), h = new Uint16Array(b.buffer, 0, b.length / 2), f = new Float32Array(h.length);
    for (let i = 0; i < h.length; i++) {
      const x = h[i], sign = x & 0x8000 ? -1 : 1, e = (x >> 10) & 31, m = x & 1023;
      f[i] = e === 0 ? sign * m * Math.pow(2, -24) : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * Math.pow(2, e - 15);
    }
    return base64(new Uint8Array(f.buffer));
  }
  if (P.scrub && P.scrub.decoder.layers) {
    P.scrub.decoder.layers.forEach(function (layer) {
      if (layer.kernel_f16) { layer.kernel = float16To32(layer.kernel_f16); delete layer.kernel_f16; }
      if (layer.bias_f16) { layer.bias = float16To32(layer.bias_f16); delete layer.bias_f16; }
    });
  }

  if (P.explorer) mount("explorer", P.explorer_html, P.explorer);
  if (P.map) mount("map", P.map_html, P.map);
  if (P.scrub) mount("scrub", P.scrub_html, P.scrub);
  if (D) { $("volume").addEventListener("input", showDecision); showDecision(); }
})();
"""


def _shell(title: str, created: str, body: str, payload: dict[str, Any]) -> str:
    """The page around `body`: style, the inline data and the parent script."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; frame-src 'self' about: data:; child-src 'self' about: data:">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="sub">Written by VAE Latent Explorer on {html.escape(created)}. Everything is in this one file: it needs no
server and fetches nothing.</p>
{body}
<script type="application/json" id="report-data">{_script_json(payload)}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def _page(name: str, created: str, card: str, map_note: str, payload: dict[str, Any], robustness: str) -> str:
    d = payload["decision"]
    costs = (f"€{d['review_fee']:,.2f}".replace(".00", "") + " per alert reviewed; a missed "
             f"{d['names'][1]} costs {d['fraud_cost']}")
    best = "" if d.get("best") is None else (f" The lowest cost on these rows is at threshold {d['best'][0]:.6g} "
                                              f"(€{d['best'][1]:,.0f}).")
    labelled = d.get("n_pos") is not None
    colouring = ("coloured by its outcome at the threshold in force (it follows a release in the explorer)" if labelled
                 else "in one colour: these rows have no labels, so their outcomes (TP, FP, FN, TN) are unknown")
    map_section = "" if "map" not in payload else f"""
<h2>Latent space{" by outcome" if labelled else ""}</h2>
<p class="sub">Each row's μ, {colouring}.
Hover a point for its row, score, KL and largest feature errors; drag to pan, scroll to zoom, click legend entries to hide
{"an outcome" if labelled else "a class"}. {html.escape(map_note)}</p>
<div id="map-slot"></div>"""
    body = f"""<h2>Model card</h2>
{card}
<h2>Threshold explorer</h2>
<p class="sub">Drag on the score histogram (or focus it and use the arrow keys): the counts, the confusion matrix,
precision, recall, the false-positive rate, the cost and the ROC / PR operating points follow, as sampled and at the
deployment prevalence. Releasing sets the decision below.</p>
<div id="explorer-slot"></div>
<h2>The decision in force</h2>
<div id="decision">
  <div><div class="label">Threshold</div><div class="value" id="d-threshold"></div><div class="note" id="d-how"></div></div>
  <div><div class="label">Alert rate</div><div class="value" id="d-rate"></div><div class="note" id="d-rate-where"></div></div>
  <div><div class="label"><label for="volume">Transactions per day</label></div>
       <input type="number" id="volume" min="0" step="1000" value="{int(d['volume'])}"></div>
  <div><div class="label">Expected alerts per day</div><div class="value" id="d-per-day"></div></div>
  <div><div class="label">Flagged in this report's rows</div><div class="value" id="d-sampled" style="font-size:15px"></div></div>
</div>
<p class="sub">Costs: {html.escape(costs)}.{html.escape(best)}</p>
{robustness}
{map_section}"""
    return _shell(f"{name}: fraud model report", created, body, payload)
