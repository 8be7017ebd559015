"""A CLI command that loads TensorFlow prints none of TensorFlow's start-up lines unless --verbose."""

import os
import subprocess
import sys

from conftest import REPO_ROOT

from vae_core.tf_import import START_UP_LINES


def score(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    """`python -m vae_core score` with the demo fraud model on 50 generated transactions, in a
    terminal's environment (no TF_CPP_MIN_LOG_LEVEL)."""
    from vae_core.tabular import make_synthetic_creditcard

    rows = tmp_path / "rows.csv"
    if not rows.exists():
        make_synthetic_creditcard(n_rows=50, fraud_fraction=0.1, seed=0).to_frame().to_csv(rows, index=False)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "vae_core", *extra, "score", "--name", "fraud-subset",
                           "--models-dir", str(REPO_ROOT / "models"), "--input", str(rows),
                           "--output", str(tmp_path / f"scored{len(extra)}.csv")],
                          cwd=REPO_ROOT, env={**env, "VAE_OFFLINE": "1"}, capture_output=True, text=True, timeout=300)


def test_score_prints_no_tensorflow_start_up_lines_unless_verbose(tmp_path):
    quiet = score(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "rows: 50" in quiet.stdout
    assert not [line for line in quiet.stderr.splitlines() if any(s in line for s in START_UP_LINES)], quiet.stderr
    verbose = score(tmp_path, "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    # The lines exist here, so the check above means something. Which ones depends on the processor:
    # oneDNN's notice is on by default on some x86 CPUs only; absl's and the CPU-feature notice show on all.
    shown = [marker for marker in START_UP_LINES if marker in verbose.stderr]
    assert shown, verbose.stderr
