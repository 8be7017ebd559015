"""Compare: a plain autoencoder and a VAE with the same shapes, side by side — where each puts the
same test digits, what each makes of the same draws from N(0, I), and how well each reconstructs."""

import streamlit as st

import app_ui
from vae_core import lessons, views

TWIN_JOB = "compare_twin_job"  # session key: the background training of a missing twin
_REFRESHED = "_compare_twin_refreshed"
N_PRIOR = 36


@st.cache_resource(show_spinner="Training the digit classifier that judges prior samples (once)…")
def digit_classifier() -> lessons.DigitClassifier:
    """Trained once per data source and cached on disk; the training images are dropped afterwards."""
    return lessons.digit_classifier(views.load_mnist_source("auto"))


@st.cache_data(show_spinner="Encoding, decoding and measuring both models…", max_entries=8)
def comparison(ae_key: tuple, vae_key: tuple, n_points: int, seed: int, judge: bool) -> lessons.Comparison:
    models = {ae_key[1]: app_ui.get_model(ae_key[1]).vae, vae_key[1]: app_ui.get_model(vae_key[1]).vae}
    return lessons.compare_models(models, app_ui.mnist_test(), n_points=n_points, n_prior=N_PRIOR, seed=seed,
                                  classifier=digit_classifier() if judge else None)


def label(info) -> str:
    latent = info.config.get("vae_config", {}).get("latent_dim")
    return f"{info.name} — {lessons.kind_label(info.config)}, latent {latent}"


def twin_trainer(info, kind: str) -> None:
    """Offer to train the missing twin of `info` (same shapes and settings) in the background."""
    job = st.session_state.get(TWIN_JOB)
    if job is not None and not job.snapshot().finished:
        st.fragment(show_twin_job, run_every=1.0)()
        return
    what = "autoencoder" if kind == "ae" else "VAE"
    st.info(f"To compare fairly, train an {what} with exactly the shapes, data and training settings of "
            f"**{info.name}** (same epochs and seed; only the encoder's head and the loss differ).",
            icon=":material/info:")
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    name = name_col.text_input("Name for the twin", lessons.twin_name(info.name, kind), key=f"compare_twin_{kind}")
    if button_col.button(f"Train the {what} twin", key=f"compare_train_{kind}", type="primary",
                         icon=":material/model_training:"):
        with app_ui.guard("Could not start training"):
            st.session_state[TWIN_JOB] = lessons.start_twin_training(
                info, kind, name, models_dir=str(app_ui.models_root()))
            st.rerun()
    if job is not None:
        show_twin_job()


def show_twin_job() -> None:
    job = st.session_state.get(TWIN_JOB)
    if job is None:
        return
    snap = job.snapshot()
    if snap.status == "running":
        st.progress(snap.fraction, text=f"Training {snap.name}: epoch {snap.epoch}/{snap.epochs or '?'} · "
                                        f"{snap.elapsed_seconds:.0f} s")
        st.button("Cancel", key="compare_twin_cancel", on_click=job.cancel, icon=":material/stop:")
    elif snap.status == "failed":
        st.error(snap.error, icon=":material/error:")
    elif snap.status == "cancelled":
        st.warning("Training was cancelled; nothing was saved.")
    else:
        st.success(f"Saved **{snap.name}**.", icon=":material/check_circle:")
    if snap.finished and st.session_state.get(_REFRESHED) != id(job):
        st.session_state[_REFRESHED] = id(job)
        st.rerun(scope="app")  # once: the new model appears in the pickers


def pick_models(infos) -> tuple:
    """Two pickers (AE, VAE) → their ModelInfos; (None, None) after saying what is missing."""
    aes = [i for i in infos if lessons.model_type(i.config) == "ae"]
    vaes = [i for i in infos if lessons.model_type(i.config) == "vae"]
    if not vaes:
        st.info("Compare needs a VAE trained on MNIST: train one on the Train page first.", icon=":material/info:")
        st.page_link(app_ui.PAGES["train"], label="Train a model", icon=":material/model_training:")
        return None, None
    default_ae, default_vae = lessons.pick_pair(infos)
    left, right = st.columns(2)
    vae_names = [i.name for i in vaes]
    with right:
        vae_name = st.selectbox("VAE", vae_names, index=vae_names.index(default_vae) if default_vae in vae_names else 0,
                                key="compare_vae", format_func={i.name: label(i) for i in vaes}.get)
    vae_info = vaes[vae_names.index(vae_name)]
    if not aes:
        with left:
            st.selectbox("Autoencoder", ["none yet"], disabled=True, key="compare_ae_none")
        twin_trainer(vae_info, "ae")
        return None, None
    ae_names = [i.name for i in aes]
    with left:
        ae_name = st.selectbox("Autoencoder", ae_names, index=ae_names.index(default_ae) if default_ae in ae_names else 0,
                               key="compare_ae", format_func={i.name: label(i) for i in aes}.get)
    ae_info = aes[ae_names.index(ae_name)]
    if lessons.shapes_key(ae_info.config) != lessons.shapes_key(vae_info.config):
        st.warning(f"**{ae_info.name}** and **{vae_info.name}** differ in more than the encoder's head "
                   "(architecture, sizes, latent dim or labels): the comparison is fairest between twins.",
                   icon=":material/warning:")
        with st.expander("Train a matched autoencoder"):
            twin_trainer(vae_info, "ae")
    return ae_info, vae_info


def main() -> None:
    st.title("AE vs VAE")
    st.markdown("The same encoder and decoder shapes, trained on the same digits for the same epochs. "
                "The only differences: the VAE's encoder outputs a distribution q(z|x) and its loss adds "
                "a KL term pulling q(z|x) towards the prior N(0, I); the autoencoder's encoder outputs one "
                "point z and its loss is reconstruction only.")
    infos = views.usable_models(app_ui.model_infos(), ("mnist",))
    if not infos:
        app_ui.no_models(("mnist",))
        return
    ae_info, vae_info = pick_models(infos)
    if ae_info is None:
        return
    c1, c2, c3 = st.columns(3)
    n_points = c1.slider("Test digits in the scatters", 500, 5000, 2000, step=500, key="compare_points")
    seed = c2.number_input("Seed (test digits and prior draws)", 0, 10**6, 0, key="compare_seed")
    judge = c3.toggle("Judge prior samples with a digit classifier", True, key="compare_judge",
                      help="A small MLP trained once on MNIST; its confidence says how digit-like an image is.")
    result = comparison(app_ui.model_key(ae_info.name), app_ui.model_key(vae_info.name), n_points, int(seed), judge)
    app_ui.source_banner(result.source, what="Test digits")
    ae, vae = result.models

    st.subheader("Where the test digits land")
    left, right = st.columns(2)
    for column, summary in ((left, ae), (right, vae)):
        column.plotly_chart(lessons.code_scatter(summary.codes, result.labels, f"{summary.kind}: {summary.name}"),
                            key=f"compare_scatter_{summary.kind}", config={"scrollZoom": True})
    st.caption(f"**Deterministic vs probabilistic encoder.** The dashed circle holds 95% of the prior N(0, I). "
               f"The autoencoder puts codes wherever reconstruction is easiest — "
               f"{ae.spread['inside_prior']:.0%} of them fall inside the circle, mean ‖z‖ "
               f"{ae.spread['mean_norm']:.1f} — with gaps between digits. The VAE's KL term keeps its μ near "
               f"the prior ({vae.spread['inside_prior']:.0%} inside, mean ‖μ‖ {vae.spread['mean_norm']:.1f}) "
               "and its noise forces neighbouring codes to decode alike, so the space has no holes.")

    st.subheader(f"The same {N_PRIOR} draws z ~ N(0, I), decoded by each")
    left, right = st.columns(2)
    for column, summary in ((left, ae), (right, vae)):
        with column:
            quality = summary.quality
            extra = (f" · classifier confidence {quality['mean_max_prob']:.2f}, digit score "
                     f"{quality['digit_score']:.1f}/10" if quality else "")
            app_ui.show_image(lessons.mosaic(summary.prior_images, 6), caption=f"{summary.kind}{extra}", scale=2)
    reference = (f" On real test digits the classifier's mean confidence is {result.reference_confidence:.2f}."
                 if result.reference_confidence is not None else "")
    st.caption("**Generation vs compression.** The VAE is trained so that the prior's region decodes to digits, "
               "all of them; the autoencoder's codes live elsewhere (see the circle above), so the same draws land "
               "in a corner of its space it barely used: blurs, half-digits and the same few digits again and "
               "again. The digit score (the Inception Score with a small MNIST classifier) rewards samples that "
               f"are both clearly digits and varied: 1 is worst, 10 best.{reference}")

    st.subheader("Numbers")
    st.dataframe(lessons.comparison_table(result), hide_index=True)
    gap = ae.reconstruction["nll"] - vae.reconstruction["nll"]
    verdict = (f"Here the {'VAE' if gap > 0 else 'autoencoder'} reconstructs better by {abs(gap):.1f} nats "
               "per image.")
    st.caption(f"**Reconstruction + KL vs reconstruction only.** Reconstruction decodes each image's code mean "
               f"(μ for the VAE, z for the autoencoder): −log p(x|μ) in nats per image over "
               f"{result.n_error_rows:,} test digits. The autoencoder spends all of its capacity on "
               f"reconstruction; the VAE also pays {vae.test_kl:.1f} nats of KL per image for a latent space it "
               f"can sample from. {verdict}")


with app_ui.guard():
    main()
