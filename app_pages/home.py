"""Home: what the app does, which data and models are here, and a one-click way into the explorer.

Imports no TensorFlow: listing models reads JSON only.
"""

import streamlit as st

import app_ui
from vae_core import views


def main() -> None:
    st.title("VAE Latent Explorer")
    st.markdown(
        "Train variational autoencoders on handwritten digits (MNIST) or credit-card transactions, "
        "then explore what they learned: the latent space, what each point decodes to, and — for "
        "transactions — how reconstruction error separates fraud at a threshold you tune.")

    summary = views.data_summary()
    left, right = st.columns(2)
    with left:
        st.subheader("Digits (MNIST)")
        for label, detail in summary.mnist:
            st.markdown(f"- **{label}** — {detail}")
    with right:
        st.subheader("Transactions (fraud)")
        for label, detail in summary.fraud:
            st.markdown(f"- **{label}** — {detail}")
        st.caption("Fraud prevalence: 14.8% in the real subset, 0.172% in the full ULB data; "
                   "precision and average precision depend on it.")

    st.subheader("Models")
    st.caption(f"Registry: {app_ui.models_root()}")
    infos = app_ui.model_infos()
    ready = views.usable_models(infos)
    if not ready:
        app_ui.no_models()
    for info in ready:
        text, explore, decode = st.columns([4, 1, 1], vertical_alignment="center")
        metric = views.headline_metric(info)
        text.markdown(f"**{views.model_label(info)}**" + (f" · {metric}" if metric else ""))
        if explore.button("Latent space", key=f"home_latent_{info.name}", icon=":material/scatter_plot:"):
            app_ui.set_active_and_go(info.name, "latent")
        if info.config.get("kind") == "fraud":
            if decode.button("Threshold", key=f"home_threshold_{info.name}", icon=":material/policy:"):
                app_ui.set_active_and_go(info.name, "threshold")
        elif decode.button("Decoder", key=f"home_decoder_{info.name}", icon=":material/tune:"):
            app_ui.set_active_and_go(info.name, "decoder")
    broken = [i for i in infos if not i.valid]
    if broken:
        st.warning("Unreadable model folders: " + "; ".join(f"{i.name} ({i.error})" for i in broken)
                   + ". Delete or fix them on the Models page.")


with app_ui.guard():
    main()
