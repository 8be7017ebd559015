"""Train: pick data and settings, watch training live (progress, ETA, losses, samples), cancel, save."""

import math

import streamlit as st

import app_ui
from vae_core import figures, views
from vae_core.jobs import start_job

JOB = "train_job"  # session key: this user's TrainingJob
_REFRESHED = "_train_job_refreshed"  # id of the finished job the page has already refreshed for
_CLEAR_NAME = "_train_clear_name"  # set after a save: empty the name box before it is drawn


def settings_form(dataset: str, running: bool) -> tuple[views.TrainForm, dict]:
    """The data-source and model widgets → (TrainForm, data options)."""
    defaults = views.TRAIN_DEFAULTS[dataset]
    data: dict = {}
    st.subheader("Data")
    if dataset == "mnist":
        data["source"] = st.radio("MNIST source", list(views.MNIST_SOURCES), format_func=views.MNIST_SOURCES.get,
                                  key="train_mnist_source", horizontal=True, disabled=running)
        if data["source"] == "auto":
            st.caption(f"Best available here: {views.best_mnist_note()}.")
        elif data["source"] == "path":
            data["path"] = st.text_input("Folder or mnist.npz", key="train_mnist_path", disabled=running,
                                         placeholder="../shared/data/mnist")
    else:
        import app_fraud

        data = app_fraud.training_data_widgets(running)

    st.subheader("Model")
    c1, c2, c3, c4 = st.columns(4)
    architecture = c1.selectbox("Architecture", ["dense", "conv"] if dataset == "mnist" else ["dense"],
                                key=f"train_arch_{dataset}", disabled=running)
    latent_dim = c2.number_input("Latent dim", 1, 64, defaults["latent_dim"], key=f"train_latent_{dataset}",
                                 disabled=running)
    hidden = c3.text_input("Hidden layers (dense)", defaults["hidden_units"], key=f"train_hidden_{dataset}",
                           disabled=running or architecture == "conv", help="Sizes separated by commas, e.g. 512,256")
    likelihood = c4.selectbox("Likelihood", ["bernoulli", "gaussian"],
                              index=["bernoulli", "gaussian"].index(defaults["likelihood"]),
                              key=f"train_likelihood_{dataset}", disabled=running,
                              help="Bernoulli for pixel intensities in [0, 1]; Gaussian for standardised features")
    c1, c2, c3, c4 = st.columns(4)
    beta = c1.number_input("β (KL weight)", 0.0, 100.0, 1.0, 0.1, key=f"train_beta_{dataset}", disabled=running)
    epochs = c2.number_input("Epochs", 1, 1000, defaults["epochs"], key=f"train_epochs_{dataset}", disabled=running)
    batch_size = c3.number_input("Batch size", 8, 4096, defaults["batch_size"], key=f"train_batch_{dataset}",
                                 disabled=running)
    learning_rate = c4.number_input("Learning rate", 1e-5, 0.1, 1e-3, format="%.4f", key=f"train_lr_{dataset}",
                                    disabled=running)
    with st.expander("More settings"):
        c1, c2, c3 = st.columns(3)
        warmup = c1.number_input("KL warm-up epochs", 0, 100, 0, key=f"train_warmup_{dataset}", disabled=running)
        patience = c2.number_input("Early-stopping patience (0 = off)", 0, 100, defaults["patience"],
                                   key=f"train_patience_{dataset}", disabled=running)
        seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key=f"train_seed_{dataset}", disabled=running)
    form = views.TrainForm(dataset=dataset, architecture=architecture, latent_dim=int(latent_dim),
                           hidden_units=hidden, likelihood=likelihood, beta=float(beta),
                           kl_warmup_epochs=int(warmup), epochs=int(epochs), batch_size=int(batch_size),
                           learning_rate=float(learning_rate), patience=int(patience), seed=int(seed))
    return form, data


def start(dataset: str, name: str, form: views.TrainForm, data: dict) -> None:
    with app_ui.guard("Could not start training"):
        root = str(app_ui.models_root())
        owner = app_ui.session_alive_probe()  # a closed browser tab stops its training (nothing saved)
        if dataset == "mnist":
            job = start_job("mnist", name, form, data, root, owner_alive=owner)
        else:
            import app_fraud

            job = app_fraud.start_job(name, form, data, root, owner_alive=owner)
        st.session_state[JOB] = job
        st.rerun()


def show_job() -> None:
    """Progress of this user's job; polled by a timer while it runs."""
    job = st.session_state.get(JOB)
    if job is None:
        return
    snap = job.snapshot()
    st.subheader(f"Training {snap.name}" if snap.name else "Training")
    if snap.data_source:
        app_ui.source_banner(snap.data_source, snap.synthetic)
    eta = "" if math.isnan(snap.eta_seconds) or snap.finished else f" · about {snap.eta_seconds:.0f} s left"
    epoch_text = (f"epoch {snap.epoch}/{snap.epochs}" if snap.epochs
                  else "starting: loading TensorFlow and the data" if not snap.finished else "stopped")
    st.progress(snap.fraction, text=f"{snap.fraction:.0%} · {epoch_text} · {snap.elapsed_seconds:.0f} s{eta}")
    if not snap.finished:
        if snap.cancel_requested:
            st.caption("Cancelling after the current batch…")
        else:
            st.button("Cancel", key="train_cancel", icon=":material/stop:", on_click=job.cancel)
    elif snap.status == "failed":
        st.error(snap.error, icon=":material/error:")
    elif snap.status == "cancelled":
        st.warning("Training was cancelled; nothing was saved.")
    else:
        st.success(f"Saved **{snap.name}** to {snap.saved_to}: {views.metrics_text(snap.metrics)}.",
                   icon=":material/check_circle:")
        page = "threshold" if snap.dataset == "fraud" else "latent"
        if st.button("Explore this model", key="train_explore", type="primary", icon=":material/scatter_plot:"):
            app_ui.set_active_and_go(snap.name, page)

    curves = views.loss_history(snap.epoch_losses, snap.epoch_val_losses)
    left, right = st.columns([3, 1]) if snap.dataset == "mnist" else (st.container(), None)
    if curves:
        left.plotly_chart(figures.loss_chart(curves), key="train_loss_chart")
    elif snap.current:
        left.caption("This epoch so far: " + ", ".join(f"{k} {v:.2f}" for k, v in snap.current.items()))
    if right is not None and snap.samples is not None:
        with right:
            app_ui.show_image(snap.samples, caption=f"Prior samples after epoch {snap.samples_epoch}", scale=2)

    if snap.finished and st.session_state.get(_REFRESHED) != id(job):
        st.session_state[_REFRESHED] = id(job)
        st.session_state[_CLEAR_NAME] = snap.status == "done"  # the name is taken now
        st.rerun(scope="app")  # once: re-enable the form and refresh the model lists


def main() -> None:
    st.title("Train a model")
    job = st.session_state.get(JOB)
    running = job is not None and not job.snapshot().finished
    dataset = st.segmented_control("Dataset", ["mnist", "fraud"], default="mnist", key="train_dataset",
                                   format_func={"mnist": "Digits (MNIST)", "fraud": "Transactions (fraud)"}.get,
                                   disabled=running) or "mnist"
    form, data = settings_form(dataset, running)

    st.subheader("Save as")
    if st.session_state.pop(_CLEAR_NAME, False):
        st.session_state["train_name"] = ""
    name = st.text_input("Model name", key="train_name", disabled=running,
                         placeholder="letters, digits, - and _", max_chars=64)
    problem = views.name_problem(name, app_ui.models_root()) if name else None
    if problem:
        st.error(problem, icon=":material/error:")
    if st.button("Train", type="primary", key="train_start", icon=":material/play_arrow:",
                 disabled=running or not name or problem is not None):
        start(dataset, name, form, data)

    if job is not None:
        st.divider()
        st.fragment(show_job, run_every=0.5 if running else None)()


with app_ui.guard():
    main()
