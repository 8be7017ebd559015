"""The real rows the fraud demo model held out, shipped in its folder (issue 24, part 4), and how a
fraud model finds the data it recorded: its own file (by its recorded path or by name in the data
folder), else its shipped rows, else a message naming the file to upload; never another file."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app_fixtures import app_data_dir, app_env, models_copy, trained_models_dir  # noqa: F401
from conftest import shared_path
from fault_kit import open_link, shown_errors
from vae_core import archive, registry, sources
from vae_core.tables import fraud
from vae_core.errors import DataError
from vae_core.tables.tabular import CREDITCARD_FEATURES

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "models" / "fraud-subset"
SUBSET = REPO_ROOT.parent / "shared" / "data" / "creditcard" / "creditcard_subset.csv"
BANNER = ("held-out real rows shipped with the model: validation + test splits, ULB data, ODbL · held-out test "
          "split · 1,001 rows, 148 frauds (14.79%)")


@pytest.fixture()
def fresh_clone(monkeypatch, tmp_path):
    """As on a clone without ../shared/data: no VAE_DATA_DIR, and the model's recorded relative path
    (../shared/data/…) resolves to nothing from the working folder."""
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv(sources.OFFLINE_ENV, "1")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")


def demo_model():
    from vae_core.tables.fraud import FraudModel

    loaded = registry.load_model("fraud-subset", REPO_ROOT / "models")
    return loaded, FraudModel.from_loaded(loaded)


# --- the shipped files ------------------------------------------------------------------------------

def test_the_shipped_rows_are_the_models_validation_and_test_splits_with_their_licence():
    split = json.loads((DEMO / "fraud.json").read_text())["split"]
    data = sources.heldout_rows(DEMO)
    assert Counter(data.split) == {"validation": split["n_val"], "test": split["n_test"]} == {"validation": 501,
                                                                                               "test": 1001}
    assert data.feature_names == CREDITCARD_FEATURES and data.label_column == "Class"
    assert data.source == sources.HELDOUT_SOURCE and not data.synthetic
    assert int(data.labels[data.split == "test"].sum()) == 148 and int(data.labels.sum()) == 222
    licence = (DEMO / sources.HELDOUT_LICENSE_FILE).read_text()
    for words in ("Open Database License (ODbL) 1.0", "Machine Learning Group", "Universite Libre de Bruxelles",
                  "Dal Pozzolo", "2015", "Rows: 501 validation + 1001 test = 1502 (222 frauds)",
                  "bench/ship_heldout_rows.py"):
        assert words in licence
    assert (DEMO / sources.HELDOUT_FILE).stat().st_size < 400 * 1024


@pytest.mark.skipif(not SUBSET.is_file(), reason=f"needs the real subset at {SUBSET}")
def test_the_shipped_rows_are_the_training_files_own_text_and_regenerate_byte_for_byte(tmp_path):
    import gzip

    shipped = gzip.decompress((DEMO / sources.HELDOUT_FILE).read_bytes()).decode().splitlines()
    header, *rows = shipped
    source_lines = SUBSET.read_text().splitlines()
    assert header == source_lines[0] + ",split"
    original = set(source_lines[1:])
    assert all(row.rsplit(",", 1)[0] in original for row in rows)  # every value's text as in the source
    copy = tmp_path / "fraud-subset"
    shutil.copytree(DEMO, copy)
    assert fraud.write_heldout_rows(copy, shared_path("creditcard/creditcard_subset.csv")) == {
        "validation": 501, "test": 1001}
    for name in sources.HELDOUT_FILES:
        assert (copy / name).read_bytes() == (DEMO / name).read_bytes(), name


def test_the_rows_of_another_file_are_refused(tmp_path):
    copy = tmp_path / "fraud-subset"
    shutil.copytree(DEMO, copy)
    other = tmp_path / "other.csv"
    sources.heldout_rows(DEMO).to_frame().to_csv(other, index=False)
    with pytest.raises(DataError, match=r"other.csv is not the file model 'fraud-subset' trained on"):
        fraud.write_heldout_rows(copy, other)


def test_an_export_carries_the_shipped_rows_and_imports_with_them(tmp_path):
    imported = archive.import_zip(archive.export_zip("fraud-subset", REPO_ROOT / "models"), "offline-copy", tmp_path)
    assert imported.valid and [i.name for i in registry.list_models(tmp_path)] == ["offline-copy"]
    for name in sources.HELDOUT_FILES:
        assert (tmp_path / "offline-copy" / name).read_bytes() == (DEMO / name).read_bytes()
    assert len(sources.heldout_rows(tmp_path / "offline-copy")) == 1502


def test_a_damaged_or_inflated_shipped_file_is_named(tmp_path, monkeypatch):
    import gzip

    (tmp_path / sources.HELDOUT_FILE).write_bytes(gzip.compress(b"a,Class,split\n" + b"1,0,test\n" * 100))
    monkeypatch.setattr(sources, "MAX_UPLOAD_BYTES", 500)  # an imported zip's rows unpack no further than an upload
    with pytest.raises(DataError, match=r"are damaged \(it unpacks to more than 300 MB, or is cut short\)"):
        sources.heldout_rows(tmp_path)
    monkeypatch.undo()
    (tmp_path / sources.HELDOUT_FILE).write_bytes(b"\x1f\x8b not gzip")
    with pytest.raises(DataError, match=r"held-out rows shipped with model '.*' \(heldout_rows.csv.gz\) are damaged"):
        sources.heldout_rows(tmp_path)
    (tmp_path / sources.HELDOUT_FILE).write_bytes(gzip.compress(b"a,Class,split\n1,0,train\n2,1,test\n"))
    with pytest.raises(DataError, match=r"Column 'split' of heldout_rows.csv.gz .* holds 'train'; it may only hold "
                                        r"validation or test"):
        sources.heldout_rows(tmp_path)


# --- which rows a model is viewed on ------------------------------------------------------------------

def test_offline_the_demo_model_is_viewed_on_its_shipped_test_split(fresh_clone):
    from dashboard import presentation
    from vae_core.tables.fraud import score_dataset
    from vae_core.tables.thresholds import ranking_metrics

    loaded, model = demo_model()
    trained_on = model.info["data"]
    assert sources.training_file(trained_on) is None
    assert sources.model_rows_missing(trained_on, loaded.path) is None
    scored = score_dataset(model, sources.view_transactions(trained_on, "model", model_folder=loaded.path))
    assert presentation.describe(scored) == BANNER and not scored.synthetic
    # The same test rows the model was measured on when it was trained: its recorded ROC AUC again.
    auroc = ranking_metrics(scored.scores, scored.labels, scored.amounts)["roc_auc"]
    assert auroc == pytest.approx(loaded.metadata["metrics"]["roc_auc"], abs=1e-9)


def test_without_its_file_or_shipped_rows_a_model_names_the_file(fresh_clone, tmp_path):
    trained_on = {"source": "file: /gone/creditcard_subset.csv", "synthetic": False, "label_column": "Class",
                  "positive": "1"}
    expected = ("This model was trained on 'creditcard_subset.csv': '/gone/creditcard_subset.csv', which is not on "
                "this machine (nor in VAE_DATA_DIR), and it ships no held-out rows. Upload 'creditcard_subset.csv' "
                "(or a CSV with the same columns, label column 'Class') under 'An uploaded CSV', or set VAE_DATA_DIR "
                "to the folder that holds it.")
    with pytest.raises(DataError) as caught:
        sources.view_transactions(trained_on, "model", model_folder=tmp_path)
    assert str(caught.value) == expected == sources.model_rows_missing(trained_on, tmp_path)
    synthetic = sources.view_transactions(trained_on, "synthetic", model_folder=tmp_path)
    assert synthetic.synthetic  # generated rows only when asked for


def outliers_csv(path: Path, n: int = 600) -> Path:
    """n rows of four numeric columns and a label column "outlier" ("yes" for 54 of them)."""
    rng = np.random.default_rng(0)
    odd = rng.random(n) < 0.1
    frame = pd.DataFrame(rng.normal(size=(n, 4)) + 3.0 * odd[:, None] * np.array([1, -1, 0, 1]), columns=list("wxyz"))
    frame["outlier"] = np.where(odd, "yes", "no")
    frame.to_csv(path, index=False)
    return path


def test_a_model_of_another_table_reads_its_own_file_with_its_own_label_column(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    (data_dir / "creditcard").mkdir(parents=True)
    # A credit-card file is here too: the model must not be viewed on it.
    sources.heldout_rows(DEMO).to_frame().to_csv(data_dir / "creditcard" / "creditcard.csv", index=False)
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(data_dir))
    outliers_csv(data_dir / "outliers.csv")
    trained_on = {"source": "upload: outliers.csv", "synthetic": False, "label_column": "outlier", "positive": "yes"}
    data = sources.view_transactions(trained_on, "model")  # found by name in the data folder
    assert data.feature_names == tuple("wxyz") and data.label_column == "outlier" and int(data.labels.sum()) == 54
    (data_dir / "outliers.csv").unlink()
    with pytest.raises(DataError, match=r"^This model was trained on 'outliers.csv': an uploaded file, which the app "
                                        r"does not keep, and it ships no held-out rows\. Upload 'outliers.csv' \(or a "
                                        r"CSV with the same columns, label column 'outlier'\)"):
        sources.view_transactions(trained_on, "model")


def test_rows_that_overflow_the_models_arithmetic_are_named(fresh_clone):
    from vae_core.tables.fraud import score_dataset

    loaded, model = demo_model()
    frame = sources.heldout_rows(DEMO).to_frame().drop(columns="Class").head(4)
    frame.loc[1, "V3"], frame.loc[3, "V7"] = 1e20, -3e19  # finite, but squared they overflow float32
    upload = frame.to_csv(index=False).encode()
    data = sources.view_transactions(model.info["data"], "upload", upload, "big.csv")
    with pytest.raises(DataError) as caught:
        score_dataset(model, data)
    assert str(caught.value) == ("2 row(s) of big.csv overflow the model's 32-bit arithmetic (their scores come out "
                                 "NaN or infinite): data row 2 ('V3' = 1e+20); data row 4 ('V7' = -3e+19). Correct "
                                 "those values or remove those rows.")


# --- the pages ------------------------------------------------------------------------------------

def test_a_model_without_its_file_asks_for_it_and_reads_uploads_with_its_label_column(app_env, models_copy, tmp_path):
    from vae_core.config import TrainConfig, build_configs
    from vae_core.tables.fraud import train_fraud

    csv = outliers_csv(tmp_path / "outliers.csv")
    data = sources.read_upload(csv.read_bytes(), "outliers.csv", "outlier", "yes")
    train_fraud("outliers", data, build_configs("fraud", latent_dim=2, hidden_units=(16,))[0],
                TrainConfig(epochs=2, batch_size=32, seed=0), models_dir=str(models_copy))
    app_env(models_copy)
    at = open_link("threshold", model="outliers")
    assert at.radio(key="fraud_view_data").value == "model"
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("This model was trained on 'outliers.csv': an uploaded file") for w in warnings), warnings
    assert not shown_errors(at) and not any("creditcard" in w for w in warnings)
    assert at.text_input(key="fraud_view_label_column").value == "outlier"
    assert at.text_input(key="fraud_view_positive").value == "yes"
    at.file_uploader(key="fraud_view_upload").upload("outliers.csv", csv.read_bytes(), "text/csv").run()
    assert not shown_errors(at)
    # The file it trained on again: scored on its held-out test split.
    assert "Data: upload: outliers.csv · held-out test split of the training file · 180 rows, 16 frauds (8.89%)" in [
        c.value for c in at.caption]
    unlabelled = csv.read_text().replace(",outlier\n", ",verdict\n", 1).encode()
    at.file_uploader(key="fraud_view_upload").upload("unlabelled.csv", unlabelled, "text/csv").run()
    hint = next(i.value for i in at.info if "unlabelled.csv" in i.value)
    assert hint.startswith("'unlabelled.csv' is missing the column(s) 'outlier' (the label column; its columns: "
                           "'w', 'x', 'y', 'z', 'verdict'), so which rows are frauds is unknown.")
    assert "under **Label column** below the upload (it is collapsed)" in hint


def test_a_training_upload_without_its_label_column_names_the_setting(app_env, models_copy, tmp_path):
    csv = outliers_csv(tmp_path / "outliers.csv").read_bytes()
    app_env(models_copy)
    at = open_link("train")
    at.segmented_control(key="train_dataset").set_value("fraud").run()
    at.radio(key="train_fraud_source").set_value("upload").run()
    at.file_uploader(key="train_fraud_upload").upload("outliers.csv", csv, "text/csv").run()
    assert shown_errors(at) == [
        "That file cannot be used: 'outliers.csv' is missing the column(s) 'Class' (the label column; its columns: "
        "'w', 'x', 'y', 'z', 'outlier'). Name the column that holds the labels under **Label column** above the "
        "upload (it is collapsed), with the value that marks fraud."]


def test_offline_the_latent_map_shows_the_demo_models_held_out_test_rows(fresh_clone, monkeypatch):
    monkeypatch.setenv("VAE_MODELS_DIR", str(REPO_ROOT / "models"))
    at = open_link("latent", model="fraud-subset")
    assert not shown_errors(at) and not at.warning
    assert f"Data: {BANNER}" in [c.value for c in at.caption]
