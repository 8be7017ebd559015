"""The default fraud VAE on public labelled anomaly tables it was never tuned on, against the PCA and
IsolationForest baselines stored beside it. Writes bench/results/tables.json.

Tables: the ODDS/ADBench tables vendored in bench/tables/ (see its README) and scikit-learn's bundled
datasets turned into anomaly tasks by one rule (`sklearn_task`). Per table and split seed, the model is
trained exactly as a user would: `train_fraud` with no configs given, so the shape rule in
`vae_core.config.fraud_model_defaults` picks them; PCA and IsolationForest are fitted by train_fraud on
the same preprocessed training normals and measured on the same test rows. With $VAE_DATA_DIR holding
the credit-card subset, its split 0 (the shipped model's) is trained the same way and reported apart.

    VAE_DATA_DIR=../shared/data python bench/bench_tables.py      # every table, seeds 0-4, 2 workers
    VAE_DATA_DIR=../shared/data python bench/bench_tables.py --tables none --creditcard-seeds 0,1,2,3,4 \
        --out bench/results/tables_creditcard.json                # the credit-card subset, 5 splits
    python bench/bench_tables.py --tables wine,glass --seeds 5,6,7,8,9 --out /tmp/t.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                 "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(variable, "1")  # one core: the machine is shared
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vae_core.tables.tabular import TabularDataset  # noqa: E402

TABLES_DIR = REPO_ROOT / "bench" / "tables"
OUT = REPO_ROOT / "bench" / "results" / "tables.json"
SKLEARN_TASKS = ("sk_breast_cancer", "sk_wine", "sk_digits")
# An sklearn task's anomalies: this share of its rows, drawn from the other classes (at least MIN_ANOMALIES).
ANOMALY_SHARE, MIN_ANOMALIES = 0.1, 10
SCORERS = ("VAE", "PCA", "IsolationForest")
CREDITCARD = "creditcard_subset"


def _dataset(name: str, x: np.ndarray, y: np.ndarray, source: str) -> TabularDataset:
    """x (n, d) float, y (n,) 0/1 → a labelled dataset, dropping columns constant over the whole table
    (they carry no information; training refuses them)."""
    keep = x.std(axis=0) > 0
    names = tuple(f"x{j}" for j in np.flatnonzero(keep))
    features = pd.DataFrame(np.asarray(x, np.float64)[:, keep], columns=list(names))
    return TabularDataset(features, np.asarray(y, np.int8), names, source, label_column="anomaly", positive="1")


def sklearn_task(name: str) -> TabularDataset:
    """One of scikit-learn's bundled classification sets as an anomaly task: its most common class
    (ties: the lowest label) is normal; anomalies are a seeded (seed 0) random draw from the other
    classes of ANOMALY_SHARE of the task's rows (at least MIN_ANOMALIES). The benign class of
    breast_cancer is its most common, so its anomalies are malignant tumours."""
    from sklearn import datasets

    loader = {"sk_breast_cancer": datasets.load_breast_cancer, "sk_wine": datasets.load_wine,
              "sk_digits": datasets.load_digits}[name]
    x, y = loader(return_X_y=True)
    normal_class = np.bincount(y).argmax()
    normal, others = np.flatnonzero(y == normal_class), np.flatnonzero(y != normal_class)
    n_anomalies = max(MIN_ANOMALIES, round(len(normal) * ANOMALY_SHARE / (1 - ANOMALY_SHARE)))
    anomalies = np.random.default_rng(0).choice(others, size=n_anomalies, replace=False)
    rows = np.concatenate([normal, np.sort(anomalies)])
    return _dataset(name, x[rows], (y[rows] != normal_class).astype(np.int8),
                    f"scikit-learn {name[3:]} (class {normal_class} normal)")


def load_table(name: str) -> TabularDataset:
    """A vendored ODDS/ADBench table (bench/tables/NAME.npz: X (n, d), y (n,)), an sklearn task, or
    the credit-card subset."""
    if name == CREDITCARD:
        return creditcard_table()
    if name in SKLEARN_TASKS:
        return sklearn_task(name)
    with np.load(TABLES_DIR / f"{name}.npz", allow_pickle=False) as arrays:
        return _dataset(name, arrays["X"], arrays["y"].astype(np.int8), f"ODDS/ADBench {name}")


def table_names() -> list[str]:
    return sorted(path.stem for path in TABLES_DIR.glob("*.npz")) + list(SKLEARN_TASKS)


def run_one(name: str, seed: int) -> dict:
    """One split seed of one table: test ROC AUC and AP per scorer, the VAE's settings, whether the
    validation advice named a baseline, and the seconds taken."""
    from vae_core.tables.advice import advice
    from vae_core.tables.fraud import train_fraud
    from vae_core.tf_import import import_tensorflow

    import_tensorflow()
    data = load_table(name)
    start = time.perf_counter()
    training = train_fraud(None, data, split_seed=seed)
    metrics, config = training.metrics, training.model.vae.vae_config
    # PCA(k) with k = min(10, features, rows): on ≤ 10 features it keeps every direction, and only
    # rounding noise is left to rank rows.
    stored = {("PCA" if scorer.startswith("PCA(") else scorer): value
              for scorer, value in metrics["baselines"].items() if isinstance(value, dict)}
    return {"table": name, "seed": seed, "seconds": round(time.perf_counter() - start, 1),
            "epochs_run": training.metadata["epochs_run"], "latent_dim": config.latent_dim,
            "hidden_units": list(config.hidden_units), "scoring": training.model.info["scoring"],
            "pca_components": int(next(s for s in metrics["baselines"] if s.startswith("PCA("))[4:-1]),
            "advised": [item["scorer"] for item in advice(metrics["validation_comparison"])],
            **{metric: {"VAE": metrics[metric], **{scorer: stored[scorer][metric] for scorer in SCORERS[1:]}}
               for metric in ("roc_auc", "average_precision")}}


def summarise(data: TabularDataset, runs: list[dict]) -> dict:
    """Mean ± sd over the seeds' runs of one table."""
    summary = {metric: {scorer: {"mean": round(statistics.mean(r[metric][scorer] for r in runs), 4),
                                 "sd": round(statistics.stdev(r[metric][scorer] for r in runs), 4) if len(runs) > 1 else 0.0}
                        for scorer in SCORERS}
               for metric in ("roc_auc", "average_precision")}
    best_baseline = max(summary["roc_auc"][scorer]["mean"] for scorer in SCORERS[1:])
    first = runs[0]
    return {"source": data.source, "rows": len(data), "features": len(data.feature_names),
            "positives": int(data.labels.sum()), "prevalence": round(float(data.labels.mean()), 4),
            "latent_dim": first["latent_dim"], "hidden_units": first["hidden_units"], "scoring": first["scoring"],
            "pca_components": first["pca_components"], **summary,
            "vae_minus_best_baseline": round(summary["roc_auc"]["VAE"]["mean"] - best_baseline, 4),
            "advice_given": sum(bool(r["advised"]) for r in runs),
            "seconds_mean": round(statistics.mean(r["seconds"] for r in runs), 1), "runs": runs}


def goals(tables: dict[str, dict]) -> dict:
    """The issue's goals over every table: the VAE within 0.02 ROC AUC of the better baseline on
    ≥ 80% of tables, and its mean ROC AUC at least each baseline's mean."""
    within = [name for name, row in tables.items() if row["vae_minus_best_baseline"] >= -0.02]
    means = {name: round(statistics.mean(row["roc_auc"][name]["mean"] for row in tables.values()), 4)
             for name in SCORERS}
    return {"tables": len(tables), "vae_within_0.02_of_best_baseline": len(within),
            "share_within": round(len(within) / len(tables), 3), "behind_by_more": sorted(set(tables) - set(within)),
            "mean_roc_auc": means, "within_goal_met": len(within) >= 0.8 * len(tables),
            "mean_goal_met": means["VAE"] >= max(means[name] for name in SCORERS[1:])}


def creditcard_table() -> TabularDataset | None:
    """The real credit-card subset from $VAE_DATA_DIR, or None when it is not there."""
    from vae_core.tables.tabular import read_creditcard

    path = Path(os.environ.get("VAE_DATA_DIR", "")) / "creditcard" / "creditcard_subset.csv"
    return read_creditcard(path) if os.environ.get("VAE_DATA_DIR") and path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", help="comma-separated names (default: all; 'none' for the credit-card subset alone)")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--creditcard-seeds", default="0", help="split seeds of the credit-card subset (default: 0, "
                        "the shipped model's split)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    names = [] if args.tables == "none" else args.tables.split(",") if args.tables else table_names()
    seeds = [int(s) for s in args.seeds.split(",")]
    tasks = [(name, seed) for name in names for seed in seeds]
    if creditcard_table() is not None:
        tasks += [(CREDITCARD, int(seed)) for seed in args.creditcard_seeds.split(",")]
    started, runs = time.perf_counter(), {}
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for run in pool.map(run_one, *zip(*tasks)):
            runs.setdefault(run["table"], []).append(run)
            print(f"{run['table']:18s} seed {run['seed']}  latent {run['latent_dim']:2d}  "
                  + "  ".join(f"{s} {run['roc_auc'][s]:.3f}" for s in SCORERS) + f"  {run['seconds']:.0f} s", flush=True)
    tables = {name: summarise(load_table(name), runs[name]) for name in names}
    result = {"seeds": seeds, "jobs": args.jobs, "wall_seconds": round(time.perf_counter() - started),
              "cpu_count": os.cpu_count(), "python": platform.python_version(),
              **({"goals": goals(tables)} if tables else {}), "tables": tables}
    if CREDITCARD in runs:
        result["creditcard_subset"] = summarise(creditcard_table(), runs[CREDITCARD])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result.get("goals"), indent=1))


if __name__ == "__main__":
    main()
