"""Command-line interface. Argument parsing imports nothing heavy, so `--help` is instant;
TensorFlow is imported only by the command that needs it."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from vae_core.config import ACTIVATIONS, DATASETS
from vae_core.errors import VAEError
from vae_core import tf_import
from vae_core.tf_import import import_tensorflow


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (plus the usage hint), exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number ≥ minimum, else a one-line message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number of at least {minimum}, got {value}")
        return value

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _prevalence(text: str) -> float:
    """An argparse type: a share of positives strictly between 0 and 1."""
    value = _finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction strictly between 0 and 1 (0.00172 for 0.172%), "
                                         f"got {text!r}")
    return value


def _units(text: str) -> tuple[int, ...]:
    from vae_core.config import parse_hidden_units
    from vae_core.errors import ConfigError

    try:
        return parse_hidden_units(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _defaults(setting: str) -> str:
    """'default: 2 for MNIST, 8 for fraud', read from the one table of defaults."""
    from vae_core.config import MODEL_DEFAULTS, TRAIN_DEFAULTS

    def value(dataset: str):
        found = MODEL_DEFAULTS[dataset].get(setting, getattr(TRAIN_DEFAULTS[dataset], setting, None))
        return ",".join(map(str, found)) if isinstance(found, tuple) else found

    return f"default: {value('mnist')} for MNIST, {value('fraud')} for fraud"


def build_parser() -> argparse.ArgumentParser:
    verbose = _Parser(add_help=False)
    verbose.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="also show TensorFlow's start-up and logging lines")
    parser = _Parser(prog="vae-explorer", description="Train, evaluate and use VAEs for MNIST and credit-card fraud.",
                     parents=[verbose])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_registry(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--models-dir", help="registry folder (default: $VAE_MODELS_DIR or ./models)")
        return sub

    train = with_registry(commands.add_parser("train", parents=[verbose], help="train a VAE and save it in the registry"))
    train.add_argument("--dataset", required=True, choices=DATASETS)
    train.add_argument("--name", required=True, help="model name: letters, digits, '-' and '_'")
    train.add_argument("--data", help="MNIST folder or mnist.npz; fraud CSV (default: first available source)")
    train.add_argument("--arch", choices=("dense", "conv"), default="dense", help="encoder/decoder type (conv: MNIST only)")
    train.add_argument("--latent-dim", type=_positive_int, help=_defaults("latent_dim"))
    train.add_argument("--hidden", type=_units, help=f"dense layer sizes ({_defaults('hidden_units')})")
    train.add_argument("--epochs", type=_positive_int, help=_defaults("epochs"))
    train.add_argument("--batch-size", type=_positive_int, help=_defaults("batch_size"))
    train.add_argument("--learning-rate", type=_finite_float, help=_defaults("learning_rate"))
    train.add_argument("--lr-schedule", choices=("constant", "cosine"), help=_defaults("lr_schedule"))
    train.add_argument("--weight-decay", type=_finite_float, help="AdamW weight decay (default 0: plain Adam)")
    train.add_argument("--decoder-hidden", type=_units, help="dense decoder layer sizes from z out (default: the encoder's reversed)")
    train.add_argument("--free-bits", type=_finite_float, help="nats per latent dim under which KL is not penalised (default 0)")
    train.add_argument("--encoder-dropout", type=_finite_float, help="dropout after each dense encoder layer while training (default 0)")
    train.add_argument("--activation", choices=ACTIVATIONS, help="hidden layers' nonlinearity (default relu; silu = x·sigmoid(x))")
    train.add_argument("--beta", type=_finite_float, default=1.0, help="weight of the KL term")
    train.add_argument("--kl-warmup", type=_non_negative_int, default=0, metavar="EPOCHS", help="ramp β from 0 over this many epochs")
    train.add_argument("--model-type", choices=("vae", "ae"), default="vae",
                       help="vae, or ae: a plain autoencoder with the same shapes (MNIST only)")
    train.add_argument("--conditional", action="store_true",
                       help="MNIST: condition encoder and decoder on the digit label (a conditional VAE)")
    train.add_argument("--likelihood", choices=("bernoulli", "gaussian"),
                       help=f"{_defaults('likelihood')}; fraud models are always gaussian")
    train.add_argument("--patience", type=_non_negative_int,
                       help=f"early-stopping patience in epochs, 0 = off ({_defaults('early_stopping_patience')})")
    train.add_argument("--seed", type=_non_negative_int, default=0)
    train.add_argument("--strategy", choices=("default", "mirrored", "multi_worker"), default="default",
                       help="tf.distribute strategy")
    train.add_argument("--label-column", default="Class", help="fraud: label column name")
    train.add_argument("--positive", default="1", help="fraud: label value that marks fraud")
    train.add_argument("--deploy-prevalence", type=_prevalence, metavar="P",
                       help="fraud: share of positives where the model will be deployed; thresholds are chosen "
                            "at it (default: 0.00172 for the credit-card schema, else the training data's share)")
    train.add_argument("--json", action="store_true", help="print the result as JSON")

    evaluate = with_registry(commands.add_parser("evaluate", parents=[verbose], help="evaluate a saved model on test data"))
    evaluate.add_argument("--name", required=True)
    evaluate.add_argument("--data", help="MNIST folder or fraud CSV (default: the source it was trained on)")
    evaluate.add_argument("--threshold", type=_finite_float, help="fraud: evaluate at this threshold instead of the model's")
    evaluate.add_argument("--label-column", help="fraud: label column name (default: the model's training one)")
    evaluate.add_argument("--positive", help="fraud: label value that marks fraud (default: the model's)")
    evaluate.add_argument("--deploy-prevalence", type=_prevalence, metavar="P",
                          help="fraud: report expected figures at this share of positives (default: the model's)")
    evaluate.add_argument("--iw-samples", type=_non_negative_int, metavar="K",
                          help="MNIST: importance samples per test image for the likelihood bound (default 1000, 0 = skip)")
    evaluate.add_argument("--json", action="store_true")

    listing = with_registry(commands.add_parser("list", parents=[verbose], help="list saved models"))
    listing.add_argument("--json", action="store_true")

    delete = with_registry(commands.add_parser("delete", parents=[verbose], help="delete a saved model"))
    delete.add_argument("--name", required=True)

    score = with_registry(commands.add_parser("score", parents=[verbose], help="score a transactions CSV with a fraud model, in chunks"))
    score.add_argument("--name", required=True)
    score.add_argument("--input", required=True, help="CSV with the model's feature columns (label optional)")
    score.add_argument("--output", required=True, help="CSV to write: the input's columns plus score and flag")
    choice = score.add_mutually_exclusive_group()
    choice.add_argument("--threshold", type=_finite_float, help="flag scores at or above this (default: the model's)")
    choice.add_argument("--strategy", help="use a threshold strategy stored with the model (e.g. max_f1)")
    score.add_argument("--scorer", default="VAE",
                       help="VAE (default) or a baseline stored with the model, e.g. IsolationForest, at its own "
                            "validated threshold (see `evaluate --json`'s advice)")
    score.add_argument("--chunk-size", type=_positive_int, default=20_000, help="rows per chunk (memory vs speed)")

    rethreshold = with_registry(commands.add_parser(
        "threshold", parents=[verbose], help="fraud: choose a saved model's threshold again, e.g. at another "
                                             "deployment prevalence (no retraining)"))
    rethreshold.add_argument("--name", required=True)
    rethreshold.add_argument("--data", help="the CSV the model trained on (default: its recorded source)")
    rethreshold.add_argument("--deploy-prevalence", type=_prevalence, metavar="P",
                             help="share of positives to decide at (default: the model's)")
    rethreshold.add_argument("--strategy", help="threshold strategy (default: the model's), e.g. min_cost or max_f1")
    rethreshold.add_argument("--json", action="store_true")

    drift = with_registry(commands.add_parser(
        "drift", parents=[verbose], help="fraud: compare a new batch with the model's validation rows (scores, "
                                         "alert rate, features)"))
    drift.add_argument("--name", required=True)
    drift.add_argument("--input", required=True, help="CSV of the new batch (a label column is optional)")
    drift.add_argument("--output", help="also write the report as JSON here (not overwritten)")
    drift.add_argument("--data", help="the CSV the model trained on (default: its recorded source)")
    drift.add_argument("--threshold", type=_finite_float, help="the threshold in force (default: the model's)")
    drift.add_argument("--label-column", help="label column of the batch (default: the model's training one)")
    drift.add_argument("--positive", help="label value that marks fraud (default: the model's)")
    drift.add_argument("--chunk-size", type=_positive_int, default=50_000,
                       help="rows read at a time: the batch is streamed, so it may be larger than memory")
    drift.add_argument("--json", action="store_true")

    export = with_registry(commands.add_parser("export", parents=[verbose], help="write a saved model as a zip"))
    export.add_argument("--name", required=True)
    export.add_argument("--output", required=True, help="zip file to write (not overwritten)")

    imported = with_registry(commands.add_parser("import", parents=[verbose], help="add a model zip to the registry (checked first)"))
    imported.add_argument("--zip", required=True, help="a zip written by `export` or the Models page")
    imported.add_argument("--name", help="name for the model (default: the folder name inside the zip)")
    _add_plugin_commands(commands)
    return parser


PLUGIN_GROUP = "vae_explorer.commands"


def _add_plugin_commands(commands: argparse._SubParsersAction) -> None:
    """Subcommands other packages declare under the entry-point group "vae_explorer.commands": each
    entry is a function that adds its subparser to `commands` and returns the handler (args → exit
    status). This is how `report` (dashboard.report) joins the CLI without the engine importing the
    dashboard. A plugin that fails to load is named on stderr; the other commands still work."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        if entry.name in COMMANDS or entry.name in commands.choices:
            continue
        try:
            handler = entry.load()(commands)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the CLI down
            print(f"warning: the {entry.name!r} command could not be loaded: {_one_line(exc)}", file=sys.stderr)
            continue
        if entry.name in commands.choices:
            commands.choices[entry.name].set_defaults(_handler=handler)


def _progress_bar(total_label: str) -> tuple[Callable[[Any], None], Callable[[], None]]:
    """A tqdm bar fed by ProgressEvents on stderr, drawn from the first event (so a run that fails
    while loading data prints only its error); returns (callback, close)."""
    from tqdm import tqdm

    bars = []

    def update(event) -> None:
        if not bars:
            bars.append(tqdm(total=1000, desc=total_label, unit="‰", file=sys.stderr, dynamic_ncols=True,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}"))
        bar = bars[0]
        bar.n = int(event.fraction * 1000)
        loss = event.val_losses.get("neg_elbo") or event.losses.get("neg_elbo")
        bar.set_postfix_str(f"epoch {event.epoch}/{event.epochs} loss {loss:.2f} ETA {event.eta_seconds:.0f}s"
                            if loss is not None else f"epoch {event.epoch}/{event.epochs}")

    def close() -> None:
        for bar in bars:
            bar.close()

    return update, close


def _print(payload: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(payload, indent=2, default=str))
    elif isinstance(payload, dict):
        for key, value in payload.items():
            print(f"{key}: {value}")
    else:
        print(payload)


def cmd_train(args: argparse.Namespace) -> int:
    from vae_core import sources
    from vae_core.config import build_configs
    from vae_core.registry import check_new_name, ensure_models_dir

    settings = dict(
        architecture=args.arch, latent_dim=args.latent_dim, hidden_units=args.hidden,
        likelihood=args.likelihood, beta=args.beta, kl_warmup_epochs=args.kl_warmup, model_type=args.model_type,
        num_classes=10 if args.conditional else None, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, early_stopping_patience=args.patience, seed=args.seed,
        strategy=args.strategy, lr_schedule=args.lr_schedule, weight_decay=args.weight_decay,
        decoder_hidden_units=args.decoder_hidden, free_bits=args.free_bits, encoder_dropout=args.encoder_dropout,
        activation=args.activation)
    vae_config, train_config = build_configs(args.dataset, **settings)
    ensure_models_dir(args.models_dir)  # a bad folder, a taken name or bad data fails now, in a second,
    check_new_name(args.name, args.models_dir)  # not after TensorFlow's start-up or the training
    if args.dataset == "mnist":
        data = sources.mnist("path" if args.data else "auto", args.data)
    else:
        data = sources.transactions(args.data, label_column=args.label_column, positive=args.positive)
        from vae_core.tables.fraud import model_features

        # unset fraud settings follow the table's shape (config.fraud_model_defaults)
        vae_config, train_config = build_configs("fraud", n_features=len(model_features(data.feature_names)),
                                                 **settings)
    import_tensorflow(args.verbose)
    cancel = threading.Event()
    update, close = _progress_bar(f"train {args.name}")
    try:
        if args.dataset == "mnist":
            from vae_core.images.mnist import train_mnist

            outcome = train_mnist(args.name, vae_config, train_config, data=data, models_dir=args.models_dir,
                                  on_progress=update, cancel=cancel)
        else:
            from vae_core.tables.fraud import train_fraud

            outcome = train_fraud(args.name, data, vae_config, train_config, models_dir=args.models_dir,
                                  deploy_prevalence=args.deploy_prevalence, on_progress=update, cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        print("interrupted: nothing was saved", file=sys.stderr)
        return 130
    finally:
        close()
    summary = {"name": args.name, "saved_to": str(outcome.saved_to), "data_source": outcome.metadata["data_source"],
               "epochs_run": outcome.metadata["epochs_run"], "training_seconds": outcome.metadata["training_seconds"],
               **outcome.metrics}
    _print(summary, args.json)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vae_core import sources
    from vae_core.registry import check_model, load_model

    check_model(args.name, args.models_dir)  # a missing or broken model is named before TensorFlow starts
    loaded = load_model(args.name, args.models_dir)
    if loaded.kind == "mnist":
        from vae_core.images.mnist import evaluate_mnist

        options = {"choice": "path", "path": args.data} if args.data else loaded.metadata.get("data_options")
        iw = {} if args.iw_samples is None else {"iw_samples": args.iw_samples}
        result = evaluate_mnist(loaded.vae, sources.mnist(**(options or {"choice": "auto"})), **iw)
    else:
        from vae_core.tables.advice import advice
        from vae_core.tables.fraud import FraudModel, evaluate_fraud

        model = FraudModel.from_loaded(loaded)
        label_column, positive = args.label_column or model.label_column, args.positive or model.positive
        data = (sources.transactions(args.data, label_column=label_column, positive=positive) if args.data
                else sources.view_transactions(model.info.get("data", {}), model_folder=loaded.path,
                                               label_column=label_column,
                                               positive=positive))
        result = evaluate_fraud(model, data, args.threshold, args.deploy_prevalence)
        result["advice"] = [item["text"] for item in advice(loaded.metadata.get("metrics", {}).get("validation_comparison"))]
    _print({"name": args.name, **result}, args.json)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from vae_core.registry import list_models

    entries = [info.to_dict() for info in list_models(args.models_dir)]
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return 0
    if not entries:
        print("no models (train one with `vae-explorer train --dataset mnist --name my-model`)")
    for entry in entries:
        if entry["valid"]:
            print(f"{entry['name']}: {entry['dataset']} latent {entry['latent_dim']} {entry['architecture']}, "
                  f"{entry['epochs']} epochs")
        else:
            print(f"{entry['name']}: BROKEN ({entry['error']})")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from vae_core.registry import delete_model

    delete_model(args.name, args.models_dir)
    print(f"deleted {args.name}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from vae_core.tables.fraud import check_score_paths, score_csv
    from vae_core.registry import check_model, load_model

    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    check_score_paths(args.input, args.output)  # cheap: before TensorFlow loads the model
    check_model(args.name, args.models_dir)
    loaded = load_model(args.name, args.models_dir)
    # One BLAS thread: a chunk's products are small (20,000 × 30 × 64), so a second thread gains
    # nothing and spins against Arrow's reader and writer (284,807 rows: 3.4–3.7 s wall, not 3.9–4.6).
    with threadpool_limits(limits=1, user_api="blas"), \
            tqdm(total=100, desc=f"score {args.name}", unit="%", file=sys.stderr) as bar:
        def update(fraction: float) -> None:
            bar.n = int(fraction * 100)
            bar.refresh()

        summary = score_csv(loaded, args.input, args.output, threshold=args.threshold,
                            strategy=args.strategy, chunk_size=args.chunk_size, on_progress=update,
                            scorer=args.scorer)
    _print(summary, False)
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    from vae_core import sources
    from vae_core.tables.drift import check_drift_csv
    from vae_core.errors import DataError
    from vae_core.tables.fraud import FraudModel
    from vae_core.registry import check_model, load_model

    output = Path(os.path.expanduser(args.output)) if args.output else None
    if output is not None and output.exists():
        raise DataError(f"{output} exists; choose a new file for the report (it is never overwritten).")
    check_model(args.name, args.models_dir)
    loaded = load_model(args.name, args.models_dir)
    if loaded.kind != "fraud":
        raise DataError(f"{args.name} is an MNIST model; the drift check compares transactions for a fraud model.")
    model = FraudModel.from_loaded(loaded)
    label_column, positive = args.label_column or model.label_column, args.positive or model.positive
    reference = (sources.transactions(args.data, label_column=model.label_column, positive=model.positive)
                 if args.data else sources.view_transactions(model.info.get("data", {}), model_folder=loaded.path))
    report = {"name": args.name, **check_drift_csv(model, reference, os.path.expanduser(args.input),
                                                   label_column=label_column, positive=positive,
                                                   threshold=args.threshold, chunk_size=args.chunk_size)}
    if output is not None:
        partial = output.with_name(f".{output.name}.{os.getpid()}.part")
        try:
            partial.write_text(json.dumps(report, indent=2) + "\n")
            os.link(partial, output)  # fails if the file appeared meanwhile: never overwritten
        finally:
            partial.unlink(missing_ok=True)
    if args.json:
        _print(report, True)
    else:
        print(("DRIFTED" if report["drifted"] else "no drift") + f": {report['compared']}.")
        for verdict in report["verdicts"].values():
            print(f"- {verdict}")
        moved = ", ".join(f"{f['name']} (KS {f['ks']:.2f})" for f in report["features"][:5])
        print(f"- The features that moved most: {moved}.")
        if "metrics" in report:
            m = report["metrics"]
            print(f"- On its labels: precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
                  f"ROC AUC {m['roc_auc']:.3f}.")
        if "unknowable" in report:
            print(f"- {report['unknowable']}")
        if output is not None:
            print(f"report written to {output}")
    return 0


def cmd_threshold(args: argparse.Namespace) -> int:
    from vae_core import sources
    from vae_core.errors import ConfigError
    from vae_core.registry import check_model, load_model
    from vae_core.tables.thresholds import STRATEGIES

    info = check_model(args.name, args.models_dir)
    if info.kind != "fraud":
        raise ConfigError(f"Model {args.name!r} is an {info.kind} model; only fraud models have a threshold.")
    if args.strategy is not None and args.strategy not in STRATEGIES:
        raise ConfigError(f"Unknown threshold strategy {args.strategy!r}; choose one of: {', '.join(STRATEGIES)}.")
    from vae_core.tables.fraud import FraudModel, rechoose_threshold

    loaded = load_model(args.name, args.models_dir)
    model = FraudModel.from_loaded(loaded)
    options = {"label_column": model.label_column, "positive": model.positive}
    data = (sources.transactions(args.data, **options) if args.data
            else sources.view_transactions(model.info.get("data", {}), model_folder=loaded.path, **options))
    result = rechoose_threshold(loaded, data, deploy_prevalence=args.deploy_prevalence, strategy=args.strategy,
                                models_dir=args.models_dir)
    _print({"name": args.name, **result}, args.json)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from vae_core.archive import export_zip
    from vae_core.errors import RegistryError

    target = os.path.abspath(os.path.expanduser(args.output))
    if os.path.exists(target):
        raise RegistryError(f"{target} already exists; give a new file name.")
    if not os.path.isdir(os.path.dirname(target)):
        raise RegistryError(f"Output folder {os.path.dirname(target)} does not exist.")
    data = export_zip(args.name, args.models_dir)
    with open(target, "xb") as handle:  # "x": never replaces a file that appeared meanwhile
        handle.write(data)
    print(f"exported {args.name} to {target}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from vae_core.archive import check_zip, import_zip, too_big
    from vae_core.errors import RegistryError

    path = os.path.expanduser(args.zip)
    if os.path.isdir(path):
        raise RegistryError(f"{path} is a folder; give the path of a model zip.")
    if not os.path.isfile(path):
        raise RegistryError(f"There is no file at {path}; give the path of a model zip.")
    too_big(os.path.getsize(path), path)
    with open(path, "rb") as handle:
        data = handle.read()
    check_zip(data, args.name, args.models_dir)  # what is wrong with the zip, before anything is written
    info = import_zip(data, args.name, args.models_dir)
    print(f"imported {info.name} into {info.path.parent}")
    return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train, "evaluate": cmd_evaluate, "list": cmd_list, "delete": cmd_delete, "score": cmd_score,
    "threshold": cmd_threshold, "drift": cmd_drift, "export": cmd_export, "import": cmd_import,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.verbose = getattr(args, "verbose", False)
    tf_import.show_start_up_lines(args.verbose)
    try:
        return (getattr(args, "_handler", None) or COMMANDS[args.command])(args)
    except (VAEError, OSError, ValueError) as exc:  # bad input or files: the message says what to do
        print(f"error: {_one_line(exc)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, details on request
        if os.environ.get("VAE_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (set VAE_DEBUG=1 to see the traceback)",
              file=sys.stderr)
    return 1
