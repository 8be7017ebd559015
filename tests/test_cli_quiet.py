"""A CLI command that loads TensorFlow (`train`: serving commands never do) prints none of
TensorFlow's start-up lines unless --verbose."""

import os
import subprocess
import sys

from conftest import REPO_ROOT

from vae_core.tf_import import START_UP_LINES


def train(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    """`python -m vae_core train` of a one-epoch fraud model on 400 generated transactions, in a
    terminal's environment (no TF_CPP_MIN_LOG_LEVEL)."""
    from vae_core.tables.tabular import make_synthetic_creditcard

    rows = tmp_path / "rows.csv"
    if not rows.exists():
        make_synthetic_creditcard(n_rows=400, fraud_fraction=0.1, seed=0).to_frame().to_csv(rows, index=False)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "vae_core", *extra, "train", "--dataset", "fraud", "--data", str(rows),
                           "--epochs", "1", "--hidden", "8", "--name", f"quiet{len(extra)}",
                           "--models-dir", str(tmp_path / "models")],
                          cwd=REPO_ROOT, env={**env, "VAE_OFFLINE": "1"}, capture_output=True, text=True, timeout=300)


def test_train_prints_no_tensorflow_start_up_lines_unless_verbose(tmp_path):
    quiet = train(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "saved quiet0" in quiet.stdout.lower() or (tmp_path / "models" / "quiet0" / "model.keras").is_file()
    assert not [line for line in quiet.stderr.splitlines() if any(s in line for s in START_UP_LINES)], quiet.stderr
    verbose = train(tmp_path, "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    # The lines exist here, so the check above means something. Which ones depends on the processor:
    # oneDNN's notice is on by default on some x86 CPUs only; absl's and the CPU-feature notice show on all.
    shown = [marker for marker in START_UP_LINES if marker in verbose.stderr]
    assert shown, verbose.stderr
