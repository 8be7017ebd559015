"""What the dashboard keeps between reruns and shares between sessions: the registry listing,
loaded models, data, encodings and fraud scores.

Models, data and large per-model results live in `st.cache_resource` (read-only, shared by every
session, no copy per read); small derived values that pages may mutate live in `st.cache_data`.
Every cache key that depends on a saved model holds its `model_key` (folder, name, version), so a
replaced or deleted model is never served stale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from vae_core import registry, sources

if TYPE_CHECKING:
    from dashboard.components.latent_map import Blob, MapGeometry
    from vae_core.tables.bootstrap import Intervals
    from vae_core.images.classifier import DigitClassifier
    from vae_core.images.data import ImageDataset
    from vae_core.tables.explain import Walk
    from vae_core.tables.fraud import FraudModel, ScoredData
    from vae_core.tables.fraud_analysis import CostView, ScoreSummary, StopTable
    from vae_core.latent import Projection
    from vae_core.registry import LoadedModel, ModelInfo
    from vae_core.tables.thresholds import ThresholdSweep

ModelKey = tuple[str, str, tuple[int, int]]
# Which rows a fraud model scores: (choice, upload file id or None, label column, positive label), and
# optionally who scores them: a fifth entry naming a baseline stored with the model (default the VAE).
DataKey = tuple[str, ...]
UPLOADS = "_fraud_uploads"  # session key: {file_id: (name, bytes)} of the CSV uploaded for scoring


def _keep_keras_state_between_reruns() -> None:
    """Stop Streamlit's reset of Keras after every rerun (`keras.backend.clear_session()` once Keras
    is imported).

    That reset swaps Keras's per-thread state for every thread at once, so a session loading a
    model while another session's rerun ends builds layers with clashing names ("The name "dense"
    is used 2 times in the model") and the load fails; it also runs a full gc.collect() over
    TensorFlow's heap (~250 ms here) and empties TensorFlow's kernel cache on every slider move.
    The dashboard needs none of it: models are loaded once and shared, and training runs in child
    processes with their own Keras. (Streamlit's only other clean-up there closes matplotlib
    figures, which the dashboard does not draw.)
    """
    from streamlit.runtime.scriptrunner import script_runner

    script_runner._clean_problem_modules = lambda: None


_keep_keras_state_between_reruns()



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
    """Load a model once for every session to share: dense models in NumPy (no TensorFlow); a conv
    model's Keras functions are traced here, so its first slider move is as fast as the rest. A fraud
    model whose fraud.json cannot score fails here, once."""
    del version  # a replaced model has a new folder (mtime, inode), hence a new cache entry
    loaded = registry.load_model(name, root)
    if loaded.kind == "fraud":
        from vae_core.tables.fraud import FraudModel

        FraudModel.from_loaded(loaded)
    config = loaded.vae.vae_config
    loaded.vae.decode(np.zeros((1, config.latent_dim), np.float32))
    loaded.vae.encode(np.zeros((1, *config.input_shape), np.float32))
    return loaded


def get_model(name: str) -> LoadedModel:
    """The loaded model, shared by all sessions."""
    return _load_model(*model_key(name))


def fraud_model(name: str) -> FraudModel:
    from vae_core.tables.fraud import FraudModel

    return FraudModel.from_loaded(get_model(name))


# --- MNIST --------------------------------------------------------------------------------------

def mnist_test(choice: str = "auto", path: str | None = None) -> ImageDataset:
    """The MNIST test split, read-only and shared across sessions."""
    return _mnist_test(choice, path)


@st.cache_resource(show_spinner="Loading MNIST…", max_entries=4)
def _mnist_test(choice: str, path: str | None) -> ImageDataset:
    return sources.mnist_test(choice, path)


@st.cache_resource(show_spinner="Training the digit classifier that judges prior samples (once)…")
def digit_classifier() -> DigitClassifier:
    """Trained once per data source and cached on disk; the training images are dropped afterwards."""
    from vae_core.images.classifier import digit_classifier as train_classifier

    return train_classifier(sources.mnist())


# --- transactions -------------------------------------------------------------------------------

def upload_for(data_key: DataKey) -> tuple[str, bytes] | None:
    """The (name, bytes) of the upload `data_key` names, from this session."""
    return st.session_state.get(UPLOADS, {}).get(data_key[1]) if data_key[1] else None


def _data_identity(key: ModelKey, data_key: DataKey, upload: tuple[str, bytes] | None) -> tuple[Path, str | None]:
    """(the model's folder, what the rows `data_key` names are: vae_core.tables.score_cache.data_identity)."""
    from vae_core.tables import score_cache

    folder = Path(key[0]) / key[1]
    return folder, score_cache.data_identity(fraud_model(key[1]).info.get("data", {}), data_key[0],
                                             upload[1] if upload else None, folder)


@st.cache_resource(show_spinner="Scoring transactions…", max_entries=6)
def _scored(key: ModelKey, data_key: DataKey, _upload: tuple[str, bytes] | None) -> ScoredData:
    from vae_core.tables import score_cache
    from vae_core.tables.advice import VAE as VAE_SCORER

    model = fraud_model(key[1])
    choice, _, label_column, positive, *scorer = data_key
    name, payload = _upload if _upload else (None, None)
    folder, identity = _data_identity(key, data_key, _upload)
    trained_on = model.info.get("data", {})
    return score_cache.scored_view(
        model, folder,
        lambda: sources.view_transactions(trained_on, choice, payload, name, label_column, positive, model_folder=folder),
        identity, label_column=label_column, positive=positive, scorer=scorer[0] if scorer else VAE_SCORER)


def scored(key: ModelKey, data_key: DataKey) -> ScoredData:
    """Model `key`'s scores on the chosen rows (its held-out test split when they are its training file
    or the held-out rows shipped with it); scored once, then read back from vae_core.tables.score_cache."""
    return _scored(key, data_key, upload_for(data_key))


@st.cache_resource(show_spinner="Summarising scores…", max_entries=6)
def summary(key: ModelKey, data_key: DataKey) -> ScoreSummary:
    from vae_core.tables.fraud_analysis import summarise

    return summarise(scored(key, data_key))


@st.cache_resource(show_spinner=False, max_entries=24)
def sweep(key: ModelKey, data_key: DataKey, review_fee: float, fraud_cost: float | str,
          prevalence: float | None) -> ThresholdSweep:
    """The rows' sweep as sampled, or reweighted to `prevalence`."""
    from vae_core.tables.fraud_analysis import build_sweep

    return build_sweep(scored(key, data_key), review_fee, fraud_cost, prevalence)


@st.cache_resource(show_spinner=False, max_entries=24)
def stop_table(key: ModelKey, data_key: DataKey, review_fee: float, fraud_cost: float | str) -> StopTable:
    """Counts at the threshold stops the browser-side explorer can land on (a few thousand)."""
    from vae_core.tables import fraud_analysis

    counts = sweep(key, data_key, review_fee, fraud_cost, None)
    return fraud_analysis.stop_table(counts, fraud_analysis.explorer_stops(counts))


@st.cache_resource(show_spinner=False, max_entries=24)
def costs(key: ModelKey, data_key: DataKey, review_fee: float, fraud_cost: float | str,
          prevalence: float | None) -> CostView | None:
    """The money panel's numbers (None when a miss's cost is unknown): the exact minimum over every
    score, as sampled or expected per n rows at `prevalence`."""
    from vae_core.tables.fraud_analysis import cost_view

    return cost_view(sweep(key, data_key, review_fee, fraud_cost, prevalence),
                     stop_table(key, data_key, review_fee, fraud_cost).thresholds)


@st.cache_resource(show_spinner="Bootstrapping the curves…", max_entries=12)
def bands(key: ModelKey, data_key: DataKey, review_fee: float, fraud_cost: float | str) -> tuple[np.ndarray, Intervals]:
    """(stop indices (j,), bootstrap intervals at those stops with ROC and PR bands): the explorer's bands."""
    from vae_core.tables.bootstrap import bootstrap
    from vae_core.tables.fraud_analysis import band_indices

    table = stop_table(key, data_key, review_fee, fraud_cost)
    at = band_indices(len(table.thresholds))
    return at, bootstrap(sweep(key, data_key, review_fee, fraud_cost, None), table.thresholds[at], curves=True)


@st.cache_resource(show_spinner="Scoring the baselines…", max_entries=12)
def baselines(key: ModelKey, data_key: DataKey, review_fee: float,
              fraud_cost: float | str) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """The VAE and the baselines stored with the model (PCA, IsolationForest), on the same rows:
    (one metrics row per scorer, {baseline name: its thinned ROC and PR curves}); empty when the
    model has no stored baselines or the rows are unlabelled."""
    from dashboard import presentation
    from vae_core.tables import fraud_analysis

    rows, others = _baseline_scores(key, data_key)
    if not others:
        return [], {}
    table = fraud_analysis.scorer_table({presentation.VAE_SCORER_NAME: rows.scores, **others}, rows.labels, rows.amounts,
                                        review_fee=review_fee, fraud_cost=fraud_cost)
    return table, {name: fraud_analysis.scorer_curves(values, rows.labels) for name, values in others.items()}


def _baseline_scores(key: ModelKey, data_key: DataKey) -> tuple[Any, dict[str, np.ndarray]]:
    """(the VAE's scored rows, {baseline name: its scores (n,) of the same rows}); no baselines when
    the model stores none or the rows are unlabelled."""
    from vae_core.tables import score_cache

    rows = scored(key, data_key[:4])  # the VAE's scores, whoever scores the page
    folder, identity = _data_identity(key, data_key, upload_for(data_key))
    others = (score_cache.baseline_view(fraud_model(key[1]), folder, rows, identity, label_column=data_key[2],
                                        positive=data_key[3]) if rows.labels is not None else {})
    return rows, others


@st.cache_data(show_spinner=False, max_entries=8)
def curves_csv(key: ModelKey, data_key: DataKey, review_fee: float, fraud_cost: float | str,
               prevalence: float | None) -> bytes:
    """vae_core.tables.fraud_analysis.curves_csv of the VAE and its stored baselines on the page's rows."""
    from dashboard import presentation
    from vae_core.tables import fraud_analysis

    rows, others = _baseline_scores(key, data_key)
    return fraud_analysis.curves_csv({presentation.VAE_SCORER_NAME: rows.scores, **others}, rows.labels, rows.amounts,
                                     review_fee=review_fee, fraud_cost=fraud_cost, prevalence=prevalence)


@st.cache_data(show_spinner=False, max_entries=12)
def scorer_costs(key: ModelKey, data_key: DataKey, review_fee: float, fraud_cost: float | str,
                 prevalence: float | None) -> dict[str, dict[str, np.ndarray]]:
    """vae_core.tables.fraud_analysis.scorer_cost_curves of the VAE and its stored baselines on the page's rows."""
    from dashboard import presentation
    from vae_core.tables import fraud_analysis

    rows, others = _baseline_scores(key, data_key)
    if not others:
        return {}
    return fraud_analysis.scorer_cost_curves({presentation.VAE_SCORER_NAME: rows.scores, **others}, rows.labels,
                                             rows.amounts, review_fee=review_fee, fraud_cost=fraud_cost,
                                             prevalence=prevalence)


@st.cache_data(show_spinner=False, max_entries=64)
def robustness(key: ModelKey, data_key: DataKey, threshold: float) -> tuple[dict[str, list[dict]], list[dict] | None]:
    """(segment_rows, window_rows) of vae_core.tables.fraud_analysis at `threshold` on the page's rows."""
    from vae_core.tables import fraud_analysis

    rows = scored(key, data_key)
    return fraud_analysis.segment_rows(rows, threshold), fraud_analysis.window_rows(rows, threshold)


@st.cache_data(show_spinner=False, max_entries=256)
def intervals_at(key: ModelKey, data_key: DataKey, review_fee: float, fraud_cost: float | str, threshold: float,
                 prevalence: float) -> dict[str, tuple[float, float] | None]:
    """Bootstrap intervals {metric: (low, high) | None} at one threshold, with the precision at `prevalence`."""
    from vae_core.tables.bootstrap import bootstrap

    return bootstrap(sweep(key, data_key, review_fee, fraud_cost, None), threshold, prevalence=prevalence).at(0)


@st.cache_resource(show_spinner="Looking for the nearest normal-looking point…", max_entries=32)
def walk(key: ModelKey, data_key: DataKey, position: int) -> Walk:
    """The scored row at `position` walked toward the prior's centre, decoded and scored once
    (vae_core.tables.explain): its counterfactual at any threshold is then a lookup."""
    from vae_core.tables.explain import walk as decode_walk

    return decode_walk(fraud_model(key[1]), scored(key, data_key).features.iloc[[position]])


@st.cache_data(show_spinner="Comparing the batch with the model's validation rows…", max_entries=4)
def drift_report(key: ModelKey, file_id: str, threshold: float | None, _name: str, _payload: bytes) -> dict:
    """vae_core.tables.drift.check_drift of an uploaded batch (read as the model's training file was) against
    the model's validation rows, at `threshold` (None: the model's own); cached per upload."""
    from vae_core.tables.drift import check_drift

    model = fraud_model(key[1])
    trained_on = model.info.get("data", {})
    sources.check_score_rows(_payload, _name)
    batch = sources.read_upload(_payload, _name, model.label_column, str(model.positive), require_label=False)
    reference = sources.view_transactions(trained_on, "model", model_folder=Path(key[0]) / key[1])
    return check_drift(model, reference, batch, threshold)


@st.cache_resource(show_spinner="Checking the upload…", max_entries=4)
def checked_upload(file_id: str, label_column: str, positive: str, _name: str, _payload: bytes) -> Any:
    """An upload for training, read, validated and checked to be trainable (labels, both classes in
    every split); cached per file so reruns do not re-read it."""
    from vae_core.tables.fraud import check_trainable

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


COLUMN_COLOUR = "column:"  # a map colouring by a numeric column of the scored rows: "column:V14"
VIEW_POINTS = 10_000  # rows of the Decoder's latent views (its density map, interpolation ends)


@st.cache_data(show_spinner="Encoding…", max_entries=16)
def latent_view(key: ModelKey, n: int, data_key: DataKey | None) -> LatentView:
    """Up to n rows of model `key`'s latent space: MNIST test digits, or scored transactions (every
    fraud first) when `data_key` names the rows of a fraud model."""
    from dashboard import presentation
    from vae_core.tables.fraud_analysis import frauds_first
    from vae_core.latent import sample_rows

    if data_key is None:
        data = mnist_test()
        rows = sample_rows(len(data.x_test), n)
        labels = data.y_test[rows].astype(np.int64)
        return LatentView(rows, map_points(key, None).mu[rows], labels, presentation.DIGIT_NAMES,
                          presentation.digit_hover(rows, labels, data.x_test[rows]), data.source)
    result = scored(key, data_key)
    positions = frauds_first(result.labels, len(result.scores), n)
    labels = np.zeros(len(positions), np.int64) if result.labels is None else result.labels[positions]
    hover = presentation.fraud_hover(result, fraud_model(key[1]).feature_names, positions)
    return LatentView(positions, np.asarray(result.latent[positions]), labels, presentation.FRAUD_NAMES, hover,
                      result.source, result.synthetic)


@st.cache_data(show_spinner=False, max_entries=32)
def latent_density(key: ModelKey, dims: tuple[int, int], extent: float,
                   data_key: DataKey | None) -> tuple[np.ndarray, np.ndarray]:
    """Pre-binned density of the rows' μ over two dims within ±extent, for the Decoder's z map."""
    from vae_core.latent import density

    view = latent_view(key, VIEW_POINTS, data_key)
    return density(view.mu[:, list(dims)], extent=extent)


# --- the latent map: every row ----------------------------------------------------------------------

@dataclass(frozen=True)
class MapPoints:
    """Every row the latent map shows for one model and one set of rows (arrays aligned, n rows).

    kind: "mnist" (the test digits, in test order) or "fraud" (the scored rows); mu (n, latent_dim);
    labels (n,) class codes named by label_names, or None (unlabelled transactions); error (n,):
    −log p(x|μ) in nats (digits) or the anomaly score (transactions); kl (n,) in nats; rows (n,) test
    indices or file rows; worst: the three largest feature errors (n, 3) and their shares of the score
    in percent (n, 3), transactions only.
    """

    kind: str
    mu: np.ndarray
    labels: np.ndarray | None
    label_names: dict[int, str]
    error: np.ndarray
    kl: np.ndarray
    rows: np.ndarray
    worst: tuple[np.ndarray, np.ndarray] | None
    source: str
    synthetic: bool = False


@st.cache_resource(show_spinner="Encoding every point…", max_entries=8)
def map_points(key: ModelKey, data_key: DataKey | None) -> MapPoints:
    """All test digits (data_key None) or all scored rows of model `key`, with their ELBO terms."""
    from dashboard import presentation
    from vae_core.latent import kl_per_point, largest_terms, point_terms

    if data_key is None:
        data = mnist_test()
        labels = data.y_test.astype(np.int64)
        terms = point_terms(get_model(key[1]).vae, data.x_test, labels)
        return MapPoints("mnist", terms.mu, labels, presentation.DIGIT_NAMES, terms.reconstruction, terms.kl,
                         np.arange(len(labels)), None, data.source)
    result = scored(key, data_key)
    model = fraud_model(key[1])
    _, log_var = model.vae.encode(model.preprocessor.transform(result.features))
    return MapPoints("fraud", np.asarray(result.latent), result.labels, presentation.FRAUD_NAMES,
                     np.asarray(result.scores, np.float32), kl_per_point(result.latent, log_var),
                     np.asarray(result.rows), largest_terms(result.feature_errors), result.source, result.synthetic)


@st.cache_resource(show_spinner="Projecting every point (t-SNE takes a minute or more the first time; it is "
                                "then kept on disk)…", max_entries=16)
def map_projection(key: ModelKey, data_key: DataKey | None, method: str, dims: tuple[int, int]) -> Projection:
    """Every row of `map_points` on the map (see latent.cached_projection)."""
    from vae_core.latent import cached_projection

    return cached_projection(map_points(key, data_key).mu, method, dims)


@st.cache_resource(show_spinner=False, max_entries=16)
def map_geometry(key: ModelKey, data_key: DataKey | None, method: str, dims: tuple[int, int]) -> MapGeometry:
    from dashboard.components.latent_map import map_geometry as geometry

    return geometry(map_projection(key, data_key, method, dims))


@st.cache_resource(show_spinner=False, max_entries=8)
def map_hover(key: ModelKey, data_key: DataKey | None) -> dict[str, Blob]:
    """What a hover shows, per row: "labels" uint8 (255: unlabelled), "error", "kl" float32, and for
    transactions "rows" int32 and "worst" uint8 (n, 6)."""
    from dashboard.components.latent_map import blob

    points = map_points(key, data_key)
    n = len(points.error)
    labels = np.full(n, 255, np.uint8) if points.labels is None else points.labels.astype(np.uint8)
    blobs = {"labels": blob(labels), "error": blob(points.error.astype(np.float32)),
             "kl": blob(points.kl.astype(np.float32))}
    if points.kind == "fraud":
        blobs["rows"] = blob(points.rows.astype(np.int32))
        blobs["worst"] = blob(np.concatenate([points.worst[0].astype(np.uint8), points.worst[1]], axis=1))
    return blobs


@st.cache_resource(show_spinner=False, max_entries=24)
def map_colours(key: ModelKey, data_key: DataKey | None, mode: str,
                threshold: float | None) -> tuple[Blob, dict[str, Any]]:
    """The colour codes and legend of one colouring (`threshold` only for "outcome"): class, error,
    kl, outcome, brightness (digits) or COLUMN_COLOUR + a numeric column of the scored rows."""
    from dashboard import figures
    from dashboard.components.latent_map import categorical_colours, continuous_colours
    from vae_core.selection import OUTCOMES, outcome_codes

    points = map_points(key, data_key)
    fraud = points.kind == "fraud"
    if mode == "class":
        if points.labels is None:
            return categorical_colours(np.zeros(len(points.error)), ["unlabelled"], ["#4c78a8"], "class")
        colours = [figures.FRAUD_COLOURS[k] for k in (0, 1)] if fraud else list(figures.CLASS_COLOURS)
        title = "class" if fraud else "digit"
        if not fraud and get_model(key[1]).vae.conditional:
            title = "digit (the label the model is conditioned on)"
        return categorical_colours(points.labels, list(points.label_names.values()), colours, title)
    if mode == "outcome":
        codes = outcome_codes(points.error, points.labels, float(threshold))
        return categorical_colours(codes, list(OUTCOMES), [figures.OUTCOME_COLOURS[o] for o in OUTCOMES],
                                   f"outcome at threshold {threshold:.4g}")
    if mode == "error":
        title = "anomaly score" if fraud else "−log p(x|μ), nats"
        return continuous_colours(points.error, title, log=fraud)
    if mode == "brightness":
        return continuous_colours(map_values(key, data_key, mode), "brightness (mean pixel, 0–1)")
    if mode.startswith(COLUMN_COLOUR):
        from vae_core.tables.tabular import AMOUNT_COLUMN

        column = mode.removeprefix(COLUMN_COLOUR)  # Amount runs from cents to thousands of euros
        return continuous_colours(map_values(key, data_key, mode), column, log=column == AMOUNT_COLUMN)
    return continuous_colours(points.kl, "KL term, nats", log=fraud)


def map_values(key: ModelKey, data_key: DataKey | None, column: str) -> np.ndarray:
    """One value per map point (n,) float64: "error", "kl", "brightness" (a test digit's mean pixel) or
    COLUMN_COLOUR + a numeric column of the scored rows. Unknown columns raise KeyError."""
    points = map_points(key, data_key)
    if column in ("error", "kl"):
        return np.asarray(getattr(points, column), np.float64)
    if column == "brightness" and points.kind == "mnist":  # the test digits, in the map's order
        images = mnist_test().x_test
        return images.reshape(len(images), -1).mean(axis=1, dtype=np.float64)
    if column.startswith(COLUMN_COLOUR) and points.kind == "fraud":
        return scored(key, data_key).features[column.removeprefix(COLUMN_COLOUR)].to_numpy(np.float64)
    raise KeyError(column)


@st.cache_resource(show_spinner=False, max_entries=16)
def map_filter(key: ModelKey, data_key: DataKey | None, text: str) -> np.ndarray:
    """Which map points the filter (RangeFilter.to_text) matches: bool (n,), read-only."""
    from vae_core.selection import RangeFilter

    chosen = RangeFilter.from_text(text)
    mask = chosen.matches(map_values(key, data_key, chosen.column))
    mask.flags.writeable = False
    return mask


@st.cache_resource(show_spinner=False, max_entries=16)
def map_selection(key: ModelKey, data_key: DataKey | None, method: str, dims: tuple[int, int],
                  region: str) -> np.ndarray:
    """Which rows the region (Region.to_text) holds on that map: bool (n,), read-only."""
    from vae_core.selection import Region

    mask = Region.from_text(region).contains(map_projection(key, data_key, method, dims).xy)
    mask.flags.writeable = False
    return mask


@st.cache_data(show_spinner=False, max_entries=64)
def neighbours(key: ModelKey, data_key: DataKey | None, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k map points nearest to point `row` by μ over every latent dim: (indices (k,), distances (k,))."""
    from vae_core.latent import nearest_neighbours

    return nearest_neighbours(map_points(key, data_key).mu, row, k)


@st.cache_resource(show_spinner="Drawing the digits…", max_entries=8)
def map_images(key: ModelKey) -> tuple[dict[str, Blob], dict[str, int]]:
    """Sprite sheets (PNG) of every test digit ("atlas") and of its reconstruction from μ ("recon")."""
    from dashboard.components.latent_map import image_atlas

    data = mnist_test()
    points = map_points(key, None)
    vae = get_model(key[1]).vae
    reconstructions = vae.decode(points.mu, points.labels).reshape(len(points.mu), 28, 28)
    atlas, layout = image_atlas(data.x_test.reshape(len(data.x_test), 28, 28))
    recon, _ = image_atlas(reconstructions, layout["columns"])
    return {"atlas": atlas, "recon": recon}, layout

