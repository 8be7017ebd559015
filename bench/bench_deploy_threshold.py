"""The shipped fraud model's default threshold where it will be deployed: expected cost per 1,000
transactions at the full ULB data's 0.172% fraud prevalence (the subset's rows reweighted), against
flagging nothing and flagging everything, on its validation and test splits, with 95% bootstrap
intervals; and the share of real normal rows it flags. Writes bench/results/deploy_threshold.json.

    VAE_DATA_DIR=../shared/data .venv/bin/python bench/bench_deploy_threshold.py   # ~20 s
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]

import numpy as np

from vae_core import registry, sources
from vae_core.tables import bootstrap, thresholds
from vae_core.tables.fraud import FraudModel, data_fingerprint
from vae_core.tables.tabular import read_creditcard, stratified_split


def subset_data():
    found = [path for path in sources.creditcard_csvs() if path.name == "creditcard_subset.csv"]
    if not found:
        raise SystemExit("set VAE_DATA_DIR to the folder holding creditcard/creditcard_subset.csv (../shared/data)")
    return read_creditcard(found[0])


def outcome(scores: np.ndarray, labels: np.ndarray, amounts: np.ndarray, threshold: float,
            prevalence: float) -> dict:
    """Expected cost per 1,000 transactions at `prevalence`, its interval, and the naive thresholds'."""
    deployed = thresholds.at_deployment(scores, labels, threshold, amounts, prevalence=prevalence)
    sweep = thresholds.ThresholdSweep(scores, labels, amounts)
    intervals = bootstrap.bootstrap(sweep, threshold, prevalence=prevalence).at(0)
    normals = scores[labels == 0]
    return {
        "rows": int(labels.size), "frauds": int(labels.sum()), "sampled_prevalence": float(labels.mean()),
        "normals_flagged_share": float((normals >= threshold).mean()),
        "recall": deployed["recall"], "precision_at_prevalence": deployed["precision"],
        "precision_at_prevalence_ci95": intervals["precision_at_prevalence"],
        "alerts_per_1000": deployed["alerts"],
        "cost_per_1000": deployed["cost"], "cost_per_1000_ci95": intervals["cost_at_prevalence"],
        "saving_vs_flag_nothing_per_1000_ci95": intervals["saving_at_prevalence"],
        "flag_nothing_per_1000": deployed["flag_nothing"], "flag_everything_per_1000": deployed["flag_everything"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fraud-subset")
    parser.add_argument("--models-dir", default=str(REPO_ROOT / "models"))
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "deploy_threshold.json"))
    args = parser.parse_args()
    data = subset_data()
    loaded = registry.load_model(args.model, args.models_dir)
    model = FraudModel.from_loaded(loaded)
    if model.info["data"]["fingerprint"] != data_fingerprint(data):
        raise SystemExit(f"{args.model} was not trained on this subset")
    split_info = model.info["split"]
    split = stratified_split(data.labels, test_fraction=split_info["test_fraction"],
                             val_fraction=split_info["val_fraction"], seed=split_info["seed"])
    prevalence = model.deploy_prevalence
    results = {}
    for name, rows in (("validation", split.val_idx), ("test", split.test_idx)):
        scores = model.score(data.features.iloc[rows])
        labels, amounts = data.labels[rows].astype(np.int64), data.amount[rows]
        results[name] = outcome(scores, labels, amounts, model.threshold_, prevalence)
    payload = {
        "model": args.model, "threshold": model.threshold_, "strategy": model.info["threshold"]["strategy"],
        "deploy_prevalence": prevalence, "deploy_prevalence_source": model.deploy_prevalence_source,
        "costs": "€5 per alert reviewed; a missed fraud costs its Amount; euros per 1,000 transactions at the "
                 "deployment prevalence, the subset's rows reweighted (frauds to 0.172%, normals to 99.828%)",
        "intervals": f"95% percentile bootstrap over the split's rows, {bootstrap.DEFAULT_RESAMPLES} resamples",
        "data": "creditcard_subset.csv: real ULB rows at 14.8% fraud; splits as the model recorded them",
        **results, "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    Path(args.output).write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
