"""AE vs VAE: a plain autoencoder and a VAE with the same shapes, side by side — where each puts the
same test digits, what each makes of the same draws from N(0, I), and how well each reconstructs."""

import streamlit as st

from dashboard import figures, loaders, presentation, state, widgets
from vae_core import jobs, settings
from vae_core.images.compare import compare_models, shapes_key, twin_name, twin_settings
from vae_core.latent import mosaic

TWIN_JOB = "compare_twin_job"  # session key: the background training of a missing twin
_REFRESHED = "_compare_twin_refreshed"
N_PRIOR = 36


@st.cache_data(show_spinner="Encoding, decoding and measuring both models…", max_entries=8)
def comparison(ae_key: tuple, vae_key: tuple, n_points: int, seed: int, judge: bool):
    models = {ae_key[1]: loaders.get_model(ae_key[1]).vae, vae_key[1]: loaders.get_model(vae_key[1]).vae}
    return compare_models(models, loaders.mnist_test(), n_points=n_points, n_prior=N_PRIOR, seed=seed,
                          classifier=loaders.digit_classifier() if judge else None)


def label(info) -> str:
    return f"{info.name} — {presentation.model_variant(info)}, latent {info.vae_config.latent_dim}"


def start_twin(partner, kind: str, name: str) -> None:
    vae_config, train_config, data = twin_settings(partner, kind)
    spec = jobs.TrainingSpec.training("mnist", name, vae_config, train_config, data, str(loaders.models_root()))
    st.session_state[TWIN_JOB] = jobs.start(spec, owner_alive=widgets.session_alive_probe())


def twin_trainer(partner, kind: str) -> None:
    """Offer to train the missing twin of `partner` (same shapes, data and settings) in the background."""
    job = st.session_state.get(TWIN_JOB)
    if job is not None and not job.snapshot().finished:
        st.fragment(show_twin_job, run_every=1.0)()
        return
    what = "autoencoder" if kind == "ae" else "VAE"
    st.info(f"To compare fairly, train an {what} with exactly the shapes, data and training settings of "
            f"**{partner.name}** (same epochs and seed; only the encoder's head and the loss differ).",
            icon=":material/info:")
    if settings.current().viewer:
        st.caption(presentation.VIEW_ONLY_NOTE)
        return
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    name_key = f"compare_twin_name_{partner.name}"
    name = name_col.text_input("Name for the twin", twin_name(partner.name, kind), key=name_key)
    if button_col.button(f"Train the {what} twin", key=f"compare_train_{kind}", type="primary",
                         icon=":material/model_training:"):
        with widgets.guard("Could not start training"):
            start_twin(partner, kind, name)
            st.rerun()
    if job is not None:
        show_twin_job()


def show_twin_job() -> None:
    job = st.session_state.get(TWIN_JOB)
    if job is None:
        return
    snap = job.snapshot()
    if snap.status == "queued":
        st.progress(0.0, text=presentation.queue_text(snap.queue_position, snap.queue_eta_seconds,
                                                      snap.elapsed_seconds))
        st.button("Cancel", key="compare_twin_cancel", on_click=job.cancel, icon=":material/stop:")
    elif snap.status in ("starting", "running"):
        st.progress(snap.fraction, text=f"Training {snap.name}: epoch {snap.epoch}/{snap.epochs or '?'} · "
                                        f"{snap.elapsed_seconds:.0f} s")
        st.button("Cancel", key="compare_twin_cancel", on_click=job.cancel, icon=":material/stop:")
    elif snap.status == "failed":
        st.error(snap.error, icon=":material/error:")
    elif snap.status == "cancelled":
        st.warning("Training was cancelled; nothing was saved.")
    else:
        st.success(f"Saved **{snap.name}** (trained on {presentation.short_source(snap.data_source)}).",
                   icon=":material/check_circle:")
    if snap.finished and st.session_state.get(_REFRESHED) != id(job):
        st.session_state[_REFRESHED] = id(job)
        st.rerun(scope="app")  # once: the new model appears in the pickers


def pick_models(infos) -> tuple:
    """Two pickers (AE, VAE) → their ModelInfos; (None, None) after saying what is missing."""
    infos = [i for i in infos if not i.vae_config.conditional]
    aes = [i for i in infos if not i.vae_config.variational]
    vaes = [i for i in infos if i.vae_config.variational]
    if not vaes:
        st.info("AE vs VAE needs a VAE trained on MNIST: train one on the Train page first.", icon=":material/info:")
        return None, None
    default_ae, default_vae = state.compare_defaults()
    left, right = st.columns(2)
    vae_names = [i.name for i in vaes]
    if st.session_state.get(state.COMPARE_VAE) not in vae_names:
        st.session_state[state.COMPARE_VAE] = default_vae
    with right:
        vae_name = st.selectbox("VAE", vae_names, key=state.COMPARE_VAE, format_func={i.name: label(i) for i in vaes}.get)
    vae_info = vaes[vae_names.index(vae_name)]
    if not aes:
        with left:
            st.selectbox("Autoencoder", ["none yet"], disabled=True, key="compare_ae_none")
        twin_trainer(vae_info, "ae")
        return None, None
    ae_names = [i.name for i in aes]
    if st.session_state.get(state.COMPARE_AE) not in ae_names:
        st.session_state[state.COMPARE_AE] = default_ae if default_ae in ae_names else ae_names[0]
    with left:
        ae_name = st.selectbox("Autoencoder", ae_names, key=state.COMPARE_AE, format_func={i.name: label(i) for i in aes}.get)
    ae_info = aes[ae_names.index(ae_name)]
    if shapes_key(ae_info.vae_config) != shapes_key(vae_info.vae_config):
        st.warning(f"**{ae_info.name}** and **{vae_info.name}** differ in more than the encoder's head "
                   "(architecture, sizes, latent dim or labels): the comparison is fairest between twins.",
                   icon=":material/warning:")
        with st.expander(f"Train an autoencoder matched to {vae_info.name}"):
            twin_trainer(vae_info, "ae")
    return ae_info, vae_info


def main() -> None:
    st.title("AE vs VAE")
    st.markdown("The same encoder and decoder shapes, trained on the same digits for the same epochs. "
                "The only differences: the VAE's encoder outputs a distribution q(z|x) and its loss adds "
                "a KL term pulling q(z|x) towards the prior N(0, I); the autoencoder's encoder outputs one "
                "point z and its loss is reconstruction only.")
    infos = state.usable("mnist")
    if not infos:
        widgets.no_models("mnist")
        return
    ae_info, vae_info = pick_models(infos)
    if ae_info is None:
        return
    c1, c2, c3 = st.columns(3)
    n_points = c1.slider("Test digits in the scatters", 500, 5000, step=500,
                         **state.setting_widget("compare", "points"))
    seed = c2.number_input("Seed (test digits and prior draws)", 0, 10**6, **state.setting_widget("compare", "seed"))
    judge = c3.toggle("Judge prior samples with a digit classifier", True, key="compare_judge",
                      help="A small MLP trained once on MNIST; its confidence says how digit-like an image is.")
    result = comparison(loaders.model_key(ae_info.name), loaders.model_key(vae_info.name), n_points, int(seed), judge)
    widgets.source_banner(presentation.short_source(result.source), what="Test digits")
    ae, vae = result.models
    commentary = presentation.compare_commentary(result)

    st.subheader("Where the test digits land")
    left, right = st.columns(2)
    for column, summary in ((left, ae), (right, vae)):
        column.plotly_chart(figures.code_scatter(summary.codes, result.labels, f"{summary.kind}: {summary.name}"),
                            key=f"compare_scatter_{summary.kind}", config={"scrollZoom": True})
    st.caption(f"**Deterministic vs probabilistic encoder.** The dashed circle holds 95% of the prior N(0, I). "
               f"{commentary['codes']}")

    st.subheader(f"The same {N_PRIOR} draws z ~ N(0, I), decoded by each")
    left, right = st.columns(2)
    for column, summary in ((left, ae), (right, vae)):
        with column:
            quality = summary.quality
            extra = (f" · classifier confidence {quality['mean_max_prob']:.2f}, digit score "
                     f"{quality['digit_score']:.1f}/10" if quality else "")
            widgets.show_image(mosaic(summary.prior_images, 6), caption=f"{summary.kind}{extra}", scale=2)
    st.caption(f"**Generation vs compression.** {commentary['samples']}")

    st.subheader("Numbers")
    st.dataframe(presentation.comparison_table(result), hide_index=True)
    st.caption(presentation.comparison_basis(len(result.rows), int(seed)))
    st.caption(f"**Reconstruction + KL vs reconstruction only.** {commentary['reconstruction']}")


main()
