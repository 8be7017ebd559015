"""Fraud benchmarks: VAE vs baselines over 5 split seeds on the real subset, threshold-sweep
latency at 284,807 scores, and chunked scoring throughput / peak RSS on a 1,000,000-row CSV.
Writes bench/results/fraud.json.

    .venv/bin/python bench/bench_fraud.py            # ~10 min on 2 CPU cores
    .venv/bin/python bench/bench_fraud.py --skip-scoring --seeds 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

from vae_core.tables import thresholds
from vae_core import sources
from vae_core.config import MODEL_DEFAULTS, TRAIN_DEFAULTS, TrainConfig, VAEConfig
from vae_core.tables.fraud import Preprocessor, train_fraud
from vae_core.tables.tabular import make_synthetic_creditcard, normal_rows, read_creditcard, stratified_split
from vae_core.training import fit_vae

FULL_DATA_ROWS = 284_807


def subset_file():
    """The real credit-card subset under $VAE_DATA_DIR (run with VAE_DATA_DIR=../shared/data)."""
    found = [path for path in sources.creditcard_csvs() if path.name == "creditcard_subset.csv"]
    if not found:
        raise SystemExit("set VAE_DATA_DIR to the folder holding creditcard/creditcard_subset.csv (../shared/data)")
    return found[0]


def scores_pca(x_train: np.ndarray, x_test: np.ndarray, components: int = 5) -> np.ndarray:
    pca = PCA(components, random_state=0).fit(x_train)
    return ((x_test - pca.inverse_transform(pca.transform(x_test))) ** 2).sum(axis=1)


def scores_iforest(x_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    return -IsolationForest(random_state=0).fit(x_train).score_samples(x_test)


def scores_plain_ae(x_train: np.ndarray, x_val: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
    """A deterministic autoencoder with the VAE's layer sizes, trained the same way."""
    defaults = MODEL_DEFAULTS["fraud"]
    config = VAEConfig(input_shape=(x_train.shape[1],), latent_dim=defaults["latent_dim"],
                       hidden_units=defaults["hidden_units"], likelihood="gaussian", model_type="ae")
    train_config = TrainConfig(**{**TRAIN_DEFAULTS["fraud"].to_dict(), "seed": seed})
    model = fit_vae(x_train, config, train_config, x_val=x_val).model
    return ((x_test - model.decode(model.encode(x_test)[0])) ** 2).sum(axis=1)


def compare_on_subset(seeds: int) -> dict:
    data = read_creditcard(subset_file())
    labels = data.labels.astype(np.int64)
    per_seed = []
    for seed in range(seeds):
        split = stratified_split(labels, test_fraction=0.3, val_fraction=0.15, seed=seed)
        train_normals, val_normals = normal_rows(split.train_idx, labels), normal_rows(split.val_idx, labels)
        start = time.perf_counter()
        vae = train_fraud(None, data, split_seed=seed)
        vae_seconds = time.perf_counter() - start
        features = vae.model.feature_names
        pre = Preprocessor.fit(data.features.iloc[train_normals], features)  # same preprocessing for all
        x = pre.transform(data.features)
        y_test = labels[split.test_idx]
        x_train, x_val, x_test = x[train_normals], x[val_normals], x[split.test_idx]
        scores = {
            "vae": vae.model.score(data.features.iloc[split.test_idx]),
            "pca5": scores_pca(x_train, x_test),
            "pca10": scores_pca(x_train, x_test, components=10),
            "isolation_forest": scores_iforest(x_train, x_test),
            "plain_autoencoder": scores_plain_ae(x_train, x_val, x_test, seed),
        }
        row = {name: {"roc_auc": thresholds.roc_auc(s, y_test), "average_precision": thresholds.average_precision(s, y_test)}
               for name, s in scores.items()}
        row["vae"]["training_seconds"] = round(vae_seconds, 1)
        row["vae"]["epochs_run"] = vae.result.epochs_run
        per_seed.append(row)
        print(seed, json.dumps(row), flush=True)
    means = {name: {metric: round(statistics.mean(r[name][metric] for r in per_seed), 4)
                    for metric in ("roc_auc", "average_precision")} for name in per_seed[0]}
    # The issue's baselines: PCA reconstruction error at the anchors' 5 components, IsolationForest,
    # and a plain autoencoder. PCA(10) is reported too, for honesty: it is the strongest PCA here.
    baselines = ["pca5", "isolation_forest", "plain_autoencoder"]
    return {
        "data": f"{subset_file().name}: 3,335 real rows, 14.8% fraud (full data: 0.172%); AP is at this prevalence",
        "protocol": "stratified 55/15/30 train/val/test per seed; every method fits the train split's normal "
                    "rows with the same preprocessing (log1p Amount, robust scaling by median and IQR, Time left "
                    "out); the VAE and "
                    "the plain AE early-stop on validation normals; metrics on the held-out test split",
        "seeds": list(range(seeds)),
        "per_seed": per_seed,
        "mean": means,
        "vae_beats_every_baseline": {metric: all(means["vae"][metric] >= means[b][metric] for b in baselines)
                                     for metric in ("roc_auc", "average_precision")},
        "vae_beats_pca10": {metric: means["vae"][metric] >= means["pca10"][metric]
                            for metric in ("roc_auc", "average_precision")},
    }


def sweep_latency() -> dict:
    rng = np.random.default_rng(0)
    labels = (rng.uniform(size=FULL_DATA_ROWS) < 0.00172).astype(np.int8)
    scores = rng.gamma(2.0, 1.0, FULL_DATA_ROWS) + 3 * labels
    amounts = rng.lognormal(3, 1.3, FULL_DATA_ROWS)
    builds = []
    for _ in range(5):
        start = time.perf_counter()
        sweep = thresholds.ThresholdSweep(scores, labels, amounts)
        builds.append(time.perf_counter() - start)
    queries = rng.uniform(scores.min(), scores.max(), 2000)
    times = []
    for threshold in queries:
        start = time.perf_counter()
        sweep.at(float(threshold))
        times.append(time.perf_counter() - start)
    return {"rows": FULL_DATA_ROWS, "build_ms_median": round(statistics.median(builds) * 1000, 2),
            "query_ms_median": round(statistics.median(times) * 1000, 4),
            "query_ms_p99": round(float(np.quantile(times, 0.99)) * 1000, 4)}


def scoring_throughput(rows: int) -> dict:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        generated = make_synthetic_creditcard(n_rows=rows, fraud_fraction=0.00172, seed=3)
        source = folder / "transactions.csv"
        pacsv.write_csv(pa.Table.from_pandas(generated.features, preserve_index=False), source)
        del generated
        small = make_synthetic_creditcard(n_rows=5000, fraud_fraction=0.02, seed=4)
        train_fraud("throughput", small, train_config=TrainConfig(epochs=5), models_dir=folder / "models")
        start = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "vae_core", "score", "--name", "throughput", "--models-dir", folder / "models",
             "--input", source, "--output", folder / "scored.csv"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        summary = dict(line.split(": ", 1) for line in completed.stdout.strip().splitlines())
        return {"rows": rows, "data": "synthetic transactions at 0.172% frauds from the generator fitted per class "
                                      "to the real ULB subset (vae_core/tables/synthetic.py)",
                "input_mb": round(source.stat().st_size / 1e6, 1),
                "scoring_seconds": float(summary["seconds"]), "rows_per_second": float(summary["rows_per_second"]),
                "process_wall_seconds_including_startup": round(wall, 1),
                "peak_rss_mb": round(peak_kib / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-comparison", action="store_true")
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "fraud.json"))
    args = parser.parse_args()
    out = Path(args.out)
    # Sections not rerun (--skip-…) keep their last figures; each section records when it ran.
    results: dict = json.loads(out.read_text()) if out.is_file() else {}
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    results["threshold_sweep"] = {**sweep_latency(), "measured": stamp}
    print(json.dumps(results["threshold_sweep"]), flush=True)
    if not args.skip_scoring:
        results["batch_scoring"] = {**scoring_throughput(args.rows), "measured": stamp}
        print(json.dumps(results["batch_scoring"]), flush=True)
    if not args.skip_comparison:
        results["subset_comparison"] = {**compare_on_subset(args.seeds), "measured": stamp}
        print(json.dumps(results["subset_comparison"]["mean"], indent=1), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
