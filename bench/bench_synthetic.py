"""Does the shipped fraud model see synthetic rows as it sees real ones? Flag rates of normals and
ROC AUC of the fitted generator's rows (`make_synthetic_creditcard`) against the real subset's
held-out test split, for `models/fraud-subset`, at its own threshold and at the thresholds that
flag 1%, 2%, 5% and 13% of the real test normals; and the same for generators fitted otherwise
(fewer components, no normal-like frauds). Writes bench/results/synthetic.json.

    VAE_DATA_DIR=../shared/data .venv/bin/python bench/bench_synthetic.py    # ~5 min on 2 CPU cores
    VAE_DATA_DIR=../shared/data .venv/bin/python bench/bench_synthetic.py --skip-alternatives
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from bench_fraud import FULL_DATA_ROWS, subset_file  # noqa: E402
from vae_core import registry  # noqa: E402
from vae_core.tables import synthetic  # noqa: E402
from vae_core.tables.fraud import FraudModel, evaluation_rows  # noqa: E402
from vae_core.tables.tabular import make_synthetic_creditcard, read_creditcard  # noqa: E402

MODEL = "fraud-subset"
NORMAL_FLAG_RATES = (0.01, 0.02, 0.05, 0.13)
GOAL = {"flag_rate_pp": 2.0, "roc_auc": 0.03}
# Generators fitted otherwise than the shipped one, each with fit_generator's keyword arguments.
ALTERNATIVES = {"one Gaussian per class": {"n_components": (1, 1)},
                "mixtures of 16 and 4 components": {"n_components": (16, 4)},
                "every fraud from the fraud mixture": {"normal_like_quantile": None}}


def figures(scores: np.ndarray, labels: np.ndarray, cuts: dict[str, float]) -> dict:
    """ROC AUC, and per threshold the % of normals flagged and the share of frauds caught."""
    normal, fraud = scores[labels == 0], scores[labels == 1]
    return {"rows": len(scores), "frauds": int(labels.sum()), "roc_auc": round(float(roc_auc_score(labels, scores)), 4),
            "normals_flagged_pct": {name: round(100 * float((normal > cut).mean()), 2) for name, cut in cuts.items()},
            "recall": {name: round(float((fraud > cut).mean()), 3) for name, cut in cuts.items()}}


def differences(runs: list[dict], real: dict) -> dict:
    """The largest gap over `runs` to the real split: normals flagged (percentage points), ROC AUC."""
    return {"flag_rate_pp": round(max(abs(run["normals_flagged_pct"][name] - flagged)
                                      for run in runs for name, flagged in real["normals_flagged_pct"].items()), 2),
            "roc_auc": round(max(abs(run["roc_auc"] - real["roc_auc"]) for run in runs), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-alternatives", action="store_true")
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "synthetic.json"))
    args = parser.parse_args()
    data = read_creditcard(subset_file())
    model = FraudModel.from_loaded(registry.load_model(MODEL, REPO_ROOT / "models"))
    rows, evaluated_on = evaluation_rows(model, data)
    labels = data.labels[rows].astype(np.int64)
    real_scores = model.score(data.features.iloc[rows])
    real_normals = real_scores[labels == 0]
    cuts = {"model_threshold": model.threshold_,
            **{f"flags_{round(100 * rate)}pct_of_real_normals": float(np.quantile(real_normals, 1 - rate))
               for rate in NORMAL_FLAG_RATES}}
    real = {"evaluated_on": evaluated_on, **figures(real_scores, labels, cuts)}
    prevalence = float(data.labels.mean())
    per_seed = []
    for seed in range(args.seeds):
        generated = make_synthetic_creditcard(args.rows, fraud_fraction=prevalence, seed=seed)
        per_seed.append({"seed": seed, **figures(model.score(generated.features), generated.labels.astype(np.int64), cuts)})
    mean_flagged = {name: round(float(np.mean([run["normals_flagged_pct"][name] for run in per_seed])), 2) for name in cuts}
    mean_auc = round(float(np.mean([run["roc_auc"] for run in per_seed])), 4)
    worst = differences(per_seed, real)
    alternatives = {}
    if not args.skip_alternatives:
        n_fraud = round(args.rows * prevalence)
        for name, options in ALTERNATIVES.items():
            fitted = synthetic.fit_generator(data.features[list(synthetic.COLUMNS)].to_numpy(), data.labels, **options)
            values = fitted.sample(args.rows - n_fraud, n_fraud, np.random.default_rng(0))
            run = figures(model.score(pd.DataFrame(values, columns=list(synthetic.COLUMNS))),
                          (np.arange(args.rows) >= args.rows - n_fraud).astype(np.int64), cuts)
            alternatives[name] = {"fit": options, **run,
                                  "difference": differences([run], real)}
            print(name, alternatives[name]["difference"], flush=True)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        make_synthetic_creditcard(FULL_DATA_ROWS, fraud_fraction=0.00172, seed=0)
        timings.append(time.perf_counter() - started)
    generator = synthetic.shipped_generator()
    results = {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "model": MODEL, "model_threshold": model.threshold_,
        "generator": {"rows": "make_synthetic_creditcard: the generator fitted per class to the real subset "
                              "(vae_core/tables/synthetic.py)",
                      "components": synthetic.N_COMPONENTS,
                      "normal_like_fraud_share": round(generator.normal_like_share, 4),
                      "parameter_file_bytes": synthetic.PARAMETER_FILE.stat().st_size},
        "thresholds": cuts,
        "real_test_split": real,
        "synthetic": {"rows_per_seed": args.rows, "fraud_fraction": round(prevalence, 4), "per_seed": per_seed,
                      "mean_normals_flagged_pct": mean_flagged, "mean_roc_auc": mean_auc},
        "worst_seed_difference": worst,
        "goal": GOAL,
        "within_goal": bool(worst["flag_rate_pp"] <= GOAL["flag_rate_pp"] and worst["roc_auc"] <= GOAL["roc_auc"]),
        "generate_284807_rows_s": round(min(timings), 2),
        "alternatives_one_seed": alternatives,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({key: results[key] for key in ("worst_seed_difference", "within_goal", "generate_284807_rows_s")}))
    print("real", real["normals_flagged_pct"], real["roc_auc"])
    print("synthetic", mean_flagged, mean_auc)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
