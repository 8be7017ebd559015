"""Shared pieces of the pages: errors shown as one line, model and data pickers, banners, images.

Every widget has an explicit key; session keys hold plain values (names, numbers, lists).
"""

from __future__ import annotations

import functools
import logging
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from dashboard import loaders, presentation, state
from vae_core import settings, sources
from vae_core.errors import DataError, VAEError

if TYPE_CHECKING:
    from vae_core.registry import ModelInfo

log = logging.getLogger("vae_dashboard")


# --- errors -------------------------------------------------------------------------------------

@contextmanager
def guard(action: str = "") -> Iterator[None]:
    """Show a failure as one st.error line (what went wrong), never a traceback; the block stops."""
    try:
        yield
    except (VAEError, OSError, ValueError) as exc:  # bad input or files: the message says what to do
        st.error(f"{action}{': ' if action else ''}{exc}", icon=":material/error:")
    except Exception as exc:  # noqa: BLE001 - the last line of defence for people, logged for us
        log.error("unexpected error%s:\n%s", f" in {action}" if action else "", traceback.format_exc())
        st.error(f"{action or 'That'} failed unexpectedly ({type(exc).__name__}: {exc}). "
                 "The details are in the server log.", icon=":material/error:")


def fragment(func):
    """st.fragment whose failures are shown like `guard` shows them, and whose view changes reach the
    URL (a fragment reruns on its own, without the rest of the page)."""
    @functools.wraps(func)
    def body(*args, **kwargs):
        with guard():
            func(*args, **kwargs)
        state.end()

    return st.fragment(body)


def view_only_badge() -> None:
    """The sidebar's "View only" badge, on a server in viewer mode."""
    if settings.current().viewer:
        st.sidebar.badge(presentation.VIEW_ONLY_BADGE, icon=":material/visibility:", color="gray",
                         help=presentation.VIEW_ONLY_NOTE)


_ADMITTED: set[str] = set()  # sessions let in under the setting max_sessions
_ADMITTED_LOCK = threading.Lock()


def admitted() -> bool:
    """Whether this browser session may use the server: always, unless `max_sessions` other
    connected sessions were let in first (a closed tab frees its place)."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    limit, ctx = settings.current().max_sessions, get_script_run_ctx()
    if not limit or ctx is None or not runtime.exists():
        return True
    server = runtime.get_instance()
    with _ADMITTED_LOCK:
        _ADMITTED.intersection_update([sid for sid in _ADMITTED if server.is_active_session(sid)])
        if ctx.session_id not in _ADMITTED and len(_ADMITTED) < limit:
            _ADMITTED.add(ctx.session_id)
        return ctx.session_id in _ADMITTED


def wait_for_room() -> None:
    """Say that the server is full and retry every few seconds; the page opens once there is room."""
    limit = settings.current().max_sessions
    st.warning(f"This server is at its limit of {limit} {'person' if limit == 1 else 'people'} at once (setting "
               "max_sessions, which keeps its memory in bounds). This page opens by itself as soon as someone "
               "leaves.", icon=":material/group:")

    @st.fragment(run_every=5.0)
    def retry() -> None:
        if admitted():
            st.rerun(scope="app")

    retry()


def logged_in() -> bool:
    """Whether this session may see the app: always, unless the setting `login` asks for Streamlit's
    st.login first; then a Log in button (or, without an [auth] section in secrets.toml, an error
    saying what to configure) is shown instead."""
    if not settings.current().login:
        return True
    if not st.secrets.load_if_toml_exists() or "auth" not in st.secrets:
        st.error("This server is set to ask people to log in (setting login), but Streamlit's [auth] section is "
                 "missing from .streamlit/secrets.toml. See the README, Sharing the dashboard.", icon=":material/lock:")
        return False
    if st.user.get("is_logged_in"):
        return True
    st.info("Log in to use this dashboard.", icon=":material/lock:")
    st.button("Log in", key="login", icon=":material/login:", on_click=st.login)
    return False


def session_alive_probe():
    """A zero-argument check that this browser session is still connected (None outside a server
    run), so work it started, such as training, can stop when it is gone."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    server, session_id = runtime.get_instance(), ctx.session_id
    return lambda: bool(server.is_active_session(session_id))


# --- theme --------------------------------------------------------------------------------------

# Streamlit keeps a tab's theme choice in the browser's localStorage under this key, per page path
# ("System" follows the operating system's light/dark preference), and reads it when the page loads.
_THEME_KEY = "stActiveTheme-{path}-v2"
_THEME_JS = """
export default function (component) {
  const { parentElement, data } = component;
  const key = (path) => data.key.replace('{path}', path);
  const base = window.location.pathname.slice(0, window.location.pathname.length - data.page.length);
  let stored = 'System';
  try { stored = JSON.parse(window.localStorage.getItem(key(window.location.pathname))) || 'System'; } catch (e) {}
  const root = parentElement.querySelector('.theme-switch');
  root.replaceChildren();
  for (const choice of ['System', 'Light', 'Dark']) {
    const button = document.createElement('button');
    button.textContent = choice;
    button.className = choice === stored ? 'on' : '';
    button.disabled = data.busy;
    button.title = data.busy ? 'Switching reloads the page: wait until your training has finished'
                             : choice === 'System' ? "Follow the operating system's light or dark setting" : choice;
    button.onclick = () => {
      for (const page of data.pages) window.localStorage.setItem(key(base + page), JSON.stringify(choice));
      window.location.reload();
    };
    root.appendChild(button);
  }
}
"""
_THEME_CSS = """
.theme-switch { display: flex; gap: 0; font-family: var(--st-font, sans-serif); font-size: 0.85rem; }
.theme-switch button { flex: 1; padding: 0.2rem 0.4rem; cursor: pointer; font: inherit;
  color: var(--st-text-color); background: var(--st-secondary-background-color);
  border: 1px solid var(--st-border-color, rgba(128, 128, 128, 0.4)); }
.theme-switch button:first-child { border-radius: 0.5rem 0 0 0.5rem; }
.theme-switch button:last-child { border-radius: 0 0.5rem 0.5rem 0; }
.theme-switch button.on { color: #fff; background: var(--st-primary-color); border-color: var(--st-primary-color); }
.theme-switch button:disabled { cursor: not-allowed; opacity: 0.6; }
"""


def _theme_component():
    # Registered with the running app on every call (the same definition again is a no-op).
    return st.components.v2.component("vae_theme_switch", html='<div class="theme-switch"></div>', css=_THEME_CSS,
                                      js=_THEME_JS)


def theme_switch(page: str, pages: list[str]) -> None:
    """Sidebar: System (the operating system's light/dark preference, the default) / Light / Dark.

    The choice is Streamlit's own (the browser's localStorage, as its Settings menu stores it), set
    for every page in `pages` (url paths, "" for the default page) and applied by reloading the
    page, which starts a new session: disabled while this session is training. `page` is the url
    path of the page shown."""
    from vae_core.jobs import TrainingJob

    busy = any(isinstance(v, TrainingJob) and not v.snapshot().finished for v in st.session_state.values())
    with st.sidebar:
        st.caption("Theme")
        _theme_component()(key="_theme_switch", data={"key": _THEME_KEY, "page": page, "pages": pages, "busy": busy})


# --- browser history ----------------------------------------------------------------------------

# Streamlit pushes a history entry for every rerun that rewrites the query string, so a slider moved
# by ten arrow-key presses would leave up to ten entries. This wraps history.pushState once per tab:
# a push that stays on the same page, changes exactly the parameters the current entry's push
# changed, and comes within HISTORY_MERGE_MS of it replaces that entry instead. A burst of moves of one
# control is one change for Back; any other change, a navigation or a Back/Forward starts afresh.
HISTORY_MERGE_MS = 2000
_HISTORY_JS = """
export default function (component) {
  const merge = window.__vaeHistoryMerge || (window.__vaeHistoryMerge = { last: null, installed: false });
  merge.windowMs = component.data.merge_ms;
  if (merge.installed) return;
  merge.installed = true;
  const push = window.history.pushState.bind(window.history);
  const changed = (before, after) => Array.from(new Set([...before.keys(), ...after.keys()]))
    .filter((key) => before.getAll(key).join('&') !== after.getAll(key).join('&')).sort().join('&');
  window.history.pushState = function (data, unused, url) {
    const next = new URL(url, window.location.href);
    const keys = next.pathname === window.location.pathname
      ? changed(new URLSearchParams(window.location.search), next.searchParams) : null;
    const now = Date.now();
    const last = merge.last;
    merge.last = keys ? { path: next.pathname, keys: keys, at: now } : null;
    if (keys && last && last.path === next.pathname && last.keys === keys && now - last.at <= merge.windowMs) {
      return window.history.replaceState(data, unused, url);
    }
    return push(data, unused, url);
  };
  window.addEventListener('popstate', () => { merge.last = null; });
}
"""


def history_merger() -> None:
    """Install the history-entry merging described above in this tab (once; later calls do nothing)."""
    component = st.components.v2.component("vae_history_merge", html="", js=_HISTORY_JS)
    component(key="_history_merge", data={"merge_ms": HISTORY_MERGE_MS})


# --- models -------------------------------------------------------------------------------------

def no_models(kind: str | None = None) -> None:
    """What to do when no suitable model exists."""
    what = {"fraud": "fraud model", "mnist": "MNIST model"}.get(kind or "", "model")
    if settings.current().viewer:
        st.info(f"There is no {what} on this server, and it is view only: ask whoever runs it to add one.",
                icon=":material/info:")
        return
    st.info(f"There is no {what} yet. Train one on the Train page (a minute on MNIST), or import a "
            "model zip on the Models page.", icon=":material/info:")
    left, right = st.columns(2)
    left.page_link("dashboard/pages/train.py", label="Train a model", icon=":material/model_training:")
    right.page_link("dashboard/pages/models.py", label="Import a model", icon=":material/upload:")


def _picked(kind: str) -> None:
    state.set_active(st.session_state[f"_pick_{kind}"])


def model_picker(kind: str, label: str = "Model") -> ModelInfo | None:
    """Sidebar choice of this session's `kind` model; None (after saying what to do) when there is none."""
    infos = state.usable(kind)
    if not infos:
        no_models(kind)
        return None
    names = [i.name for i in infos]
    st.session_state[f"_pick_{kind}"] = state.active_model(kind)
    gone = state.gone_model(kind)
    if gone is not None:
        st.warning(f"The model {gone!r} is no longer in the registry (deleted or renamed in another session); "
                   f"showing {state.active_model(kind)!r} instead.", icon=":material/warning:")
    labels = {i.name: presentation.model_label(i) for i in infos}
    st.sidebar.selectbox(label, names, key=f"_pick_{kind}", format_func=labels.__getitem__,
                         on_change=_picked, args=(kind,))
    info = infos[names.index(state.active_model(kind))]
    metric = presentation.headline_metric(info)
    st.sidebar.caption(f"Trained on: {presentation.short_source(info.metadata.get('data_source'))}"
                       + (f" · {metric}" if metric else ""))
    return info


def _explorer_kind_picked() -> None:
    st.session_state[state.EXPLORER_KIND] = st.session_state["_explorer_kind"]


def explorer_picker() -> ModelInfo | None:
    """Latent space and Decoder: which kind of model (when both exist), then which model of it."""
    kinds = [kind for kind in state.KINDS if state.usable(kind)]
    if len(kinds) > 1:
        st.session_state["_explorer_kind"] = state.explorer_kind()
        st.sidebar.segmented_control("Explore", kinds, key="_explorer_kind", on_change=_explorer_kind_picked,
                                     format_func=presentation.KIND_NAMES.get)
    return model_picker(state.explorer_kind() if kinds else "mnist")


# --- data and images ----------------------------------------------------------------------------

def source_banner(source: str, synthetic: bool = False, *, what: str = "Data") -> None:
    """Where the rows on screen came from; synthetic data is flagged loudly."""
    if synthetic:
        st.warning(f"**Synthetic data** — {source}. These are generated rows, not real transactions.",
                   icon=":material/science:")
    else:
        st.caption(f"{what}: {source}")


def show_image(image: np.ndarray, caption: str | None = None, scale: int = 6) -> None:
    """A (h, w) image in [0, 1], enlarged with crisp pixels."""
    enlarged = np.kron(np.asarray(image, np.float32), np.ones((scale, scale), np.float32))
    st.image(np.clip(enlarged, 0.0, 1.0), caption=caption, clamp=True)


def label_widgets(prefix: str, disabled: bool = False, defaults: tuple[str, str] = ("Class", "1")) -> tuple[str, str]:
    """Which column holds the label and which value marks fraud (for uploads and paths), under a
    collapsed "Label column" expander; `defaults` unless the session holds other values."""
    st.session_state.setdefault(f"{prefix}_label_column", defaults[0])
    st.session_state.setdefault(f"{prefix}_positive", defaults[1])
    with st.expander("Label column"):
        label_column = st.text_input("Label column", key=f"{prefix}_label_column", disabled=disabled)
        positive = st.text_input("Value that marks fraud", key=f"{prefix}_positive", disabled=disabled)
    return label_column.strip() or "Class", positive.strip() or "1"


def _model_labels(name: str, trained_on: dict[str, Any]) -> tuple[str, str]:
    """The label column and positive value `name`'s training file had: what uploads to score default
    to (set again whenever another model is chosen; a person's own edits stand until then)."""
    labels = str(trained_on.get("label_column") or "Class"), str(trained_on.get("positive") or "1")
    if st.session_state.get("_fraud_view_labels_for") != name:
        st.session_state["_fraud_view_labels_for"] = name
        st.session_state["fraud_view_label_column"], st.session_state["fraud_view_positive"] = labels
    return labels


def missing_label_column(payload: bytes, name: str, label_column: str) -> str | None:
    """"'x.csv' is missing the column(s) 'Class' (the label column; its columns: …)" when the upload's
    header lacks it; None when it has it or the header cannot be read (reading the file then says why)."""
    import io

    from vae_core.tables.tabular import csv_header

    try:
        header = csv_header(io.BytesIO(payload), name=name)
    except VAEError:
        return None
    if label_column in header:
        return None
    shown = ", ".join(repr(column[:40]) for column in header[:12]) + (" …" if len(header) > 12 else "")
    return f"'{name}' is missing the column(s) {label_column!r} (the label column; its columns: {shown})"


def fraud_rows_picker() -> loaders.DataKey | None:
    """Sidebar choice of the rows this session's fraud model scores; None (after saying why) when
    there are none. When "The model's training data" is not here and the model ships no held-out
    rows, the page names the file it needs and offers its upload."""
    st.sidebar.subheader("Transactions")
    choice = st.sidebar.radio("Score", list(sources.VIEW_CHOICES), format_func=presentation.VIEW_SOURCE_LABELS.get,
                              key="fraud_view_data")
    name = state.active_model("fraud")
    trained_on = loaders.fraud_model(name).info.get("data", {})
    labels = _model_labels(name, trained_on)
    if choice == "synthetic":
        return (choice, None, "", "")
    place = st.sidebar
    if choice == "model":
        missing = sources.model_rows_missing(trained_on, loaders.models_root() / name)
        if missing is None:
            return (choice, None, "", "")  # read the labels as the model's training file was
        st.warning(missing, icon=":material/upload_file:")
        place = st.container()
    with place:
        upload = st.file_uploader("Transactions CSV", type=["csv"], key="fraud_view_upload",
                                  max_upload_size=settings.current().max_csv_mb)
        label_column, positive = label_widgets("fraud_view", defaults=labels)
    if upload is None:
        if choice == "upload":
            st.info("Upload a CSV with the model's feature columns (and a label column to measure precision "
                    "and recall) in the sidebar.", icon=":material/upload:")
        return None
    uploads = st.session_state.setdefault(loaders.UPLOADS, {})
    if upload.file_id not in uploads:  # copy the bytes once, not on every rerun
        uploads.clear()
        uploads[upload.file_id] = (upload.name, upload.getvalue())
    unlabelled = missing_label_column(uploads[upload.file_id][1], upload.name, label_column)
    if unlabelled:
        where = "in the sidebar" if choice == "upload" else "below the upload"
        st.info(f"{unlabelled}, so which rows are frauds is unknown. If another column holds the labels, name it "
                f"under **Label column** {where} (it is collapsed), with the value that marks fraud.",
                icon=":material/label:")
    return ("upload", upload.file_id, label_column, positive)


def fraud_training_data(disabled: bool) -> dict[str, Any]:
    """Train page, fraud: where the training rows come from (options for sources.training_transactions).
    An upload is checked on arrival and its size and fraud share shown."""
    choice = st.radio("Transactions", list(sources.TRAINING_CHOICES), format_func=presentation.TRAINING_SOURCE_LABELS.get,
                      key="train_fraud_source", horizontal=True, disabled=disabled)
    options: dict[str, Any] = {"choice": choice}
    if choice == "auto":
        st.caption(f"Best available here: {presentation.best_source_note('fraud')}.")
    elif choice == "synthetic":
        source_banner("generated rows in the credit-card schema", synthetic=True)
    elif choice == "path":
        options["path"] = st.text_input("CSV path", key="train_fraud_path", disabled=disabled,
                                        placeholder="…/creditcard/creditcard_subset.csv")
    if choice in ("path", "upload"):
        options["label_column"], options["positive"] = label_widgets("train_fraud", disabled)
    if choice == "upload":
        upload = st.file_uploader("Transactions CSV", type=["csv"], key="train_fraud_upload", disabled=disabled,
                                  max_upload_size=settings.current().max_csv_mb)
        if upload is not None:
            options["upload"], options["upload_name"], options["upload_id"] = upload.getvalue(), upload.name, upload.file_id
            with guard("That file cannot be used"):
                unlabelled = missing_label_column(options["upload"], upload.name, options["label_column"])
                if unlabelled:
                    raise DataError(f"{unlabelled}. Name the column that holds the labels under **Label column** "
                                    "above the upload (it is collapsed), with the value that marks fraud.")
                data = loaders.checked_upload(upload.file_id, options["label_column"], options["positive"],
                                              upload.name, options["upload"])
                frauds = 0 if data.labels is None else int(data.labels.sum())
                st.success(f"{upload.name}: {len(data):,} rows, {len(data.feature_names)} features, "
                           f"{frauds:,} frauds ({frauds / max(1, len(data)):.2%}).", icon=":material/check:")
    percent = st.number_input("Deployment prevalence (%)", min_value=0.0001, max_value=99.9999, value=None,
                              step=0.01, format="%.4f", key="train_fraud_prevalence", disabled=disabled,
                              placeholder="the default",
                              help="The share of positives where the model will be used: its thresholds are chosen "
                                   "at it. Empty: 0.172% for the credit-card schema, else the training data's share.")
    options["deploy_prevalence"] = None if percent is None else float(f"{percent / 100:.10g}")
    return options
