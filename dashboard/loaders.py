"""What the dashboard keeps between reruns and shares between sessions: the registry listing,
loaded models, data, encodings and fraud scores.

Models, data and large per-model results live in `st.cache_resource` (read-only, shared by every
session, no copy per read); small derived values that pages may mutate live in `st.cache_data`.
Every cache key that depends on a saved model holds its `model_key` (folder, name, version), so a
replaced or deleted model is never served stale.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from vae_core import registry, sources

if TYPE_CHECKING:
    from vae_core.classifier import DigitClassifier
    from vae_core.data import ImageDataset
    from vae_core.fraud import FraudModel, ScoredData
    from vae_core.fraud_analysis import ScoreSummary
    from vae_core.registry import LoadedModel, ModelInfo
    from vae_core.thresholds import ThresholdSweep

ModelKey = tuple[str, str, tuple[int, int]]
# Which rows a fraud model scores: (choice, upload file id or None, label column, positive label).
DataKey = tuple[str, "str | None", str, str]
UPLOADS = "_fraud_uploads"  # session key: {file_id: (name, bytes)} of the CSV uploaded for scoring
_FROZEN = False
_KERAS_BUILDING = threading.RLock()  # held while a model is built; Keras's resets wait for it


def freeze_long_lived() -> None:
    """Once Keras is imported, move everything alive into gc's permanent generation.

    Streamlit calls keras.backend.clear_session() after every rerun once Keras is imported, and that
    runs a full gc.collect(): ~250 ms over TensorFlow's heap on this machine, on every slider or
    threshold move. Frozen objects (TensorFlow, Keras, loaded models) are skipped by later
    collections, so the per-rerun collection only walks what the rerun allocated.
    """
    global _FROZEN
    if not _FROZEN and "keras" in sys.modules:
        gc.freeze()
        _FROZEN = True


def _serialise_keras_resets() -> None:
    """Make Streamlit's per-rerun `keras.backend.clear_session()` wait while a model is being built.

    clear_session replaces Keras's global state (the counters that name layers) for every thread, so
    a model loading on one thread (the start-up warm-up, another session) while any session finishes
    a rerun fails with 'The name "dense" is used 2 times in the model'. Streamlit looks the function
    up on each call, so wrapping it once serialises the two.
    """
    import keras

    reset = keras.backend.clear_session
    if getattr(reset, "waits_for_builds", False):
        return

    def clear_session(*args, **kwargs):
        with _KERAS_BUILDING:
            return reset(*args, **kwargs)

    clear_session.waits_for_builds = True
    keras.backend.clear_session = clear_session


# --- the registry -------------------------------------------------------------------------------

def models_root() -> Path:
    """The registry folder (VAE_MODELS_DIR or the project's models/)."""
    return registry.models_dir()


def _registry_signature(root: Path) -> tuple:
    """(folder name, mtime, its files' (name, size, mtime)) of every model folder, and the defaults
    file: changes whenever a model is saved, replaced, deleted or damaged. A few stat calls per model."""
    def files(folder: str) -> tuple:
        try:
            with os.scandir(folder) as entries:
                return tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries))
        except OSError:
            return ()

    try:
        with os.scandir(root) as entries:
            return tuple(sorted((e.name, e.stat().st_mtime_ns, files(e.path) if e.is_dir() else ())
                                for e in entries if not e.name.startswith((".", "_"))))
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


def model_key(name: str) -> ModelKey:
    """(registry folder, name, (folder mtime, inode)): one saved version of a model (saves rename a
    fresh folder into place, so replacing a model changes both numbers)."""
    root = models_root()
    try:
        stat = (root / name).stat()
    except FileNotFoundError:
        raise registry.RegistryError(f"No model named {name!r} in the registry; it may have just been deleted.") from None
    return str(root), name, (stat.st_mtime_ns, stat.st_ino)


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _load_model(root: str, name: str, version: tuple[int, int]) -> LoadedModel:
    """Load a model and trace its encode/decode functions once, so the first slider move is as fast
    as the rest and many sessions can share it (calling a traced tf.function from threads is safe).
    A fraud model whose fraud.json cannot score fails here, once."""
    del version  # a replaced model has a new folder (mtime, inode), hence a new cache entry
    _serialise_keras_resets()
    with _KERAS_BUILDING:
        loaded = registry.load_model(name, root)
        if loaded.kind == "fraud":
            from vae_core.fraud import FraudModel

            FraudModel.from_loaded(loaded)
        config = loaded.vae.vae_config
        loaded.vae.decode(np.zeros((1, config.latent_dim), np.float32))
        loaded.vae.encode(np.zeros((1, *config.input_shape), np.float32))
    gc.freeze()  # a model lives as long as the server: keep it out of per-rerun collections
    return loaded


def get_model(name: str) -> LoadedModel:
    """The loaded model, shared by all sessions."""
    return _load_model(*model_key(name))


def fraud_model(name: str) -> FraudModel:
    from vae_core.fraud import FraudModel

    return FraudModel.from_loaded(get_model(name))


# --- MNIST --------------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading MNIST…", max_entries=4)
def mnist_test(choice: str = "auto", path: str | None = None) -> ImageDataset:
    """The MNIST test split, read-only and shared across sessions."""
    return sources.mnist_test(choice, path)


@st.cache_data(show_spinner="Encoding the test set…", max_entries=16)
def digit_codes(key: ModelKey) -> np.ndarray:
    """μ of every test digit for model `key`: (n, latent_dim); conditional models get the true labels."""
    data = mnist_test()
    return get_model(key[1]).vae.encode(data.x_test, data.y_test.astype(np.int64))[0]


@st.cache_resource(show_spinner="Training the digit classifier that judges prior samples (once)…")
def digit_classifier() -> DigitClassifier:
    """Trained once per data source and cached on disk; the training images are dropped afterwards."""
    from vae_core.classifier import digit_classifier as train_classifier

    return train_classifier(sources.mnist())


# --- transactions -------------------------------------------------------------------------------

def upload_for(data_key: DataKey) -> tuple[str, bytes] | None:
    """The (name, bytes) of the upload `data_key` names, from this session."""
    return st.session_state.get(UPLOADS, {}).get(data_key[1]) if data_key[1] else None


@st.cache_resource(show_spinner="Scoring transactions…", max_entries=6)
def _scored(key: ModelKey, data_key: DataKey, _upload: tuple[str, bytes] | None) -> ScoredData:
    from vae_core.fraud import score_dataset

    model = fraud_model(key[1])
    choice, _, label_column, positive = data_key
    name, payload = _upload if _upload else (None, None)
    data = sources.view_transactions(model.info.get("data", {}), choice, payload, name, label_column, positive)
    return score_dataset(model, data)


def scored(key: ModelKey, data_key: DataKey) -> ScoredData:
    """Model `key`'s scores on the chosen rows (its held-out test split when they are its training file)."""
    return _scored(key, data_key, upload_for(data_key))


@st.cache_resource(show_spinner="Summarising scores…", max_entries=6)
def summary(key: ModelKey, data_key: DataKey) -> ScoreSummary:
    from vae_core.fraud_analysis import summarise

    return summarise(scored(key, data_key))


@st.cache_resource(show_spinner=False, max_entries=24)
def sweep(key: ModelKey, data_key: DataKey, review_fee: float, fraud_cost: float | str) -> ThresholdSweep:
    from vae_core.fraud_analysis import build_sweep

    return build_sweep(scored(key, data_key), review_fee, fraud_cost)


@st.cache_resource(show_spinner="Checking the upload…", max_entries=4)
def checked_upload(file_id: str, label_column: str, positive: str, _name: str, _payload: bytes) -> Any:
    """An upload for training, read, validated and checked to be trainable (labels, both classes in
    every split); cached per file so reruns do not re-read it."""
    from vae_core.fraud import check_trainable

    data = sources.read_upload(_payload, _name, label_column, positive)
    check_trainable(data)
    return data


# --- the latent scatter ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LatentView:
    """Rows for a latent scatter: index (n,) row numbers (test digits, or positions of the scored
    transactions), mu (n, latent_dim), labels (n,) named by label_names, hover (n,) text."""

    index: np.ndarray
    mu: np.ndarray
    labels: np.ndarray
    label_names: dict[int, str]
    hover: list[str]
    source: str
    synthetic: bool = False


@st.cache_data(show_spinner="Encoding…", max_entries=16)
def latent_view(key: ModelKey, n: int, data_key: DataKey | None = None) -> LatentView:
    """Up to n rows of model `key`'s latent space: MNIST test digits, or scored transactions (every
    fraud first) when `data_key` names the rows of a fraud model."""
    from dashboard import presentation
    from vae_core.fraud_analysis import frauds_first
    from vae_core.latent import sample_rows

    if data_key is None:
        data = mnist_test()
        rows = sample_rows(len(data.x_test), n)
        labels = data.y_test[rows].astype(np.int64)
        return LatentView(rows, digit_codes(key)[rows], labels, presentation.DIGIT_NAMES,
                          presentation.digit_hover(rows, labels, data.x_test[rows]), data.source)
    result = scored(key, data_key)
    positions = frauds_first(result.labels, len(result.scores), n)
    labels = np.zeros(len(positions), np.int64) if result.labels is None else result.labels[positions]
    hover = presentation.fraud_hover(result, fraud_model(key[1]).feature_names, positions)
    return LatentView(positions, np.asarray(result.latent[positions]), labels, presentation.FRAUD_NAMES, hover,
                      result.source, result.synthetic)


@st.cache_data(show_spinner="Projecting…", max_entries=32)
def projected(key: ModelKey, n: int, method: str, dims: tuple[int, int],
              data_key: DataKey | None = None) -> tuple[np.ndarray, tuple[str, str]]:
    """(n, 2) scatter coordinates of `latent_view(key, n, data_key)` (see latent.project)."""
    from vae_core.latent import project

    return project(latent_view(key, n, data_key).mu, method, dims)


@st.cache_data(show_spinner=False, max_entries=32)
def latent_density(key: ModelKey, dims: tuple[int, int], extent: float,
                   data_key: DataKey | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pre-binned density of the rows' μ over two dims within ±extent, for the Decoder's z map."""
    from vae_core.latent import density

    view = latent_view(key, 10_000, data_key)
    return density(view.mu[:, list(dims)], extent=extent)
