"""The drift check for a new batch (vae_core.tables.drift, `vae-explorer drift`): the statistics against
SciPy's, the verdicts on an unchanged and a moved batch of a real tiny fraud model, labelled and
unlabelled, and the CLI's report file."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from conftest import REPO_ROOT
from fault_kit import assert_one_clear_line, run_cli, snapshot
from vae_core import sources
from vae_core.tables import thresholds
from vae_core.tables.drift import KS_ALPHA, PSI_MAJOR, UNLABELLED_NOTE, Distribution, check_drift, check_drift_csv
from vae_core.errors import DataError
from vae_core.tables.fraud import FraudModel, evaluation_rows, recorded_split
from vae_core.registry import load_model
from vae_core.tables.tabular import read_labelled_csv

REQUIRED_KEYS = {"drifted", "psi", "ks", "expected_alert_rate", "observed_alert_rate", "features"}


def counted(reference: np.ndarray, batch: np.ndarray) -> Distribution:
    distribution = Distribution(reference)
    distribution.add(batch)
    return distribution


def ks_two_sample(reference: np.ndarray, batch: np.ndarray) -> tuple[float, float]:
    return counted(reference, batch).ks()


def population_stability(reference: np.ndarray, batch: np.ndarray) -> float:
    return counted(reference, batch).psi()


@pytest.mark.parametrize("shift, sizes", [(0.0, (500, 800)), (0.3, (200, 3000)), (1.0, (50, 60))])
def test_ks_matches_scipy(shift, sizes):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=sizes[0]), rng.normal(shift, size=sizes[1]).round(1)  # ties too
    statistic, pvalue = ks_two_sample(a, b)
    expected = stats.ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    # Kolmogorov's limiting distribution at √(nm/(n+m))·D (SciPy rounds nm/(n+m) into a finite-n one):
    # the same reading at the test's level.
    effective = len(a) * len(b) / (len(a) + len(b))
    assert pvalue == pytest.approx(stats.kstwobign.sf(np.sqrt(effective) * statistic), rel=1e-9, abs=1e-15)
    assert (pvalue < KS_ALPHA) == (expected.pvalue < KS_ALPHA)


def test_counting_a_sample_in_chunks_gives_scipys_statistic_and_the_psi_of_the_whole():
    rng = np.random.default_rng(2)
    reference = rng.normal(size=700).round(2)  # ties within the reference and with the sample
    sample = rng.normal(0.2, 1.3, size=5000).round(2)
    in_parts = Distribution(reference)
    for part in np.array_split(sample, 17):
        in_parts.add(part)
    assert in_parts.n == len(sample) and in_parts.mean == pytest.approx(sample.mean(), rel=1e-12)
    assert in_parts.ks()[0] == pytest.approx(stats.ks_2samp(reference, sample).statistic, abs=1e-12)
    assert in_parts.ks() == ks_two_sample(reference, sample)
    assert in_parts.psi() == pytest.approx(population_stability(reference, sample), abs=1e-12)


def test_psi_is_zero_for_the_same_sample_and_grows_with_the_shift():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=5000)
    assert population_stability(reference, reference) == pytest.approx(0.0, abs=1e-12)
    values = [population_stability(reference, rng.normal(shift, size=5000)) for shift in (0.0, 0.25, 0.5, 1.0)]
    assert values[0] < 0.01 < values[1] < values[2] < values[3] and values[3] > PSI_MAJOR
    # A batch with one of the reference's deciles emptied and a lump at the 5% quantile:
    batch = np.concatenate([np.full(1000, np.quantile(reference, 0.05)), rng.choice(reference, 4000)])
    batch = batch[~((batch > np.quantile(reference, 0.1)) & (batch <= np.quantile(reference, 0.2)))]
    assert population_stability(reference, batch) > 0.3


@pytest.fixture(scope="module")
def fraud_setup(trained_models_dir, app_data_dir):  # noqa: F811
    loaded = load_model(FRAUD_MODEL, trained_models_dir)
    model = FraudModel.from_loaded(loaded)
    path = app_data_dir / "creditcard" / "creditcard.csv"
    reference = sources.transactions(path)
    test = recorded_split(model.info["split"], reference.labels).test_idx
    frame = pd.read_csv(path).iloc[test].reset_index(drop=True)
    return model, reference, frame


def _batch(frame: pd.DataFrame, labelled: bool, tmp_path, name: str):
    path = tmp_path / f"{name}.csv"
    (frame if labelled else frame.drop(columns="Class")).to_csv(path, index=False)
    return read_labelled_csv(path, require_label=labelled), path


def test_the_models_own_test_rows_have_not_drifted_and_labelled_metrics_match_evaluate(fraud_setup, tmp_path):
    model, reference, frame = fraud_setup
    batch, _ = _batch(frame, True, tmp_path, "test")
    report = check_drift(model, reference, batch)
    assert REQUIRED_KEYS <= set(report) and not report["drifted"]
    assert report["psi"] < PSI_MAJOR and not report["verdicts"]["psi"].startswith("Major")
    scores = model.score(batch.features)
    expected = thresholds.evaluate_at_threshold(scores, batch.labels.astype(np.int64), model.threshold_,
                                                batch.amount, prevalence=model.deploy_prevalence)
    assert report["metrics"]["recall"] == expected["recall"] and report["metrics"]["tp"] == expected["tp"]
    assert report["observed_alert_rate"] == pytest.approx(np.mean(scores >= model.threshold_))
    assert "unknowable" not in report and report["labelled"]
    assert report["compared"].startswith(f"the batch's normal rows ({int((batch.labels == 0).sum()):,})")


def test_a_moved_feature_is_drift_and_tops_the_feature_list(fraud_setup, tmp_path):
    model, reference, frame = fraud_setup
    moved = frame[frame["Class"] == 0].copy()
    moved["V4"] = moved["V4"] + 3 * moved["V4"].std()
    batch, _ = _batch(moved, False, tmp_path, "moved")
    report = check_drift(model, reference, batch)
    assert report["drifted"]
    assert report["features"][0]["name"] == "V4" and report["features"][0]["shift_sd"] > 2
    assert [f["ks"] for f in report["features"]] == sorted((f["ks"] for f in report["features"]), reverse=True)
    assert report["unknowable"] == UNLABELLED_NOTE and "metrics" not in report
    same, _ = _batch(frame[frame["Class"] == 0], False, tmp_path, "same")
    assert check_drift(model, reference, same)["psi"] < report["psi"]


def test_a_batch_against_data_the_model_was_not_validated_on_is_refused(fraud_setup, tmp_path):
    model, _, frame = fraud_setup
    other, _ = _batch(frame, True, tmp_path, "other")
    with pytest.raises(Exception, match="not the data this model was validated on"):
        check_drift(model, other, other)


def test_cli_writes_the_report_file_and_never_overwrites_it(fraud_setup, trained_models_dir, app_data_dir, tmp_path):  # noqa: F811
    _, _, frame = fraud_setup
    moved = frame.drop(columns="Class").copy()
    moved["V4"] = moved["V4"] + 3 * moved["V4"].std()
    path = tmp_path / "batch.csv"
    moved.to_csv(path, index=False)
    output = tmp_path / "drift.json"
    env = {"VAE_DATA_DIR": str(app_data_dir)}
    result = run_cli("drift", "--name", FRAUD_MODEL, "--models-dir", trained_models_dir, "--input", path,
                     "--output", output, env_extra=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert REQUIRED_KEYS <= set(report) and report["name"] == FRAUD_MODEL
    assert report["drifted"] and report["features"][0]["name"] == "V4"
    assert result.stdout.startswith("DRIFTED: all the batch's rows")
    assert "V4 (KS" in result.stdout and "has no labels" in result.stdout and "tensorflow" not in result.stderr.lower()

    before = output.read_bytes()
    again = run_cli("drift", "--name", FRAUD_MODEL, "--models-dir", trained_models_dir, "--input", path,
                    "--output", output, env_extra=env)
    assert_one_clear_line(again, "exists; choose a new file")
    assert output.read_bytes() == before

    registry = snapshot(trained_models_dir)
    mnist = run_cli("drift", "--name", MNIST_MODEL, "--models-dir", trained_models_dir, "--input", path, env_extra=env)
    assert_one_clear_line(mnist, "is an MNIST model")
    assert snapshot(trained_models_dir) == registry


def test_threshold_page_checks_a_new_batch(app_env, trained_models_dir, fraud_setup, monkeypatch):  # noqa: F811
    from fault_kit import open_link, shown_errors

    app_env(trained_models_dir)
    model, reference, frame = fraud_setup
    at = open_link("threshold")
    assert at.file_uploader(key="thr_drift_upload").value is None
    moved = frame.drop(columns="Class").copy()
    moved["V4"] = moved["V4"] + 3 * moved["V4"].std()
    at.file_uploader(key="thr_drift_upload").upload("moved.csv", moved.to_csv(index=False).encode(), "text/csv").run()
    assert not shown_errors(at)
    expected = check_drift(model, reference, read_labelled_csv(__import__("io").BytesIO(
        moved.to_csv(index=False).encode()), require_label=False), model.threshold_)
    assert any(w.value.startswith("Drift: all the batch's rows") for w in at.warning)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Population stability index"] == f"{expected['psi']:.3f}"
    assert shown["Alert rate in the batch"] == f"{expected['observed_alert_rate']:.2%}"
    table = next(d.value for d in at.dataframe if "mean shift (validation sd)" in d.value.columns)
    assert table.iloc[0]["feature"] == "V4" and len(table) == len(model.feature_names)
    assert any("has no labels" in i.value for i in at.info)

    at.file_uploader(key="thr_drift_upload").upload("same.csv", frame.to_csv(index=False).encode(), "text/csv").run()
    assert any(s.value.startswith("No drift detected: the batch's normal rows") for s in at.success)
    assert any("On the batch's labels at this threshold: precision" in c.value for c in at.caption)

    monkeypatch.setenv("VAE_MAX_SCORE_ROWS", "10")
    at.file_uploader(key="thr_drift_upload").upload("big.csv", frame.to_csv(index=False).encode(), "text/csv").run()
    assert any("That batch cannot be checked" in e and "max_score_rows" in e for e in shown_errors(at))


@pytest.mark.parametrize("pair", [("V1", "V3"), ("V14", "V17")])
def test_two_swapped_features_are_drift_and_both_are_named(pair):
    """The shipped model on its shipped held-out real rows (no data folder needed): the test split's
    normals, two features swapped, against the validation split."""
    loaded = load_model("fraud-subset", REPO_ROOT / "models")
    model = FraudModel.from_loaded(loaded)
    reference = sources.view_transactions(model.info["data"], model_folder=loaded.path)
    test_rows, _ = evaluation_rows(model, reference)  # its shipped test split, or that of its training file
    frame = reference.features.iloc[test_rows[reference.labels[test_rows] == 0]].reset_index(drop=True)
    same = check_drift(model, reference, dataclasses.replace(reference, features=frame, labels=None, amount=None,
                                                             split=None))
    assert not same["drifted"]
    swapped = frame.copy()
    swapped[list(pair)] = swapped[list(pair[::-1])].to_numpy()
    report = check_drift(model, reference, dataclasses.replace(reference, features=swapped, labels=None,
                                                               amount=None, split=None))
    assert report["drifted"] and report["psi"] > same["psi"]
    assert {f["name"] for f in report["features"][:2]} == set(pair)


@pytest.mark.parametrize("case, text, fragment", [
    ("empty", "header only", "no data rows"),
    ("wrong schema", "other columns", "is missing the column(s) 'V1', 'V2'"),
    ("one row", "one row", "needs at least 20"),
])
def test_an_empty_a_foreign_or_a_one_row_batch_gets_one_clear_line(fraud_setup, trained_models_dir, app_data_dir,
                                                                      tmp_path, case, text, fragment):  # noqa: F811
    _, _, frame = fraud_setup
    rows = frame.drop(columns="Class")
    content = {"header only": rows.head(0).to_csv(index=False), "one row": rows.head(1).to_csv(index=False),
               "other columns": "a,b,c\n1,2,3\n4,5,6\n"}[text]
    path = tmp_path / f"{case.replace(' ', '_')}.csv"
    path.write_text(content)
    result = run_cli("drift", "--name", FRAUD_MODEL, "--models-dir", trained_models_dir, "--input", path,
                     "--output", tmp_path / "out.json", env_extra={"VAE_DATA_DIR": str(app_data_dir)})
    assert_one_clear_line(result, fragment)
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("labelled", [True, False])
def test_a_batch_streamed_in_chunks_gives_the_report_of_the_batch_read_whole(fraud_setup, tmp_path, labelled):
    model, reference, frame = fraud_setup
    moved = frame.copy()
    moved["Amount"] = moved["Amount"] * 3
    whole, path = _batch(moved, labelled, tmp_path, "moved")
    expected = check_drift(model, reference, whole)
    streamed = check_drift_csv(model, reference, path, label_column="Class", positive="1", chunk_size=37)
    assert streamed.keys() == expected.keys() and streamed["rows"] == len(frame) > 37
    for key in ("drifted", "psi", "ks", "ks_pvalue", "observed_alert_rate", "expected_alert_rate", "compared"):
        assert streamed[key] == pytest.approx(expected[key], abs=1e-12) if isinstance(expected[key], float) \
            else streamed[key] == expected[key], key
    assert [f["name"] for f in streamed["features"]] == [f["name"] for f in expected["features"]]
    assert [f["ks"] for f in streamed["features"]] == pytest.approx([f["ks"] for f in expected["features"]], abs=1e-12)
    if labelled:
        at_deployment = streamed["metrics"].pop("at_deployment")
        assert at_deployment == pytest.approx(expected["metrics"].pop("at_deployment"), abs=1e-9)
        assert streamed["metrics"] == pytest.approx(expected["metrics"], abs=1e-9)


def test_a_streamed_batch_names_the_row_of_a_bad_value_and_a_third_label_in_a_later_chunk(fraud_setup, tmp_path):
    model, reference, frame = fraud_setup
    bad = frame.head(120).copy()
    bad["V7"] = bad["V7"].astype(object)
    bad.loc[103, "V7"] = "twelve"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(DataError, match="should hold numbers, but data row 104 has 'twelve'"):
        check_drift_csv(model, reference, path, label_column="Class", positive="1", chunk_size=50)
    labels = frame.head(120).copy()
    labels["Class"] = labels["Class"].astype(object)
    labels.loc[110, "Class"] = "7"  # the third value appears only in the third chunk
    labels.to_csv(path, index=False)
    with pytest.raises(DataError, match="holds 3 distinct values"):
        check_drift_csv(model, reference, path, label_column="Class", positive="1", chunk_size=50)


def test_a_shifted_amount_is_drift_named_by_its_feature_though_the_scores_hold_still():
    """The shipped model leans little on Amount: tripled, the scores barely move, but the feature's own
    test (KS at 0.01 shared over the 30 features) says the transactions changed."""
    loaded = load_model("fraud-subset", REPO_ROOT / "models")
    model = FraudModel.from_loaded(loaded)
    reference = sources.view_transactions(model.info["data"], model_folder=loaded.path)
    test_rows, _ = evaluation_rows(model, reference)
    frame = reference.features.iloc[test_rows[reference.labels[test_rows] == 0]].reset_index(drop=True)
    same = check_drift(model, reference, dataclasses.replace(reference, features=frame, labels=None, amount=None,
                                                             split=None))
    assert same["drifted_features"] == [] and same["verdicts"]["features"].startswith("No feature")
    moved = frame.copy()
    moved["Amount"] = moved["Amount"] * 3
    report = check_drift(model, reference, dataclasses.replace(reference, features=moved, labels=None, amount=None,
                                                               split=None))
    assert report["psi"] < 0.10  # the scores alone would not have said it
    assert report["drifted"] and report["drifted_features"] == ["Amount"]
    assert report["features"][0]["name"] == "Amount" and report["features"][0]["ks_pvalue"] < 0.01 / 30
    assert report["verdicts"]["features"].startswith("This feature moved: Amount (KS D 0.2")
