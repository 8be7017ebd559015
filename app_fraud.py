"""Streamlit-side helpers for fraud models: which rows to score, cached scoring, shared fraud widgets.

Large per-model results (scored rows, the threshold sweep, the page summary) live in
`st.cache_resource`: they are read-only (arrays are flagged non-writeable) and reading them on a
threshold move must not copy tens of MB the way `st.cache_data` would. Small derived values that
pages may mutate (latent samples) use `st.cache_data`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

import app_ui
from vae_core import figures, fraud_views, jobs, views
from vae_core.fraud import FraudModel, ScoredData

VIEW_DATA = "fraud_view_data"  # session key: which rows the explorer pages score (a VIEW_SOURCES key)
UPLOADS = "_fraud_uploads"  # session key: {file_id: (name, bytes)} CSVs uploaded for scoring

# A data key is (choice, upload file id or None, label column, positive label): hashable and plain.
DataKey = tuple[str, str | None, str, str]


def model_of(loaded) -> FraudModel:
    return FraudModel.from_loaded(loaded)


def _upload_for(data_key: DataKey) -> tuple[str, bytes] | None:
    return st.session_state.get(UPLOADS, {}).get(data_key[1]) if data_key[1] else None


@st.cache_resource(show_spinner="Scoring transactions…", max_entries=6)
def _scored(key: tuple, data_key: DataKey, _upload: tuple[str, bytes] | None) -> ScoredData:
    model = model_of(app_ui.get_model(key[1]))
    choice, _, label_column, positive = data_key
    name, payload = _upload if _upload else (None, None)
    data = fraud_views.load_view_data(model, choice, payload, name, label_column, positive)
    return fraud_views.score(model, data)


def scored(key: tuple, data_key: DataKey) -> ScoredData:
    """The model `key`'s scores on the chosen rows (held-out test split when it is the training file)."""
    return _scored(key, data_key, _upload_for(data_key))


def n_rows(key: tuple, data_key: DataKey) -> int:
    return len(scored(key, data_key).scores)


def describe(key: tuple, data_key: DataKey) -> str:
    """Source, which rows, counts and fraud share of the scored rows (for the data banner)."""
    return fraud_views.describe(scored(key, data_key))


@st.cache_data(show_spinner="Encoding transactions…", max_entries=16)
def encoded_fraud(key: tuple, n: int, data_key: DataKey) -> views.LatentSample:
    """Up to n scored rows (all frauds first) with μ and hover text, for the latent scatter."""
    feature_names = model_of(app_ui.get_model(key[1])).feature_names
    return fraud_views.latent_sample(scored(key, data_key), feature_names, n)


@st.cache_resource(show_spinner="Summarising scores…", max_entries=6)
def summary(key: tuple, data_key: DataKey) -> fraud_views.ScoreSummary:
    return fraud_views.summarise(scored(key, data_key))


@st.cache_resource(show_spinner=False, max_entries=24)
def sweep(key: tuple, data_key: DataKey, review_fee: float, fraud_cost: float | str):
    return fraud_views.build_sweep(scored(key, data_key), review_fee, fraud_cost)


# --- widgets ------------------------------------------------------------------------------------

def _label_widgets(prefix: str) -> tuple[str, str]:
    with st.expander("Label column"):
        label_column = st.text_input("Label column", "Class", key=f"{prefix}_label_column")
        positive = st.text_input("Value that marks fraud", "1", key=f"{prefix}_positive")
    return label_column.strip() or "Class", positive.strip() or "1"


def data_picker(loaded) -> DataKey | None:
    """Sidebar choice of rows to score with a fraud model; None (after saying why) when there are none."""
    st.sidebar.subheader("Transactions")
    choice = st.sidebar.radio("Score", list(fraud_views.VIEW_SOURCES), format_func=fraud_views.VIEW_SOURCES.get,
                              key=VIEW_DATA)
    if choice != "upload":
        return (choice, None, "Class", "1")
    with st.sidebar:
        upload = st.file_uploader("Transactions CSV", type=["csv"], key="fraud_view_upload",
                                  max_upload_size=fraud_views.MAX_UPLOAD_MB)
        label_column, positive = _label_widgets("fraud_view")
    if upload is None:
        st.info("Upload a CSV with the model's feature columns (and a label column to measure precision "
                "and recall) in the sidebar.", icon=":material/upload:")
        return None
    uploads = st.session_state.setdefault(UPLOADS, {})
    if upload.file_id not in uploads:  # copy the bytes once, not on every rerun
        uploads.clear()
        uploads[upload.file_id] = (upload.name, upload.getvalue())
    return ("upload", upload.file_id, label_column, positive)


def training_data_widgets(running: bool) -> dict[str, Any]:
    """Train page, fraud: where the training rows come from. Uploads are checked on arrival."""
    source = st.radio("Transactions", list(fraud_views.TRAINING_SOURCES),
                      format_func=fraud_views.TRAINING_SOURCES.get, key="train_fraud_source", horizontal=True,
                      disabled=running)
    options: dict[str, Any] = {"source": source}
    if source == "auto":
        st.caption(f"Best available here: {fraud_views.default_data_note()}.")
    elif source == "synthetic":
        app_ui.source_banner("generated rows in the credit-card schema", synthetic=True)
    elif source == "path":
        options["path"] = st.text_input("CSV path", key="train_fraud_path", disabled=running,
                                        placeholder="../shared/data/creditcard/creditcard_subset.csv")
    if source in ("path", "upload"):
        options["label_column"], options["positive"] = _label_widgets("train_fraud")
    if source == "upload":
        upload = st.file_uploader("Transactions CSV", type=["csv"], key="train_fraud_upload", disabled=running,
                                  max_upload_size=fraud_views.MAX_UPLOAD_MB)
        if upload is not None:
            options["upload"], options["upload_name"] = upload.getvalue(), upload.name
            options["upload_id"] = upload.file_id
            with app_ui.guard("That file cannot be used"):
                data = _checked_upload(upload.file_id, options["label_column"], options["positive"],
                                       upload.name, options["upload"])
                frauds = 0 if data.labels is None else int(data.labels.sum())
                st.success(f"{upload.name}: {len(data):,} rows, {len(data.feature_names)} features, "
                           f"{frauds:,} frauds ({frauds / max(1, len(data)):.2%}).", icon=":material/check:")
    return options


@st.cache_resource(show_spinner="Checking the upload…", max_entries=4)
def _checked_upload(file_id: str, label_column: str, positive: str, _name: str, _payload: bytes):
    """The upload read and validated, and checked to be trainable (labels, both classes in every split)."""
    data = fraud_views.read_upload(_payload, _name, label_column, positive)
    fraud_views.check_trainable(data)
    return data


def start_job(name: str, form: views.TrainForm, data: dict[str, Any], models_dir: str, *,
              owner_alive=None) -> jobs.TrainingJob:
    """Start training after the checks that need no data loading: a bad file fails here, on the page."""
    from vae_core.errors import DataError
    from vae_core.tabular import csv_header

    if data.get("source") == "upload":
        if data.get("upload") is None:
            raise DataError("Upload a CSV first, or choose another data source.")
        _checked_upload(data["upload_id"], data["label_column"], data["positive"], data["upload_name"], data["upload"])
    elif data.get("source") == "path":
        if not (data.get("path") or "").strip():
            raise DataError("Enter the path of a transactions CSV.")
        csv_header(data["path"].strip())  # exists, is a file, looks like CSV text
    return jobs.start_job("fraud", name, form, {k: v for k, v in data.items() if k != "upload_id"}, models_dir,
                          owner_alive=owner_alive)


# --- pieces of the explorer pages ---------------------------------------------------------------

def show_point(loaded, data_key: DataKey, position: int) -> np.ndarray:
    """Latent page: one scored transaction beside its reconstruction; returns its μ (latent_dim,)."""
    result = scored(app_ui.model_key(loaded.name), data_key)
    model = model_of(loaded)
    position = int(np.clip(position, 0, len(result.scores) - 1))
    row = result.features.iloc[[position]]
    x = model.preprocessor.transform(row)
    reconstruction = loaded.vae.decode(loaded.vae.encode(x)[0])
    label = "" if result.labels is None else (" · fraud" if result.labels[position] else " · normal")
    amount = "" if result.amounts is None else f" · €{result.amounts[position]:,.2f}"
    st.markdown(f"**File row {int(result.rows[position])}**{label}{amount} · score {result.scores[position]:.2f} "
                f"(model threshold {model.threshold_:.3g})")
    st.plotly_chart(figures.feature_bars(model.feature_names, reconstruction[0], compare=x[0],
                                         labels=("reconstruction", "input"), title="Input vs reconstruction"),
                    key="latent_fraud_point")
    return np.asarray(result.latent[position])


def show_decoded(loaded, z: list[float]) -> None:
    """Decoder page: the transaction decoded from z, as standardised feature bars (+ amount in €)."""
    model = model_of(loaded)
    standardised = loaded.vae.decode(np.asarray(z, np.float32)[None, :])[0]
    st.plotly_chart(figures.feature_bars(model.feature_names, standardised, title="Decoded transaction"),
                    key="dec_fraud_bars", config={"displayModeBar": False})
    if "Amount" in model.feature_names:
        amount = model.preprocessor.inverse_transform(standardised[None, :])["Amount"].iloc[0]
        st.caption(f"Decoded amount: €{amount:,.2f} (bars are standardised feature values)")


def show_decoded_many(loaded, z: np.ndarray, titles: list[str]) -> None:
    """Decoder page: several decoded transactions as a heatmap (rows: points, columns: features)."""
    model = model_of(loaded)
    st.plotly_chart(figures.feature_heatmap(model.feature_names, loaded.vae.decode(np.asarray(z, np.float32)), titles),
                    key=f"dec_fraud_many_{titles[0].split()[0]}")
