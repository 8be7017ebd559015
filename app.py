"""VAE Latent Explorer: `streamlit run app.py`. The entry script only routes; the pages live in
dashboard/pages/ and the engine in vae_core.

Streamlit runs this file for every browser rerun, as `__main__`: the router. `streamlit run` also
imports it once as the server starts, finds `app` and enters its lifespan, which starts loading
TensorFlow, the default models and a training process before anyone opens a page
(dashboard/warmup.py). Imported under any other name (a training process started from a page
re-imports the script as `__mp_main__`), it does nothing.
"""

if __name__ == "__main__":
    import streamlit as st

    from dashboard import navigation

    st.set_page_config(page_title="VAE Latent Explorer", page_icon=":material/scatter_plot:", layout="wide")
    navigation.run()
elif __name__ == "app":
    import streamlit as st

    from dashboard import warmup

    app = st.App(__file__, lifespan=warmup.lifespan)
