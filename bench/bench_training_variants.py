"""Does a change to how the fraud VAE is trained close its gap to IsolationForest and PCA on the tables
where it trails? A search bench for the next default, beside bench_score_variants.py (which varies the
score of one trained network): each variant retrains the default with one setting changed, on the
tables where the default trails and on tables it must not lose, plus the credit-card subset.
Writes bench/results/training_variants.json.

    VAE_DATA_DIR=../shared/data python bench/bench_training_variants.py     # ~25 min, 2 workers

The default's own runs, and the baselines' test scores, are bench_score_variants.py's dumps (--default-dumps,
made by that bench when absent); the variants' runs are kept in --dumps and reused when present. Each run
is scored two ways: "constrained" (the shipped score) and "constrained+kl" (half of it plus KL(q(z|x) ‖
N(0, I))); "ensemble_3" averages the default and the two train_seed variants, each score divided by its
median on the test rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                 "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(variable, "1")  # one core per worker: the machine is shared
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from bench_score_variants import BASELINES, dump_one, whitened  # noqa: E402
from bench_tables import CREDITCARD, REPO_ROOT, creditcard_table, load_table  # noqa: E402

OUT = REPO_ROOT / "bench" / "results" / "training_variants.json"
# name → (VAEConfig changes, TrainConfig changes)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "hidden_32_16": ({"hidden_units": (32, 16)}, {}),
    "weight_decay_0.01": ({}, {"weight_decay": 1e-2}),
    "beta_2": ({"beta": 2.0}, {}),
    "latent_5": ({"latent_dim": 5}, {}),
    "latent_3": ({"latent_dim": 3}, {}),
    "train_seed_1": ({}, {"seed": 1}),
    "train_seed_2": ({}, {"seed": 2}),
}
ENSEMBLE = ("default", "train_seed_1", "train_seed_2")
TRAILING = "stamps,wbc,sk_digits,yeast,cardio,thyroid,sk_breast_cancer"
GUARDS = "vowels,glass,ionosphere,wdbc,lymphography"
# Which tables each variant is tried on (latent sizes only matter on the wide tables).
LATENT_TABLES = "sk_digits,ionosphere,wdbc,sk_breast_cancer,lymphography"


def dump_variant(variant: str, name: str, seed: int, dumps: Path) -> str:
    """Train one variant on one split of one table; save its errors and latent codes."""
    from vae_core.config import build_configs
    from vae_core.tables.fraud import model_features, train_fraud
    from vae_core.tables.tabular import normal_rows, stratified_split
    from vae_core.tf_import import import_tensorflow

    import_tensorflow()
    data = load_table(name)
    model_config, train_config = build_configs("fraud", n_features=len(model_features(data.feature_names, False)))
    model_changes, train_changes = VARIANTS[variant]
    training = train_fraud(None, data, dataclasses.replace(model_config, **model_changes),
                           dataclasses.replace(train_config, **train_changes), split_seed=seed)
    model, labels = training.model, data.labels.astype(np.int64)
    split = stratified_split(data.labels, test_fraction=0.3, val_fraction=0.15, seed=seed)
    x_train = model.preprocessor.transform(data.features.iloc[normal_rows(split.train_idx, labels)])
    x_test = model.preprocessor.transform(data.features.iloc[split.test_idx])
    mu_train, (mu_test, log_var_test) = model.vae.encode(x_train)[0], model.vae.encode(x_test)
    np.savez(dumps / f"{variant}__{name}__{seed}.npz", y=labels[split.test_idx], r_tr=x_train - model.vae.decode(mu_train),
             r_te=x_test - model.vae.decode(mu_test), mu_te=mu_test, lv_te=log_var_test)
    return f"{variant} {name} seed {seed}"


def scores(run: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The two scores (n,) of one dumped run."""
    from vae_core.dense import kl_divergence

    constrained = whitened(run["r_tr"].astype(np.float64), run["r_te"].astype(np.float64), 1, 1e-4)
    return {"constrained": constrained, "constrained+kl": 0.5 * constrained + kl_divergence(run["mu_te"], run["lv_te"])}


def main() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dumps", type=Path, default=Path("/tmp/training-variants"))
    parser.add_argument("--default-dumps", type=Path, default=Path("/tmp/score-variants"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = [CREDITCARD] if creditcard_table() is not None else []
    plan = {variant: (LATENT_TABLES.split(",") if variant.startswith("latent") else
                      TRAILING.split(",") + (["vowels"] if variant.startswith("train_seed") else GUARDS.split(",")[:2]))
            + extra for variant in VARIANTS}
    for folder in (args.dumps, args.default_dumps):
        folder.mkdir(parents=True, exist_ok=True)
    tables = sorted({name for names in plan.values() for name in names})
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        todo = [(n, s) for n in tables for s in seeds if not (args.default_dumps / f"{n}__{s}.npz").exists()]
        for done in (pool.map(dump_one, *zip(*todo), [args.default_dumps] * len(todo)) if todo else ()):
            print("default", done, flush=True)
        todo = [(v, n, s) for v, names in plan.items() for n in names for s in seeds
                if not (args.dumps / f"{v}__{n}__{s}.npz").exists()]
        for done in (pool.map(dump_variant, *zip(*todo), [args.dumps] * len(todo)) if todo else ()):
            print(done, flush=True)

    def run(variant: str, name: str, seed: int) -> dict[str, np.ndarray]:
        folder = args.default_dumps if variant == "default" else args.dumps
        return dict(np.load(folder / (f"{name}__{seed}.npz" if variant == "default" else f"{variant}__{name}__{seed}.npz")))

    def member_scores(variant: str, name: str, seed: int) -> dict[str, np.ndarray]:
        if variant != "ensemble_3":
            return scores(run(variant, name, seed))
        members = [scores(run(member, name, seed)) for member in ENSEMBLE]
        return {kind: np.mean([m[kind] / np.median(m[kind]) for m in members], axis=0) for kind in members[0]}

    per_table: dict[str, dict] = {}
    variants = ["default", *VARIANTS, "ensemble_3"]
    for name in tables:
        defaults = [run("default", name, s) for s in seeds]
        better = statistics.mean(max(roc_auc_score(d["y"], d[f"B_{b}"]) for b in BASELINES) for d in defaults)
        row: dict[str, dict] = {"better_baseline_roc_auc": round(better, 4)}
        for variant in variants:
            members = ENSEMBLE[1:] if variant == "ensemble_3" else () if variant == "default" else (variant,)
            if not all(name in plan[member] for member in members):
                continue
            labels = [d["y"] for d in defaults]
            runs = [member_scores(variant, name, s) for s in seeds]
            row[variant] = {kind: {"roc_auc": round(statistics.mean(roc_auc_score(y, r[kind]) for y, r in zip(labels, runs)), 4),
                                   "average_precision": round(statistics.mean(
                                       average_precision_score(y, r[kind]) for y, r in zip(labels, runs)), 4)}
                            for kind in ("constrained", "constrained+kl")}
            for kind in row[variant]:
                row[variant][kind]["gap"] = round(row[variant][kind]["roc_auc"] - better, 4)
        per_table[name] = row
    result = {"seeds": args.seeds, "variants": {v: {"model": {k: list(x) if isinstance(x, tuple) else x for k, x in m.items()},
                                                      "train": t} for v, (m, t) in VARIANTS.items()},
              "ensemble_3": list(ENSEMBLE), "goal": "within 0.02 ROC AUC of the better baseline (gap ≥ −0.02)",
              "per_table": per_table, "seconds": round(time.perf_counter() - started)}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, row in per_table.items():
        cells = [f"{v}: {row[v]['constrained+kl']['gap']:+.3f}" for v in variants if v in row]
        print(f"{name:18s} better baseline {row['better_baseline_roc_auc']:.3f} | gap (constrained+kl) " + ", ".join(cells))


if __name__ == "__main__":
    main()
