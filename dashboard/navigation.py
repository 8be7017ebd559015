"""The dashboard's pages and the sidebar that links them.

Streamlit's own menu is hidden: its links carry no query parameters, so a page switch would take
two browser history entries (the bare page, then its view). The sidebar's links carry each target
page's current view instead (`state.link_params`): one entry per navigation, and a link that can be
opened in a new tab.
"""

from __future__ import annotations

import streamlit as st

from dashboard import state, warmup, widgets
from vae_core import settings
from vae_core.errors import VAEError

PAGE_DIR = "dashboard/pages"
# section → (page key, title, icon); the first page is the default (Home).
SECTIONS: dict[str, list[tuple[str, str, str]]] = {
    "Start": [("home", "Home", ":material/home:"), ("train", "Train", ":material/model_training:"),
              ("models", "Models", ":material/inventory_2:")],
    "Explore": [("latent", "Latent space", ":material/scatter_plot:"), ("decoder", "Decoder", ":material/tune:"),
                ("threshold", "Fraud threshold", ":material/policy:")],
    "Lessons": [("compare", "AE vs VAE", ":material/compare:"), ("elbo", "ELBO anatomy", ":material/functions:")],
}
WRITE_PAGES = {"train"}  # gone in viewer mode (vae_core.settings)
# Pages that load a model (TensorFlow): while the server's start-up loading runs, they show it and wait.
NEEDS_MODEL = {"latent", "decoder", "threshold", "compare", "elbo"}


def page_path(key: str) -> str:
    """The page's script, as `st.page_link` and `st.Page` take it."""
    return f"{PAGE_DIR}/{key}.py"


def run() -> None:
    """Route to the requested page: sidebar links, then the page between `state.begin` and `state.end`."""
    try:
        settings.current()
    except VAEError as exc:
        st.error(f"The server's settings are wrong: {exc}", icon=":material/error:")
        st.stop()
    if not widgets.logged_in():
        st.stop()
    if not widgets.admitted():
        widgets.wait_for_room()
        st.stop()
    pages = {section: [st.Page(page_path(key), title=title, icon=icon, default=key == "home")
                       for key, title, icon in entries] for section, entries in shown_sections().items()}
    current = st.navigation(pages, position="hidden")
    key = current.url_path or "home"
    widgets.view_only_badge()
    links = st.sidebar.empty()
    page_links(links)  # there from the first paint, while the page computes
    with widgets.guard():
        if key in NEEDS_MODEL:
            warmup.wait_visibly()
        state.begin(key)
        current.run()
        state.end()
    page_links(links)  # again once the page ran, so the links carry its latest view
    widgets.theme_switch(current.url_path, [""] + [key for entries in shown_sections().values() for key, _, _ in entries])
    with st.sidebar:
        widgets.history_merger()


def shown_sections() -> dict[str, list[tuple[str, str, str]]]:
    """SECTIONS without the pages that write on a view-only server."""
    if not settings.current().viewer:
        return SECTIONS
    return {section: [entry for entry in entries if entry[0] not in WRITE_PAGES] for section, entries in SECTIONS.items()}


def page_links(slot) -> None:
    """The sidebar's page links, each carrying its page's current view, into `slot` (an st.empty)."""
    with slot.container():
        for section, entries in shown_sections().items():
            st.caption(section)
            for page_key, title, icon in entries:
                st.page_link(page_path(page_key), label=title, icon=icon, query_params=state.link_params(page_key))
