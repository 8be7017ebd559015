"""Train: pick data and settings, watch training live (progress, ETA, losses, samples), cancel, save."""

import math

import streamlit as st

from dashboard import figures, loaders, presentation, widgets
from dashboard.navigation import page_path
from vae_core import jobs, registry, sources
from vae_core.config import MAX_SEED, MODEL_DEFAULTS, TRAIN_DEFAULTS, build_configs
from vae_core.errors import ConfigError, DataError

JOB = "train_job"  # session key: this user's TrainingJob
_REFRESHED = "_train_job_refreshed"  # id of the finished job the page has already refreshed for
_CLEAR_NAME = "_train_clear_name"  # set after a save: empty the name box before it is drawn
_CHART = "_train_loss_chart"  # ((job id, epochs shown), figure): rebuilt only when an epoch has ended


def data_widgets(dataset: str, running: bool) -> dict:
    """Where the training data comes from → source options for the training process."""
    st.subheader("Data")
    if dataset == "fraud":
        return widgets.fraud_training_data(running)
    choice = st.radio("MNIST source", list(sources.MNIST_CHOICES), format_func=presentation.MNIST_SOURCE_LABELS.get,
                      key="train_mnist_source", horizontal=True, disabled=running)
    options = {"choice": choice}
    if choice == "auto":
        st.caption(f"Best available here: {presentation.best_source_note('mnist')}.")
    elif choice == "path":
        options["path"] = st.text_input("Folder or mnist.npz", key="train_mnist_path", disabled=running,
                                        placeholder="…/data/mnist")
    return options


SHAPE_RULE = ("Empty: round((features − 4) / 2.5), clipped to 2…10 (10 for the credit-card schema's 29 features), "
              "the rule measured on 17 public tables (bench/results/tables.json).")


def settings_widgets(dataset: str, running: bool) -> dict:
    """The model and training widgets → settings for config.build_configs (defaults from its tables).

    The number boxes have no bounds of their own: a browser keeps the last in-range value of a
    bounded box while it shows an out-of-range one, so the range rules are build_configs' alone
    (see `settings_problem`)."""
    model, train = MODEL_DEFAULTS[dataset], TRAIN_DEFAULTS[dataset]
    st.subheader("Model")
    c1, c2, c3, c4 = st.columns(4)
    architecture = c1.selectbox("Architecture", ["dense", "conv"] if dataset == "mnist" else ["dense"],
                                key=f"train_arch_{dataset}", disabled=running)
    settings = {
        "architecture": architecture,
        "latent_dim": c2.number_input("Latent dim", value=None if dataset == "fraud" else model["latent_dim"],
                                      step=1, key=f"train_latent_{dataset}", disabled=running,
                                      placeholder="by the table's shape" if dataset == "fraud" else None,
                                      help=SHAPE_RULE if dataset == "fraud" else None),
        "hidden_units": c3.text_input("Hidden layers (dense)", ",".join(map(str, model["hidden_units"])),
                                      key=f"train_hidden_{dataset}", disabled=running or architecture == "conv",
                                      help="Sizes separated by commas, e.g. 512,256 (dense models only)"),
        "likelihood": c4.selectbox("Likelihood", ["bernoulli", "gaussian"] if dataset == "mnist" else ["gaussian"],
                                   index=0 if dataset == "fraud" else ["bernoulli", "gaussian"].index(model["likelihood"]),
                                   key=f"train_likelihood_{dataset}", disabled=running,
                                   help="Bernoulli for pixel intensities in [0, 1]; Gaussian for standardised features"),
    }
    c1, c2, c3, c4 = st.columns(4)
    settings["beta"] = float(c1.number_input("β (KL weight)", value=1.0, step=0.1, key=f"train_beta_{dataset}",
                                             disabled=running))
    settings["epochs"] = int(c2.number_input("Epochs", value=train.epochs, key=f"train_epochs_{dataset}",
                                             disabled=running))
    settings["batch_size"] = int(c3.number_input("Batch size", value=train.batch_size, key=f"train_batch_{dataset}",
                                                 disabled=running))
    settings["learning_rate"] = float(c4.number_input("Learning rate", value=train.learning_rate, step=1e-4,
                                                      format="%.4f", key=f"train_lr_{dataset}", disabled=running))
    with st.expander("More settings"):
        c1, c2, c3 = st.columns(3)
        settings["kl_warmup_epochs"] = int(c1.number_input("KL warm-up epochs", value=0, key=f"train_warmup_{dataset}",
                                                           disabled=running))
        settings["early_stopping_patience"] = int(c2.number_input(
            "Early-stopping patience (0 = off)", value=train.early_stopping_patience,
            key=f"train_patience_{dataset}", disabled=running))
        settings["seed"] = int(c3.number_input("Seed", 0, MAX_SEED, 0, key=f"train_seed_{dataset}", disabled=running))
    if architecture == "conv":
        settings["hidden_units"] = None  # conv models have no dense hidden layers: the box is not checked
    return settings


def settings_problem(dataset: str, settings: dict) -> str | None:
    """Why these settings cannot train (the engine's own checks, build_configs), or None."""
    try:
        build_configs(dataset, **settings)
    except ConfigError as exc:
        return str(exc)
    return None


def start(dataset: str, name: str, settings: dict, data: dict) -> None:
    """Check what can be checked without loading data or TensorFlow, then train in a child process."""
    with widgets.guard("Could not start training"):
        vae_config, train_config = build_configs(dataset, **settings)
        if dataset == "fraud" and settings.get("latent_dim") is None:
            data = {**data, "latent_by_shape": True}
        if data.get("choice") == "upload":
            if data.get("upload") is None:
                raise DataError("Upload a CSV first, or choose another data source.")
            loaders.checked_upload(data["upload_id"], data["label_column"], data["positive"],
                                   data["upload_name"], data["upload"])
        elif data.get("choice") == "path" and dataset == "fraud":
            from vae_core.tables.tabular import csv_header

            if not (data.get("path") or "").strip():
                raise DataError("Enter the path of a transactions CSV.")
            csv_header(data["path"].strip())  # exists, is a file, looks like CSV text
        spec = jobs.TrainingSpec.training(dataset, name, vae_config, train_config,
                                          {k: v for k, v in data.items() if k != "upload_id"},
                                          str(loaders.models_root()))
        st.session_state[JOB] = jobs.start(spec, owner_alive=widgets.session_alive_probe())
        st.rerun()


def progress_text(snap: jobs.JobSnapshot) -> str:
    """The progress bar's line: share done, epoch or what is happening before the first batch, time
    elapsed and, while it runs, the time left."""
    if snap.status == "queued":
        return presentation.queue_text(snap.queue_position, snap.queue_eta_seconds, snap.elapsed_seconds)
    parts = [f"{snap.fraction:.0%}"]
    if snap.epochs:
        parts.append(f"epoch {snap.epoch}/{snap.epochs}")
    if snap.finished:
        parts.append({"done": "done", "cancelled": "cancelled", "failed": "stopped"}[snap.status])
    elif snap.fraction == 0:
        parts.append(snap.phase)
    parts.append(f"{presentation.clock(snap.elapsed_seconds)} elapsed")
    if not snap.finished and snap.fraction > 0:
        parts.append("estimating the time left" if math.isnan(snap.eta_seconds)
                     else f"about {presentation.clock(snap.eta_seconds)} left")
    return " · ".join(parts)


def show_job() -> None:
    """Progress of this user's job; polled by a timer while it runs."""
    job = st.session_state.get(JOB)
    if job is None:
        return
    snap = job.snapshot()
    st.subheader(f"Training {snap.name}" if snap.name else "Training")
    if snap.data_source:
        widgets.source_banner(presentation.short_source(snap.data_source), snap.synthetic)
    st.progress(snap.fraction, text=progress_text(snap))
    if not snap.finished and snap.eta_basis and not math.isnan(snap.eta_seconds):
        st.caption(f"Time left, measured: {snap.eta_basis}.")
    if not snap.finished:
        if snap.cancel_requested:
            st.caption("Leaving the queue…" if snap.status == "queued" else "Cancelling after the current batch…")
        else:
            st.button("Cancel", key="train_cancel", icon=":material/stop:", on_click=job.cancel)
    elif snap.status == "failed":
        st.error(snap.error, icon=":material/error:")
    elif snap.status == "cancelled":
        st.warning("Training was cancelled; nothing was saved." if snap.epochs or snap.fraction else
                   "The training was cancelled before it started; nothing was saved.")
    else:
        st.success(f"Saved **{snap.name}**: {presentation.metrics_text(snap.metrics)}.", icon=":material/check_circle:")
        page = "threshold" if snap.dataset == "fraud" else "latent"
        st.page_link(page_path(page), label="Explore this model", icon=":material/scatter_plot:",
                     query_params={"model": snap.name})

    curves = presentation.loss_history(snap.epoch_losses, snap.epoch_val_losses)
    left, right = st.columns([3, 1]) if snap.dataset == "mnist" else (st.container(), None)
    if curves:
        shown = (id(job), len(snap.epoch_losses))
        if st.session_state.get(_CHART, (None,))[0] != shown:  # the poll runs twice a second; epochs end rarely
            st.session_state[_CHART] = (shown, figures.loss_chart(curves))
        left.plotly_chart(st.session_state[_CHART][1], key="train_loss_chart")
    elif snap.current:
        left.caption("This epoch so far: " + ", ".join(f"{k} {v:.2f}" for k, v in snap.current.items()))
    if right is not None and snap.samples is not None:
        with right:
            widgets.show_image(snap.samples, caption=f"Prior samples after epoch {snap.samples_epoch}", scale=2)

    if snap.finished and st.session_state.get(_REFRESHED) != id(job):
        st.session_state[_REFRESHED] = id(job)
        st.session_state[_CLEAR_NAME] = snap.status == "done"  # the name is taken now
        st.rerun(scope="app")  # once: re-enable the form and refresh the model lists


def main() -> None:
    st.title("Train a model")
    job = st.session_state.get(JOB)
    running = job is not None and not job.snapshot().finished
    dataset = st.segmented_control("Dataset", ["mnist", "fraud"], default="mnist", key="train_dataset",
                                   format_func=presentation.KIND_NAMES.get, disabled=running) or "mnist"
    data = data_widgets(dataset, running)
    settings = settings_widgets(dataset, running)
    invalid = settings_problem(dataset, settings)
    if invalid:
        st.error(f"{invalid} Train stays off until this is fixed.", icon=":material/error:")

    st.subheader("Save as")
    if st.session_state.pop(_CLEAR_NAME, False):
        st.session_state["train_name"] = ""
    name = st.text_input("Model name", key="train_name", disabled=running,
                         placeholder="letters, digits, - and _", max_chars=64)
    problem = registry.name_problem(name, loaders.models_root()) if name else None
    if problem:
        st.error(problem, icon=":material/error:")
    if st.button("Train", type="primary", key="train_start", icon=":material/play_arrow:",
                 disabled=running or not name or problem is not None or invalid is not None,
                 help=f"Fix the settings first: {invalid}" if invalid else None):
        start(dataset, name, settings, data)

    if job is not None:
        st.divider()
        st.fragment(show_job, run_every=0.5 if running else None)()


main()
