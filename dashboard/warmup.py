"""Start-up work done before anyone asks: the default models and their first views, then (once the
server is quiet) the digit classifier that AE vs VAE judges prior samples with, and a warm training
process.

Streamlit runs page scripts only when a browser connects. `streamlit run app.py` finds app.py's
`app = st.App(..., lifespan=warmup.lifespan)` and enters the lifespan once as the server starts:
it imports the dashboard's modules (so the first page does not) and `start`s the rest on a
background thread, so the server answers at once. Models load in NumPy (vae_core.dense: no
TensorFlow in this process), so the loading takes a fraction of a second and begins at once. A page
that needs a model calls `wait_visibly()` first: while the start-up work runs, it shows what is
loading and returns when it is done. One line in the server's log says when the work has finished.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st
from streamlit.logger import get_logger

log = get_logger(__name__)  # Streamlit's logger: its INFO lines reach the server's terminal
THREAD = "warm-up"
# A warm training worker (TensorFlow's import and a first fit: ~10 s of a core) starts once the server
# is quiet: under this share of a core for this long, or after QUIET_MAX_SECONDS anyway.
QUIET_SHARE, QUIET_SECONDS, QUIET_MAX_SECONDS = 0.2, 2.0, 60.0


@dataclass(frozen=True)
class Progress:
    """What the start-up work is doing: `phase` for people, `done` once it has finished (or failed:
    a page that then needs the failed part shows that error itself)."""

    phase: str = "starting"
    started: float = 0.0
    done: bool = False


_lock = threading.Lock()
_progress: Progress | None = None  # None: never started (AppTest, a bare script)


def _set(**changes: Any) -> None:
    global _progress
    with _lock:
        _progress = replace(_progress or Progress(), **changes)


def progress() -> Progress | None:
    """The start-up work's state (None when it was never started in this process)."""
    with _lock:
        return _progress


class _OwnThreadOnly(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warnings raised by the warm-up thread: it fills
    the shared caches on purpose, outside any session."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD


def start() -> bool:
    """Begin the start-up work on a background thread (once per process); True when it began now."""
    global _progress
    with _lock:
        if _progress is not None:
            return False
        _progress = Progress(phase="starting", started=time.perf_counter())
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_OwnThreadOnly())
    threading.Thread(target=_run, name=THREAD, daemon=True).start()
    return True


def _run() -> None:
    """Load each kind's default model (what a first visit opens); then compute the default MNIST
    model's first views (`prepare_first_views`); then, once the server is quiet (on two cores, what
    people's pages need comes first), the digit classifier (trained once per data and kept on disk:
    seconds the first time, so AE vs VAE's first visit does not wait for it) and a warm training
    worker."""
    from dashboard import loaders
    from vae_core import jobs, registry, settings

    started = time.perf_counter()
    loaded, defaults = [], {}
    try:
        defaults = registry.default_models(loaders.model_infos(), loaders.models_root())
        for name in defaults.values():
            if name is not None:
                _set(phase=f"loading the model {name}")
                loaders.get_model(name)
                loaded.append(name)
    except Exception as exc:  # noqa: BLE001 - pages report their own errors; the log says why this stopped
        log.warning("start-up loading stopped: %s: %s", type(exc).__name__, exc)
    finally:
        _set(phase="ready", done=True)
    loaded_seconds, views = time.perf_counter() - started, ""
    if defaults.get("mnist") in loaded:
        try:
            prepare_first_views(defaults["mnist"])
            views = f"; first views of {defaults['mnist']} ready after {time.perf_counter() - started:.1f} s"
        except Exception as exc:  # noqa: BLE001 - the pages compute (and report) it themselves
            log.warning("preparing the first views stopped: %s: %s", type(exc).__name__, exc)
    log.info("%d default model(s) loaded in %.1f s (%s)%s", len(loaded), loaded_seconds,
             ", ".join(loaded) or "none", views)
    if defaults.get("mnist") in loaded:
        wait_until_quiet()
        try:
            loaders.digit_classifier()
        except Exception as exc:  # noqa: BLE001 - the AE vs VAE page trains (and reports) it itself
            log.warning("preparing the digit classifier stopped: %s: %s", type(exc).__name__, exc)
    if not settings.current().viewer:  # a view-only server never trains
        jobs.warm_up(when=wait_until_quiet)


def prepare_first_views(name: str) -> None:
    """Compute what a first visit to the Latent space page (its map in the default view) and the
    Decoder computes for the MNIST model `name`, into the loaders' caches. A page that asks for the
    same thing meanwhile waits for this computation instead of repeating it."""
    from dashboard import loaders, state

    key = loaders.model_key(name)
    view = state.default_map_view()
    loaders.map_geometry(key, None, view["projection"], tuple(view["dims"]))
    loaders.map_colours(key, None, view["colour"], None)
    loaders.map_hover(key, None)
    loaders.map_images(key)
    loaders.latent_view(key, loaders.VIEW_POINTS, None)


def wait_until_quiet() -> None:
    """Return once this server process has used under QUIET_SHARE of one core for QUIET_SECONDS in a
    row (people's page runs first), or after QUIET_MAX_SECONDS."""
    deadline = time.monotonic() + QUIET_MAX_SECONDS
    while time.monotonic() < deadline:
        used = time.process_time()
        time.sleep(QUIET_SECONDS)
        if time.process_time() - used < QUIET_SHARE * QUIET_SECONDS:
            return


def wait_visibly(poll_seconds: float = 0.25) -> None:
    """In a page: while the start-up work runs, show what it is loading, then clear it and return."""
    current = progress()
    if current is None or current.done:
        return
    box = st.empty()
    while current is not None and not current.done:
        box.info(f"The server is starting up: {current.phase}… ({time.perf_counter() - current.started:.0f} s). "
                 "This page opens when it is done.", icon=":material/hourglass_top:")
        time.sleep(poll_seconds)
        current = progress()
    box.empty()


@asynccontextmanager
async def lifespan(app) -> AsyncIterator[None]:
    """st.App's lifespan: start the warm-up as the server starts; stop the training worker at exit."""
    from dashboard import loaders, state, widgets  # noqa: F401 (what every page imports; the runtime exists now)
    from vae_core import jobs

    start()
    yield
    jobs.shutdown()
