"""The CLI as a user runs it: subprocesses, JSON output, one-line errors, no TensorFlow for --help."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, write_mnist_idx


def run_cli(*args, env_extra=None, timeout=300):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAE_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "vae_core", *map(str, args)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_help_does_not_import_tensorflow():
    code = ("import sys; from vae_core.cli import build_parser\n"
            "try:\n    build_parser().parse_args(['train', '--help'])\nexcept SystemExit: pass\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--latent-dim" in result.stdout


def test_evaluate_loads_no_heavy_library():
    """`evaluate` answers in about a second: neither TensorFlow nor scikit-learn (2–3 s to import here)
    is loaded to score the shipped fraud model and compute its metrics."""
    code = ("import sys; from vae_core.cli import main\n"
            "assert main(['evaluate', '--name', 'fraud-subset', '--json']) == 0\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'scipy.stats') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report, loaded = result.stdout.rstrip().rsplit("\n", 1)
    assert loaded == "[]"
    assert 0.9 < json.loads(report)["roc_auc"] < 1 and json.loads(report)["n"] > 0


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory, bundled_digits):
    """The bundled digits written as the four IDX .gz files (a real on-disk MNIST layout)."""
    return write_mnist_idx(tmp_path_factory.mktemp("mnist"), bundled_digits, 600, 200)


def test_train_list_evaluate_delete(small_mnist, tmp_path):
    trained = run_cli("train", "--dataset", "mnist", "--data", small_mnist, "--epochs", 2, "--hidden", "32",
                      "--activation", "silu", "--name", "cli-model", "--models-dir", tmp_path, "--json")
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["epochs_run"] == 2 and "IDX" in summary["data_source"]
    saved = json.loads((tmp_path / "cli-model" / "config.json").read_text())["vae_config"]
    assert (saved["hidden_units"], saved["activation"]) == ([32], "silu")
    assert "%" in trained.stderr  # a progress bar was drawn

    listed = json.loads(run_cli("list", "--models-dir", tmp_path, "--json").stdout)
    assert [(m["name"], m["dataset"], m["latent_dim"], m["valid"]) for m in listed] == \
        [("cli-model", "mnist", 2, True)]

    evaluated = run_cli("evaluate", "--name", "cli-model", "--data", small_mnist, "--models-dir", tmp_path, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["test_neg_elbo"] == pytest.approx(result["test_reconstruction"] + result["test_kl"], rel=1e-5)
    assert result["test_neg_elbo"] == pytest.approx(summary["test_neg_elbo"], rel=1e-5)
    assert result["n_test"] == 200

    again = run_cli("train", "--dataset", "mnist", "--data", small_mnist, "--epochs", 1,
                    "--name", "cli-model", "--models-dir", tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr

    assert run_cli("delete", "--name", "cli-model", "--models-dir", tmp_path).returncode == 0
    assert json.loads(run_cli("list", "--models-dir", tmp_path, "--json").stdout) == []


@pytest.mark.parametrize("args, message", [
    (["train", "--dataset", "mnist", "--name", "m", "--data", "/no/such/folder"], "does not exist"),
    (["train", "--dataset", "mnist", "--name", "../evil"], "Invalid model name"),
    (["train", "--dataset", "mnist", "--name", "m", "--latent-dim", "zero"], "whole number"),
    (["train", "--dataset", "mnist", "--name", "m", "--hidden", "12,x"], "layer sizes"),
    (["train", "--dataset", "mnist", "--name", "m", "--activation", "tanh"], "invalid choice: 'tanh'"),
    (["train", "--dataset", "cifar", "--name", "m"], "invalid choice"),
    (["evaluate", "--name", "ghost"], "No model named"),
    (["frobnicate"], "invalid choice"),
])
def test_errors_are_one_clear_line_without_traceback(args, message, tmp_path):
    result = run_cli(*args, "--models-dir", tmp_path) if args[0] in ("train", "evaluate") else run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")], result.stderr
    assert not any(tmp_path.iterdir())  # nothing saved
