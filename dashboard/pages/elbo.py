"""ELBO anatomy: the loss's two terms per epoch, one test image's own terms with its q(z|x) and a few
decoded draws of z (the reparameterization made visible), and what β does to the trade-off."""

import dataclasses

import numpy as np
import streamlit as st

from dashboard import figures, loaders, presentation, state, widgets
from vae_core import jobs, settings
from vae_core.images.anatomy import beta_row, elbo_anatomy, loss_terms_per_epoch
from vae_core.images.compare import shapes_key
from vae_core.config import TrainConfig, VAEConfig
from vae_core.latent import mosaic

ROW = state.ELBO_ROW
IW_SAMPLES = 1000  # importance samples for one image's −log p(x)
SWEEP_BETAS = (0.25, 1.0, 4.0)
# Sized for a button on 2 CPU cores: one small dense VAE per β, 3 epochs on up to 10,000 digits.
SWEEP_MODEL = VAEConfig(hidden_units=(256, 128), latent_dim=2)
SWEEP_TRAINING = TrainConfig(epochs=3, batch_size=128, early_stopping_patience=0)
SWEEP_JOB = "elbo_sweep_job"  # session key: the running β sweep
MAX_BETA_MODELS = 8


def _random_row(n: int) -> None:
    draws = st.session_state.get("_elbo_draws", 0) + 1
    st.session_state["_elbo_draws"] = draws
    st.session_state[ROW] = int(np.random.default_rng(draws).integers(n))


def loss_section(loaded) -> None:
    config = loaded.vae.vae_config
    curves = loss_terms_per_epoch(loaded.metadata)
    if not curves:
        st.info("This model was saved without its training history, so there are no per-epoch terms to show.",
                icon=":material/info:")
        return
    st.plotly_chart(figures.terms_chart(curves, config.beta), key="elbo_terms")
    last_rec, last_kl = curves["reconstruction"][-1], curves["kl"][-1]
    if not config.variational:
        st.caption(f"An autoencoder has no KL term: its loss is reconstruction alone ({last_rec:.1f} nats per "
                   "image in the last epoch), and nothing shapes where its codes go.")
        return
    warmup = (f" The KL weight ramped from 0 to β over the first {config.kl_warmup_epochs} epochs."
              if config.kl_warmup_epochs else "")
    st.caption(f"−ELBO = reconstruction E_q[−log p(x|z)] + KL(q(z|x) ‖ p(z)). In the last epoch: "
               f"{last_rec:.1f} + {last_kl:.1f} = {last_rec + last_kl:.1f} nats per image; the optimiser "
               f"minimised reconstruction + β·KL with β = {config.beta:g}.{warmup}")


@st.cache_data(show_spinner=False, max_entries=256)
def image_iw_nll(key: loaders.ModelKey, row: int, seed: int) -> float | None:
    """Test image `row`'s importance-weighted −log p(x) under model `key` (None for an AE): the same
    for any number of draws shown, so a draws-slider move does not recompute it."""
    data = loaders.mnist_test()
    return elbo_anatomy(loaders.get_model(key[1]).vae, data.x_test[row], int(data.y_test[row]), n_samples=1,
                        seed=seed, iw_samples=IW_SAMPLES).iw_nll


@widgets.fragment
def image_section(loaded) -> None:
    """One test image: its terms, μ and σ per dim, and draws z ~ q(z|x) decoded."""
    data = loaders.mnist_test()
    n = len(data.x_test)
    if ROW not in st.session_state or not 0 <= st.session_state[ROW] < n:
        st.session_state[ROW] = 0
    c1, c2, c3, c4 = st.columns([2, 1, 2, 1], vertical_alignment="bottom")
    row = c1.number_input("Test image", 0, n - 1, key=ROW)
    c2.button("Random", key="elbo_random", on_click=_random_row, args=(n,), icon=":material/casino:")
    k = c3.slider("Draws of z", 1, 16, **state.setting_widget("elbo", "draws"))
    seed = c4.number_input("Seed", 0, 10**6, **state.setting_widget("elbo", "seed"))
    label = int(data.y_test[row])
    iw_nll = image_iw_nll(loaders.model_key(loaded.name), row, int(seed))
    anatomy = dataclasses.replace(elbo_anatomy(loaded.vae, data.x_test[row], label, n_samples=k, seed=int(seed),
                                               iw_samples=0),
                                  iw_nll=iw_nll, iw_samples=IW_SAMPLES if iw_nll is not None else 0)

    left, middle, right = st.columns([1, 1, 3])
    with left:
        widgets.show_image(anatomy.image, caption=f"test #{row} · digit {label}", scale=5)
    with middle:
        widgets.show_image(anatomy.reconstruction_from_mu, caption="decoded from μ", scale=5)
    with right:
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Reconstruction", f"{anatomy.reconstruction:.1f}",
                  help=f"E_q[−log p(x|z)] in nats, the mean over the {k} draws below")
        m2.metric("KL", f"{anatomy.kl:.2f}", help="KL(q(z|x) ‖ N(0, I)) in nats, closed form")
        m3.metric("−ELBO", f"{anatomy.neg_elbo:.1f}", help="reconstruction + KL, nats")
        if anatomy.iw_nll is not None:
            m4.metric("−log p(x) (IWAE)", f"{anatomy.iw_nll:.1f}",
                      help=f"−log (1/K) Σ p(x|z_k) p(z_k) / q(z_k|x) over K = {anatomy.iw_samples:,} draws "
                           "z_k ~ q(z|x): a tighter bound on the image's negative log-likelihood than the −ELBO, "
                           "never above it in expectation. Continuous MNIST (pixels in [0, 1], summed "
                           "Bernoulli cross-entropy), not binarized MNIST.")
        if anatomy.variational:
            st.caption(presentation.reconstruction_at_mu_text(anatomy.nll_at_mu, anatomy.reconstruction, k)
                       + " The KL is what this image's code costs against the prior.")
        else:
            st.caption("An autoencoder encodes the image as one point: σ = 0, every draw is that point, "
                       "and there is no KL term.")

    chart, table = st.columns([3, 2])
    chart.plotly_chart(figures.posterior_chart(anatomy), key="elbo_posterior")
    table.dataframe(presentation.anatomy_table(anatomy), hide_index=True, height=min(320, 38 + 35 * len(anatomy.mu)))

    st.image(mosaic(anatomy.samples, k), clamp=True, width=min(900, 28 * 3 * k),
             caption=f"{k} draws z = μ + σ·ε, ε ~ N(0, I), decoded (the reparameterization trick: the noise is an "
                     "input, so gradients reach μ and σ)")
    st.caption("−log p(x|z) per draw: " + ", ".join(f"{v:.1f}" for v in anatomy.sample_nll) + " nats.")


@st.cache_data(show_spinner="Measuring the models…", max_entries=16)
def beta_rows(keys: tuple, n_test: int):
    data = loaders.mnist_test()
    x, y = data.x_test[:n_test], data.y_test[:n_test].astype(np.int64)
    return [beta_row(key[1], loaders.get_model(key[1]).vae, x, y) for key in keys]


@st.cache_resource
def sweep_results() -> dict:
    """Finished quick sweeps, {betas: (rows, seconds taken)}: one per server, the same for everyone."""
    return {}


def show_beta_rows(rows, key: str) -> None:
    st.dataframe(presentation.beta_table(rows), hide_index=True)
    st.caption(presentation.beta_table_basis(len(rows[0].labels)))
    chart, scatters = st.columns([2, 3])
    chart.plotly_chart(figures.beta_chart(rows), key=f"{key}_chart")
    with scatters:
        columns = st.columns(min(3, len(rows)))
        for i, r in enumerate(rows[:6]):
            with columns[i % len(columns)]:
                st.plotly_chart(figures.code_scatter(r.mu, r.labels, r.name, height=260, legend=False),
                                key=f"{key}_scatter_{i}", config={"displayModeBar": False})


def quick_sweep() -> None:
    """Train one small unsaved VAE per β in a child process (once per server) and show the trade-off."""
    done = sweep_results().get(SWEEP_BETAS)
    if done is not None:
        rows, seconds = done
        show_beta_rows(rows, "elbo_sweep")
        st.caption(f"The quick sweep took {presentation.clock(seconds)} here.")
        return
    job = st.session_state.get(SWEEP_JOB)
    snap = None if job is None else job.snapshot()
    if snap is not None and snap.status == "done":
        sweep_results()[SWEEP_BETAS] = (snap.result, snap.elapsed_seconds)
        st.session_state.pop(SWEEP_JOB)
        st.rerun()
    if snap is not None and snap.status == "queued":
        st.progress(0.0, text=presentation.queue_text(snap.queue_position, snap.queue_eta_seconds,
                                                      snap.elapsed_seconds))
        st.button("Cancel", key="elbo_sweep_cancel", on_click=job.cancel, icon=":material/stop:")
        return
    if snap is not None and not snap.finished:
        beta = SWEEP_BETAS[min(len(SWEEP_BETAS) - 1, int(snap.fraction * len(SWEEP_BETAS)))]
        st.progress(snap.fraction, text=presentation.sweep_progress_text(beta, snap.elapsed_seconds, snap.fraction))
        st.button("Cancel", key="elbo_sweep_cancel", on_click=job.cancel, icon=":material/stop:")
        return
    if snap is not None and snap.status == "failed":
        st.error(snap.error, icon=":material/error:")
    elif snap is not None and snap.status == "cancelled":
        st.warning("The sweep was cancelled.")
    if settings.current().viewer:
        st.caption("The quick β sweep trains small models, which this view-only server does not do.")
        return
    if st.button(f"Run the quick β sweep: β = {', '.join(f'{b:g}' for b in SWEEP_BETAS)} (small dense VAEs, "
                 "3 epochs; the time left shows as it runs)", key="elbo_sweep_start", icon=":material/play_arrow:"):
        with widgets.guard("Could not start the sweep"):
            spec = jobs.TrainingSpec("beta_sweep", "mnist", SWEEP_MODEL.to_dict(), SWEEP_TRAINING.to_dict(),
                                     {"choice": "auto"}, betas=SWEEP_BETAS)
            st.session_state[SWEEP_JOB] = jobs.start(spec, owner_alive=widgets.session_alive_probe())
            st.rerun()


@widgets.fragment
def beta_section(active) -> None:
    """VAEs with the active model's shapes (any β) by default; the quick sweep when there are none."""
    infos = [i for i in state.usable("mnist") if i.vae_config.variational]
    by_name = {i.name: i for i in infos}
    active_shapes = shapes_key(active.vae_config)
    default = [i.name for i in infos if shapes_key(i.vae_config) == active_shapes][:MAX_BETA_MODELS]
    chosen = st.multiselect("Models to compare (MNIST VAEs)", list(by_name), default=default, key="elbo_beta_models",
                            max_selections=MAX_BETA_MODELS)
    if chosen:
        rows = sorted(beta_rows(tuple(loaders.model_key(name) for name in chosen), presentation.BETA_TABLE_IMAGES), key=lambda r: r.beta)
        show_beta_rows(rows, "elbo_beta")
        if len({r.beta for r in rows}) < 2:
            st.caption("These models share one β. Train the same model with another β (Train page, or "
                       "`vae-explorer train --dataset mnist --beta 4 --name my-beta4`), or run the quick "
                       "sweep below.")
    st.caption("Larger β buys a smaller KL (codes closer to the prior, fewer active dims, a tighter scatter) "
               "with worse reconstruction; smaller β does the opposite and drifts towards an autoencoder.")
    st.fragment(quick_sweep, run_every=1.0 if st.session_state.get(SWEEP_JOB) is not None else None)()


def main() -> None:
    st.title("ELBO anatomy")
    info = widgets.model_picker("mnist", "MNIST model")
    if info is None:
        return
    loaded = loaders.get_model(info.name)
    st.caption(f"{info.name}: {presentation.model_variant(info)}, latent "
               f"{loaded.vae.vae_config.latent_dim}, β = {loaded.vae.vae_config.beta:g}")
    st.subheader("The loss, term by term")
    loss_section(loaded)
    st.subheader("One test image, taken apart")
    image_section(loaded)
    st.subheader("β: reconstruction vs KL vs spread")
    beta_section(info)


main()
