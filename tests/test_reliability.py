"""Bad input through every door: CSV files (engine, Train and Threshold pages, `train` and `score`)
and command-line arguments. Every case must give one clear error, no traceback, and leave the
registry exactly as it was (every file's bytes compared before and after).

The CLI cases run as real subprocesses, a few at a time, each against its own copy of a registry
of tiny trained models; most fail before TensorFlow is imported, so they cost a process start.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from fault_kit import assert_one_clear_line, bad_csvs, open_app, run_cli_cases, shown_errors, snapshot
from vae_core import sources
from vae_core.tables.fraud import check_trainable
from vae_core.errors import DataError

CSV_CASES = bad_csvs()
# Some cases that fail on the file's first bytes, before a model is needed: `score` refuses them
# before loading TensorFlow (it shares the checks with `train`, which runs every case).
HEADER_CASES = ("empty", "gzip of junk", "duplicated columns", "enormous header")


@pytest.fixture(scope="module")
def case_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cases")


# --- the engine: every bad CSV raises DataError with the reason ------------------------------------

@pytest.mark.parametrize("case", CSV_CASES)
def test_engine_refuses_bad_csv(case):
    data, fragment = CSV_CASES[case]
    with pytest.raises(DataError) as caught:
        check_trainable(sources.read_upload(data, "tx.csv"))
    assert fragment in str(caught.value)


def test_engine_refuses_an_oversize_upload(monkeypatch):
    monkeypatch.setenv("VAE_MAX_CSV_MB", "1")
    rows = b"1,0\n" * (2**18)  # with the header: just over 1 MiB of a well-formed CSV
    with pytest.raises(DataError, match="uploads are limited to 1 MB"):
        sources.read_upload(b"a,Class\n" + rows, "big.csv")


def test_directory_given_as_a_csv(tmp_path):
    from vae_core.tables.tabular import csv_header, read_labelled_csv

    for read in (read_labelled_csv, csv_header):
        with pytest.raises(DataError, match="is a folder"):
            read(tmp_path)


# --- the dashboard: Train and Threshold pages ------------------------------------------------------

def test_train_page_shows_each_bad_upload_and_starts_nothing(app_env, trained_models_dir, tmp_path, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(trained_models_dir, models)
    app_env(models)
    # A 1 MB upload limit from the start (the uploader is drawn with it; every bad case is smaller).
    monkeypatch.setenv("VAE_MAX_CSV_MB", "1")
    before = snapshot(models)
    at = open_app(page="train")
    at.segmented_control(key="train_dataset").set_value("fraud").run()
    at.radio(key="train_fraud_source").set_value("upload").run()
    missed = {}
    for case, (data, fragment) in CSV_CASES.items():
        at.file_uploader(key="train_fraud_upload").upload(f"{case}.csv", data, "text/csv").run()
        errors = shown_errors(at)
        if not any(fragment in e for e in errors):
            missed[case] = errors
    assert not missed, missed

    # Names that are not safe folder names are refused as they are typed.
    for name in ("../x", "a/b", ".hidden", "bad name!"):
        at.text_input(key="train_name").input(name).run()
        assert any("Invalid model name" in e for e in shown_errors(at)) and at.button(key="train_start").disabled

    # Train with a bad upload (here: one row) is refused on the page; no training process starts.
    at.file_uploader(key="train_fraud_upload").upload("one.csv", CSV_CASES["one row"][0], "text/csv").run()
    at.text_input(key="train_name").input("never-saved").run()
    at.button(key="train_start").click().run()
    assert any("Could not start training" in e and "both normal and positive" in e for e in shown_errors(at))
    assert "train_job" not in at.session_state

    # An upload over the limit (the server enforces it too: see test_security).
    data = CSV_CASES["+inf"][0]
    rows = data.split(b"\n", 1)[1]
    big = data + rows * (2**20 // len(rows) + 1)  # the same rows again, just past 1 MiB
    assert 2**20 < len(big) < 2**20 + 2 * len(rows)
    at.file_uploader(key="train_fraud_upload").upload("big.csv", big, "text/csv").run()
    assert any("uploads are limited to 1 MB" in e for e in shown_errors(at)), shown_errors(at)

    # A folder given as the CSV path.
    at.radio(key="train_fraud_source").set_value("path").run()
    at.text_input(key="train_fraud_path").input(str(tmp_path)).run()
    at.button(key="train_start").click().run()
    assert any("is a folder" in e for e in shown_errors(at))
    assert "train_job" not in at.session_state
    assert snapshot(models) == before


def _model_schema_rows(app_data_dir: Path, n: int, labelled: bool) -> pd.DataFrame:
    frame = pd.read_csv(app_data_dir / "creditcard" / "creditcard.csv").head(n)
    return frame if labelled else frame.drop(columns="Class")


def test_threshold_page_shows_each_bad_upload(app_env, trained_models_dir, app_data_dir):
    app_env(trained_models_dir)
    before = snapshot(trained_models_dir)
    at = open_app(active=FRAUD_MODEL, page="threshold")
    at.radio(key="fraud_view_data").set_value("upload").run()
    missed = {}
    for case, (data, fragment) in CSV_CASES.items():
        if case in ("one row", "no label column"):
            continue  # valid input for scoring (see below)
        at.file_uploader(key="fraud_view_upload").upload(f"{case}.csv", data, "text/csv").run()
        errors = shown_errors(at)
        if not any(fragment in e for e in errors):
            missed[case] = errors
    assert not missed, missed

    # Unlabelled rows and a single row are valid input for scoring: the page works, without metrics
    # that need labels.
    for frame in (_model_schema_rows(app_data_dir, 40, labelled=False), _model_schema_rows(app_data_dir, 1, True)):
        at.file_uploader(key="fraud_view_upload").upload("rows.csv", frame.to_csv(index=False).encode(),
                                                         "text/csv").run()
        assert not shown_errors(at)
        assert next(m.value for m in at.metric if m.label == "Alerts") in {str(i) for i in range(41)}
    assert snapshot(trained_models_dir) == before


# --- shared links: the query string is input too ---------------------------------------------------

@pytest.mark.parametrize("page, params", [
    ("decoder", {"model": MNIST_MODEL, "z": "1e300,5"}),
    ("decoder", {"model": MNIST_MODEL, "z": "nan,1"}),
    ("decoder", {"model": MNIST_MODEL, "z": "1,2,3,4,5,6,7"}),
    ("decoder", {"model": MNIST_MODEL, "z": "abc"}),
    ("latent", {"model": MNIST_MODEL, "point": "99999999"}),
    ("latent", {"model": MNIST_MODEL, "point": "-5"}),
    ("latent", {"model": MNIST_MODEL, "point": "one"}),
    ("threshold", {"model": FRAUD_MODEL, "threshold": "-1e308"}),
    ("threshold", {"model": FRAUD_MODEL, "threshold": "1e400"}),
    ("threshold", {"model": FRAUD_MODEL, "threshold": "nan", "strategy": "<script>alert(1)</script>"}),
    ("decoder", {"model": "../x"}),
    ("threshold", {"model": ""}),
], ids=lambda value: value if isinstance(value, str) else "&".join(f"{k}={v}" for k, v in value.items()))
def test_hostile_links_open_a_working_page(app_env, trained_models_dir, page, params):
    """A link with values out of range or of the wrong type opens the page on sensible values."""
    from streamlit.testing.v1 import AppTest

    from fault_kit import APP

    app_env(trained_models_dir)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(params)
    at.run()
    at.switch_page(f"dashboard/pages/{page}.py").run()
    assert not shown_errors(at)


# --- the command line: the same files through `train` and `score` ----------------------------------

@pytest.fixture(scope="module")
def csv_cli_results(trained_models_dir, case_root, tmp_path_factory, app_data_dir):
    files = tmp_path_factory.mktemp("csvs")
    cases = {}
    for case, (data, _) in CSV_CASES.items():
        path = files / f"{case.replace(' ', '_')}.csv"
        path.write_bytes(data)
        cases[f"train/{case}"] = (lambda p: lambda m, s: ["train", "--dataset", "fraud", "--data", p,
                                                          "--name", "never-saved", "--models-dir", m])(path)
        if case in HEADER_CASES:
            cases[f"score/{case}"] = (lambda p: lambda m, s: ["score", "--name", FRAUD_MODEL, "--input", p,
                                                              "--output", s / "out.csv", "--models-dir", m])(path)
    infinite = files / "infinite.csv"
    frame = _model_schema_rows(app_data_dir, 30, labelled=True)
    frame.loc[7, "V3"] = float("inf")
    frame.to_csv(infinite, index=False)
    cases["score/infinite value"] = lambda m, s: ["score", "--name", FRAUD_MODEL, "--input", infinite,
                                                  "--output", s / "out.csv", "--models-dir", m]
    cases["train/a folder"] = lambda m, s: ["train", "--dataset", "fraud", "--data", s, "--name", "never-saved",
                                            "--models-dir", m]
    cases["score/a folder"] = lambda m, s: ["score", "--name", FRAUD_MODEL, "--input", s, "--output",
                                            s / "out.csv", "--models-dir", m]
    return run_cli_cases(cases, trained_models_dir, case_root)


CSV_CLI_EXPECTED = {**{f"train/{case}": fragment for case, (_, fragment) in CSV_CASES.items()},
                    **{f"score/{case}": CSV_CASES[case][1] for case in HEADER_CASES},
                    "score/infinite value": "infinite value in column 'V3' on data row 8",
                    "train/a folder": "is a folder", "score/a folder": "is a folder"}


@pytest.mark.parametrize("case", CSV_CLI_EXPECTED)
def test_cli_refuses_bad_csv(csv_cli_results, case):
    result, before, after = csv_cli_results[case]
    assert_one_clear_line(result, CSV_CLI_EXPECTED[case])
    assert after == before
    scratch = Path(result.args[result.args.index("--models-dir") + 1]).parent / "scratch"
    assert not any(scratch.iterdir())  # `score` leaves no partial output


# --- the command line: bad arguments ----------------------------------------------------------------

def _train(*extra):
    return lambda m, s: ["train", "--dataset", "mnist", "--name", "never-saved", "--models-dir", m, *extra]


def _score(*extra, name=FRAUD_MODEL):
    return lambda m, s: ["score", "--name", name, "--models-dir", m, *extra]


CLI_ARGUMENT_CASES = {
    "name ../x": (lambda m, s: ["train", "--dataset", "mnist", "--name", "../x", "--models-dir", m],
                  "Invalid model name"),
    "name empty": (lambda m, s: ["train", "--dataset", "mnist", "--name", "", "--models-dir", m],
                   "Invalid model name"),
    "name with a slash": (lambda m, s: ["train", "--dataset", "mnist", "--name", "a/b", "--models-dir", m],
                          "Invalid model name"),
    "latent dim 0": (_train("--latent-dim", "0"), "at least 1"),
    "latent dim text": (_train("--latent-dim", "two"), "whole number"),
    "latent dim huge": (_train("--latent-dim", "100000"), "Latent dim must be an integer from 1 to 512"),
    "epochs 0": (_train("--epochs", "0"), "at least 1"),
    "batch size negative": (_train("--batch-size", "-5"), "at least 1"),
    "learning rate nan": (_train("--learning-rate", "nan"), "finite number"),
    "learning rate 5": (_train("--learning-rate", "5"), "Learning rate must be in (0, 1)"),
    "beta negative": (_train("--beta", "-1"), "Beta must be between 0 and 1000"),
    "hidden empty": (_train("--hidden", ""), "hidden layer size"),
    "hidden zero": (_train("--hidden", "0,8"), "positive hidden layer size"),
    "patience negative": (_train("--patience", "-1"), "at least 0"),
    "kl warm-up negative": (_train("--kl-warmup", "-2"), "at least 0"),
    "unknown dataset": (lambda m, s: ["train", "--dataset", "cifar", "--name", "x"], "invalid choice"),
    "conv for fraud": (lambda m, s: ["train", "--dataset", "fraud", "--arch", "conv", "--name", "never-saved",
                                     "--models-dir", m], "Fraud models are dense"),
    "missing data path": (_train("--data", "/no/such/folder"), "does not exist"),
    "models dir is a file": (lambda m, s: ["train", "--dataset", "mnist", "--name", "never-saved",
                                           "--models-dir", m / MNIST_MODEL / "config.json"], "is a file, not a folder"),
    "evaluate unknown model": (lambda m, s: ["evaluate", "--name", "ghost", "--models-dir", m], "No model named"),
    "evaluate threshold inf": (lambda m, s: ["evaluate", "--name", FRAUD_MODEL, "--threshold", "inf",
                                             "--models-dir", m], "finite number"),
    "delete ../x": (lambda m, s: ["delete", "--name", "../x", "--models-dir", m], "Invalid model name"),
    "score chunk size 0": (_score("--input", "x.csv", "--output", "y.csv", "--chunk-size", "0"), "at least 1"),
    "score missing input": (lambda m, s: _score("--input", s / "none.csv", "--output", s / "o.csv")(m, s),
                            "does not exist"),
    "score output folder missing": (lambda m, s: _score("--input", m / FRAUD_MODEL / "metadata.json",
                                                        "--output", s / "no" / "o.csv")(m, s), "does not exist"),
    "score output is the input": (lambda m, s: _score("--input", m / FRAUD_MODEL / "metadata.json",
                                                      "--output", m / FRAUD_MODEL / "metadata.json")(m, s),
                                  "must differ"),
    "score output is a folder": (lambda m, s: _score("--input", m / FRAUD_MODEL / "metadata.json",
                                                     "--output", s)(m, s), "is a folder"),
    "threshold and strategy": (_score("--input", "x", "--output", "y", "--threshold", "1", "--strategy", "max_f1"),
                               "not allowed with argument"),
    "import missing zip": (lambda m, s: ["import", "--zip", s / "none.zip", "--models-dir", m], "There is no file"),
    "export over a file": (lambda m, s: ["export", "--name", MNIST_MODEL, "--output", m / MNIST_MODEL / "config.json",
                                         "--models-dir", m], "already exists"),
    "unknown command": (lambda m, s: ["frobnicate"], "invalid choice"),
    "unknown option": (lambda m, s: ["list", "--colour"], "unrecognized arguments"),
}


@pytest.fixture(scope="module")
def argument_results(trained_models_dir, case_root):
    cases = {f"args/{key}": make_args for key, (make_args, _) in CLI_ARGUMENT_CASES.items()}
    return run_cli_cases(cases, trained_models_dir, case_root)


@pytest.mark.parametrize("case", CLI_ARGUMENT_CASES)
def test_cli_refuses_bad_arguments(argument_results, case):
    result, before, after = argument_results[f"args/{case}"]
    assert_one_clear_line(result, CLI_ARGUMENT_CASES[case][1])
    assert after == before
