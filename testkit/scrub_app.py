"""The smallest app around the latent scrub, for the browser test: one model from the registry
(SCRUB_MODEL in VAE_MODELS_DIR), the component, and a visible count of script runs."""

import os

import streamlit as st

from dashboard.components.latent_scrub import latent_scrub
from vae_core.registry import load_model


@st.cache_resource
def model(name: str, root: str):
    return load_model(name, root).vae


st.session_state["runs"] = st.session_state.get("runs", 0) + 1
vae = model(os.environ["SCRUB_MODEL"], os.environ["VAE_MODELS_DIR"])
label = 3 if vae.vae_config.conditional else None
released = latent_scrub(vae, st.session_state.get("z"), label=label, key="scrub")
if released:
    st.session_state["z"] = released["z"]
st.markdown(f"script runs: **{st.session_state['runs']}**")
st.markdown(f"released z: `{st.session_state.get('z')}`")
