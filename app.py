"""VAE Latent Explorer: the entry script only routes (`streamlit run app.py`); the pages live in
dashboard/pages/ and the engine in vae_core."""

import streamlit as st

from dashboard import navigation

st.set_page_config(page_title="VAE Latent Explorer", page_icon=":material/scatter_plot:", layout="wide")
navigation.run()
