"""Streamlit-side helpers shared by the pages: cached loaders, the active-model picker, banners, errors.

Everything that computes lives in `vae_core`; this module only decides what is cached, what lives
in a user's session, and how shared bits of UI look. Session keys are plain strings holding plain
values (names, numbers, lists), so they can later be mirrored into the URL.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from vae_core import registry, views
from vae_core.errors import VAEError

if TYPE_CHECKING:
    from vae_core.data import ImageDataset
    from vae_core.registry import LoadedModel, ModelInfo

log = logging.getLogger("vae_dashboard")

PAGES = {
    "home": "app_pages/home.py",
    "train": "app_pages/train.py",
    "models": "app_pages/models.py",
    "latent": "app_pages/latent.py",
    "decoder": "app_pages/decoder.py",
    "threshold": "app_pages/threshold.py",
    "compare": "app_pages/compare.py",
    "elbo": "app_pages/elbo.py",
}

# Session keys (values are plain data so a later URL sync can mirror them).
ACTIVE_MODEL = "active_model"  # str: the model every page works on
SELECTED_POINT = "selected_point"  # {"model": str, "row": int}: the point picked on the Latent page
DECODER_Z = "decoder_z"  # {"model": str, "z": list[float]}: the Decoder's latent point
INTERP_ENDS = "interp_ends"  # {"model": str, "a": int, "b": int}: interpolation end rows
_PICKER = "_active_model_picker"  # the sidebar selectbox mirroring ACTIVE_MODEL


# --- errors -------------------------------------------------------------------------------------

@contextmanager
def guard(action: str = "") -> Iterator[None]:
    """Show a failure as one st.error line (what went wrong), never a traceback; the block stops."""
    try:
        yield
        freeze_long_lived()
    except (VAEError, OSError, ValueError) as exc:  # bad input or files: the message says what to do
        st.error(f"{action}{': ' if action else ''}{exc}", icon=":material/error:")
    except Exception as exc:  # noqa: BLE001 - the last line of defence for people, logged for us
        log.error("unexpected error%s:\n%s", f" in {action}" if action else "", traceback.format_exc())
        st.error(f"{action or 'That'} failed unexpectedly ({type(exc).__name__}: {exc}). "
                 "The details are in the server log.", icon=":material/error:")


_FROZEN_WITH_KERAS = False


def freeze_long_lived() -> None:
    """Once Keras is imported (by any page), move everything alive into gc's permanent generation.

    Streamlit calls keras.backend.clear_session() after every rerun once Keras is imported, and
    that runs a full gc.collect(): ~250 ms over TensorFlow's heap on this machine, on every slider
    or threshold move. Frozen objects (TensorFlow, Keras, loaded models) are skipped by later
    collections, so the per-rerun collection only walks what the rerun allocated.
    """
    global _FROZEN_WITH_KERAS
    if not _FROZEN_WITH_KERAS and "keras" in sys.modules:
        gc.freeze()
        _FROZEN_WITH_KERAS = True


def fragment(func):
    """st.fragment whose failures are shown like `guard` shows them (a fragment can rerun on its own)."""
    @functools.wraps(func)
    def body(*args, **kwargs):
        with guard():
            func(*args, **kwargs)

    return st.fragment(body)


def session_alive_probe():
    """A zero-argument check that this browser session still exists (None outside a server run), so
    work it started, such as training, can stop when it is gone."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    server, session_id = runtime.get_instance(), ctx.session_id
    return lambda: bool(server.is_active_session(session_id))


# --- registry -----------------------------------------------------------------------------------

def models_root() -> Path:
    """The registry folder (VAE_MODELS_DIR or the project's models/)."""
    return registry.models_dir()


def _registry_signature(root: Path) -> tuple:
    """(folder name, mtime, its files' (name, size, mtime)) of every model folder: changes whenever a
    model is saved, replaced or deleted, and when a file inside one is damaged or fixed in place.
    A few stat calls per model on each rerun."""
    def files(folder: str) -> tuple:
        try:
            with os.scandir(folder) as entries:
                return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries))
        except OSError:
            return ()

    try:
        with os.scandir(root) as entries:
            return tuple(sorted((e.name, e.stat().st_mtime_ns, files(e.path)) for e in entries
                                if e.is_dir() and not e.name.startswith((".", "_"))))
    except FileNotFoundError:
        return ()


@st.cache_data(show_spinner=False, max_entries=32)
def _list_models(root: str, signature: tuple) -> list[ModelInfo]:
    del signature  # part of the cache key only
    return registry.list_models(root)


def model_infos() -> list[ModelInfo]:
    """Every registry entry (broken ones too); re-read only when the folder changes."""
    root = models_root()
    return _list_models(str(root), _registry_signature(root))


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _load_model(root: str, name: str, version: tuple[int, int]) -> LoadedModel:
    del version  # a replaced model has a new folder (mtime, inode), hence a new cache entry
    loaded = views.load_ready_model(name, root)
    gc.freeze()  # a model lives as long as the server: keep it out of per-rerun collections (see freeze_long_lived)
    return loaded


def model_key(name: str) -> tuple[str, str, tuple[int, int]]:
    """(registry folder, name, (folder mtime, inode)): identifies one saved version of a model.

    Saves rename a fresh folder into place, so replacing a model changes both numbers.
    """
    root = models_root()
    try:
        stat = (root / name).stat()
    except FileNotFoundError:
        raise registry.RegistryError(f"No model named {name!r} in {root}; it may have just been deleted.") from None
    return str(root), name, (stat.st_mtime_ns, stat.st_ino)


def get_model(name: str) -> LoadedModel:
    """The loaded model, shared by all sessions (its encode/decode functions are traced once)."""
    return _load_model(*model_key(name))


# --- data ---------------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading MNIST…", max_entries=4)
def mnist_test(choice: str = "auto", path: str | None = None) -> ImageDataset:
    """The MNIST test split, read-only and shared across sessions (cache_resource: no per-rerun copy)."""
    return views.load_mnist_test(choice, path)


@st.cache_data(show_spinner="Encoding the test set…", max_entries=16)
def encoded_mnist(key: tuple, n: int, seed: int = 0, thumbnails: bool = True) -> views.LatentSample:
    """μ, labels and hover text for up to n test digits of the active model (key = model_key)."""
    return views.encode_mnist(get_model(key[1]).vae, mnist_test(), n, seed=seed, thumbnails=thumbnails)


@st.cache_data(show_spinner="Projecting…", max_entries=32)
def projected(key: tuple, n: int, method: str, dims: tuple[int, int], sample_key: Any = None) -> tuple[np.ndarray, tuple[str, str]]:
    """(n, 2) scatter coordinates of the cached latent sample (see views.project)."""
    sample = latent_sample(key, n, sample_key)
    return views.project(sample.mu, method, dims)


def latent_sample(key: tuple, n: int, sample_key: Any = None, thumbnails: bool = True) -> views.LatentSample:
    """The cached latent sample for the model `key` (MNIST test digits, or fraud rows via `sample_key`)."""
    if sample_key is None:
        return encoded_mnist(key, n, thumbnails=thumbnails)
    import app_fraud

    return app_fraud.encoded_fraud(key, n, sample_key)


@st.cache_data(show_spinner=False, max_entries=32)
def latent_density(key: tuple, dims: tuple[int, int], sample_key: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Pre-binned density of the test set's μ over two dims, for the Decoder's z map."""
    sample = latent_sample(key, 10_000, sample_key, thumbnails=False)
    return views.density(sample.mu[:, list(dims)], extent=views.Z_LIMIT)


# --- shared widgets -----------------------------------------------------------------------------

def _copy_picker() -> None:
    st.session_state[ACTIVE_MODEL] = st.session_state[_PICKER]


def pick_model(kinds: tuple[str, ...] | None = None, *, label: str = "Active model") -> ModelInfo | None:
    """Sidebar picker for the model shared by all pages; None (after saying what to do) when there is none.

    `kinds` limits the choice (("fraud",) on the threshold page); when the active model is of another
    kind, the first suitable one becomes active.
    """
    infos = views.usable_models(model_infos(), kinds)
    if not infos:
        no_models(kinds)
        return None
    names = [i.name for i in infos]
    if st.session_state.get(ACTIVE_MODEL) not in names:
        # First visit: an MNIST model, the 2-D one if any (the latent explorer's best first impression).
        mnist = sorted((i for i in infos if i.config.get("kind") == "mnist"),
                       key=lambda i: (i.config.get("vae_config", {}).get("latent_dim", 0), i.name))
        st.session_state[ACTIVE_MODEL] = (mnist[0].name if mnist else names[0])
    st.session_state[_PICKER] = st.session_state[ACTIVE_MODEL]
    labels = {i.name: views.model_label(i) for i in infos}
    st.sidebar.selectbox(label, names, key=_PICKER, format_func=labels.__getitem__, on_change=_copy_picker)
    info = infos[names.index(st.session_state[ACTIVE_MODEL])]
    metric = views.headline_metric(info)
    st.sidebar.caption(f"Trained on: {info.metadata.get('data_source', 'unknown')}" + (f" · {metric}" if metric else ""))
    return info


def no_models(kinds: tuple[str, ...] | None = None) -> None:
    """What to do when no suitable model exists."""
    what = {("fraud",): "fraud model", ("mnist",): "MNIST model"}.get(kinds, "model") if kinds else "model"
    st.info(f"There is no {what} yet. Train one on the Train page (a minute on MNIST), or import a "
            "model zip on the Models page.", icon=":material/info:")
    left, right = st.columns(2)
    left.page_link(PAGES["train"], label="Train a model", icon=":material/model_training:")
    right.page_link(PAGES["models"], label="Import a model", icon=":material/upload:")


def source_banner(source: str, synthetic: bool = False, *, what: str = "Data") -> None:
    """Where the rows on screen came from; synthetic data is flagged loudly."""
    if synthetic:
        st.warning(f"**Synthetic data** — {source}. These are generated rows, not real transactions.",
                   icon=":material/science:")
    else:
        st.caption(f"{what}: {source}")


def set_active_and_go(name: str, page: str) -> None:
    """Make `name` the active model and open `page` (a key of PAGES)."""
    st.session_state[ACTIVE_MODEL] = name
    st.switch_page(PAGES[page])


def show_image(image: np.ndarray, caption: str | None = None, scale: int = 6) -> None:
    """A (h, w) image in [0, 1], enlarged with crisp pixels."""
    st.image(views.upscale(image, scale), caption=caption, clamp=True)


# --- shareable views: the page's state mirrored into the URL's query parameters -----------------

THRESHOLD = "fraud_threshold"  # {"model", "data", "value", "strategy", "params"}: the Fraud threshold page
URL_THRESHOLD = "_url_threshold"  # a threshold from the link, applied when the threshold page opens
_URL_RESTORED = "_url_restored"
URL_KEYS = ("model", "point", "z", "threshold", "strategy")


def restore_from_url() -> None:
    """On a session's first run, take the view from the link: ?model=…&point=…&z=…&threshold=…&strategy=…

    Values that do not parse are ignored (the page opens on its defaults instead).
    """
    if st.session_state.get(_URL_RESTORED):
        return
    st.session_state[_URL_RESTORED] = True
    params = st.query_params
    model = params.get("model")
    if not model:
        return
    st.session_state[ACTIVE_MODEL] = model
    try:
        if "point" in params:
            st.session_state[SELECTED_POINT] = {"model": model, "row": int(params["point"])}
        if "z" in params:
            z = [float(v) for v in params["z"].split(",")]
            if z and all(np.isfinite(z)):
                st.session_state[DECODER_Z] = {"model": model, "z": views.clamp_z(z, len(z))}  # within the sliders
        if "threshold" in params and np.isfinite(float(params["threshold"])):
            limit = float(np.finfo(np.float32).max)  # scores are float32
            value = float(np.clip(float(params["threshold"]), -limit, limit))
            st.session_state[URL_THRESHOLD] = {"model": model, "value": value,
                                               "strategy": params.get("strategy") or None}
    except ValueError:
        log.info("ignored a malformed query parameter in %s", dict(params))


def mirror_to_url() -> None:
    """Write the current view into the query parameters, so the address bar is always a shareable link."""
    model = st.session_state.get(ACTIVE_MODEL)
    wanted: dict[str, str] = {}
    if model:
        wanted["model"] = model
        point = st.session_state.get(SELECTED_POINT) or {}
        if point.get("model") == model:
            wanted["point"] = str(point["row"])
        z = st.session_state.get(DECODER_Z) or {}
        if z.get("model") == model:
            wanted["z"] = ",".join(f"{v:.3f}" for v in z["z"])
        threshold = st.session_state.get(THRESHOLD) or {}
        if threshold.get("model") == model:
            wanted["threshold"] = f"{threshold['value']:.6g}"
            if threshold.get("strategy"):
                wanted["strategy"] = threshold["strategy"]
    params = st.query_params
    for key in URL_KEYS:
        if key in wanted and params.get(key) != wanted[key]:
            params[key] = wanted[key]
        elif key not in wanted and key in params:
            del params[key]
