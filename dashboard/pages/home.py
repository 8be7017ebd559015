"""Home: what the app does, which data and models are here, and one click into the explorer.

Imports no TensorFlow: listing models reads JSON only.
"""

import streamlit as st

from dashboard import loaders, presentation, state, widgets
from dashboard.navigation import page_path


def model_row(info) -> None:
    text, explore, second = st.columns([4, 1, 1], vertical_alignment="center")
    metric = presentation.headline_metric(info)
    default = " · *opens first*" if state.default_model(info.kind) == info.name else ""
    text.markdown(f"**{presentation.model_label(info)}**" + (f" · {metric}" if metric else "") + default)
    explore.page_link(page_path("latent"), label="Latent space", icon=":material/scatter_plot:",
                      query_params={"model": info.name})
    if info.kind == "fraud":
        second.page_link(page_path("threshold"), label="Threshold", icon=":material/policy:",
                         query_params={"model": info.name})
    else:
        second.page_link(page_path("decoder"), label="Decoder", icon=":material/tune:",
                         query_params={"model": info.name})


def main() -> None:
    st.title("VAE Latent Explorer")
    st.markdown(
        "Train variational autoencoders on handwritten digits (MNIST) or credit-card transactions, "
        "then explore what they learned: the latent space, what each point decodes to, and — for "
        "transactions — how reconstruction error separates fraud at a threshold you tune.")
    found = presentation.sources_text()
    left, right = st.columns(2)
    with left:
        st.subheader("Digits (MNIST)")
        st.markdown("\n".join(f"- {line}" for line in found["mnist"]))
    with right:
        st.subheader("Transactions (fraud)")
        st.markdown("\n".join(f"- {line}" for line in found["fraud"]))
        st.caption("Fraud prevalence: 14.8% in the real subset, 0.172% in the full ULB data; "
                   "precision and average precision depend on it.")

    st.subheader("Models")
    infos = loaders.model_infos()
    ready = state.usable()
    st.caption(f"{len(ready)} model(s) in the registry folder "
               f"{presentation.registry_folder_text(loaders.models_root())}.")
    if not ready:
        widgets.no_models()
    for info in ready:
        model_row(info)
    broken = [i for i in infos if not i.valid]
    if broken:
        st.warning("Unreadable model folders: " + "; ".join(f"{i.name} ({i.error})" for i in broken)
                   + ". Delete or fix them on the Models page.")


main()
