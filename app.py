"""VAE Latent Explorer: the entry script only routes (`streamlit run app.py`).

Each page is one file in app_pages/; the heavy lifting is in vae_core, and TensorFlow is imported
only by the pages that need a model, so Home paints fast.

The folder must not be called `pages/`: when a `pages/` folder sits beside the entry script,
Streamlit switches to its legacy multipage mode, and a deep link such as /latent then runs the
page file on its own, bypassing this router (no page config, no navigation, every file listed).
"""

import streamlit as st

import app_ui

st.set_page_config(page_title="VAE Latent Explorer", page_icon=":material/scatter_plot:", layout="wide")

pages = {
    "Start": [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("app_pages/models.py", title="Models", icon=":material/inventory_2:"),
    ],
    "Explore": [
        st.Page("app_pages/latent.py", title="Latent space", icon=":material/scatter_plot:"),
        st.Page("app_pages/decoder.py", title="Decoder", icon=":material/tune:"),
        st.Page("app_pages/threshold.py", title="Fraud threshold", icon=":material/policy:"),
    ],
    "Lessons": [
        st.Page("app_pages/compare.py", title="AE vs VAE", icon=":material/compare:"),
        st.Page("app_pages/elbo.py", title="ELBO anatomy", icon=":material/functions:"),
    ],
}
app_ui.restore_from_url()
st.navigation(pages).run()
app_ui.mirror_to_url()
