"""Batch scoring on Dask: the CLI's scorer over partitions on a local cluster writes the file
`vae-explorer score` writes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO_ROOT

pytest.importorskip("dask.distributed", reason="the [dask] extra is not installed (pip install -e '.[dask]')")


@pytest.mark.timeout(300)
def test_dask_scoring_on_a_local_cluster_writes_what_the_cli_writes(tmp_path):
    from dask.distributed import Client, LocalCluster

    from vae_core.tables.dask_scoring import score_csv_dask
    from vae_core.tables.tabular import make_synthetic_creditcard

    rows = tmp_path / "rows.csv"
    make_synthetic_creditcard(n_rows=3000, fraud_fraction=0.05, seed=1).to_frame().to_csv(rows, index=False)
    cli = subprocess.run([sys.executable, "-m", "vae_core", "score", "--name", "fraud-subset", "--models-dir",
                          str(REPO_ROOT / "models"), "--input", str(rows), "--output", str(tmp_path / "cli.csv"),
                          "--strategy", "max_f1"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        summary = score_csv_dask("fraud-subset", rows, tmp_path / "dask.csv", models_dir=REPO_ROOT / "models",
                                 strategy="max_f1", blocksize=200_000, client=client)
    assert summary["partitions"] > 1 and summary["rows"] == 3000
    cli_rows = pd.read_csv(tmp_path / "cli.csv", dtype=str)
    dask_rows = pd.read_csv(tmp_path / "dask.csv", dtype=str)
    # Every input column comes back as the same text, in the same order; the float32 score may differ
    # in its last digit (the network's sums run over differently sized batches), the flag does not.
    pd.testing.assert_frame_equal(dask_rows.drop(columns="score"), cli_rows.drop(columns="score"))
    np.testing.assert_allclose(dask_rows["score"].astype(float), cli_rows["score"].astype(float), rtol=1e-5)
    assert f"flagged: {summary['flagged']}" in cli.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file left


def test_a_partition_is_written_beside_the_output_only_where_the_client_can_read_it(tmp_path):
    """A worker sharing the client's filesystem (the client's marker in the parts folder) writes its
    part there and sends the path; any other worker sends the same CSV as bytes."""
    from vae_core import registry
    from vae_core.tables.dask_scoring import _MARKER, _score_block, csv_header_bytes
    from vae_core.tables.fraud import FraudModel, scoring_threshold
    from vae_core.tables.tabular import make_synthetic_creditcard

    rows = tmp_path / "rows.csv"
    make_synthetic_creditcard(n_rows=200, fraud_fraction=0.05, seed=2).to_frame().to_csv(rows, index=False)
    header, names = csv_header_bytes(str(rows))
    root = REPO_ROOT / "models"
    threshold = scoring_threshold(FraudModel.from_loaded(registry.load_model("fraud-subset", root)), None, "max_f1")
    folder = tmp_path / "parts"
    folder.mkdir()
    args = (rows.read_bytes(), header, names, True, str(root), "fraud-subset", (0, 0), threshold, True)
    sent, n_rows, flagged = _score_block(*args, str(folder / "0.csv"))
    assert isinstance(sent, bytes) and n_rows == 200 and not (folder / "0.csv").exists()
    assert sent.count(b"\n") == 201 and sent.split(b"\n", 1)[0].endswith(b'"Amount","Class","score","flag"')
    (folder / _MARKER).touch()
    written, *counts = _score_block(*args, str(folder / "0.csv"))
    assert written == str(folder / "0.csv") and counts == [n_rows, flagged]
    assert (folder / "0.csv").read_bytes() == sent
