"""Fraud VAE quality against its unsupervised baselines on the real ULB subset (14.8% fraud; the full
data has 0.172%, so AP and costs here are at that prevalence). Writes bench/results/fraud_quality.json.

Protocol, per split seed 0–4: `stratified_split` 55/15/30 train/validation/test; every method is
fitted on the train split's normal rows after the same preprocessing (Time dropped, log1p Amount,
the scaling named); the VAE early-stops on validation normals and picks its threshold on the
validation split. Test metrics are on the held-out test rows; validation metrics, on the validation
split, only choose. Baselines are also fitted on train + validation normals (70%, the issue's
protocol), the stronger bar. A VAE configuration is chosen by its mean validation AP over the seeds
(ties: validation AUROC); test rows never choose anything.

    PYTHONPATH=. python bench/bench_fraud_quality.py                         # every row: ~1.5 h on one shared core
    PYTHONPATH=. python bench/bench_fraud_quality.py --rows baselines,nll_per_feature
    PYTHONPATH=. python bench/bench_fraud_quality.py --list
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                 "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(variable, "1")  # one core: the machine is shared
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from bench_fraud import subset_file  # noqa: E402
from vae_core.tables import thresholds  # noqa: E402
from vae_core.tables.baselines import IsolationForestBaseline, PCABaseline  # noqa: E402
from vae_core.config import TRAIN_DEFAULTS, TrainConfig, VAEConfig, build_configs  # noqa: E402
from vae_core.tables.fraud import Preprocessor, ScoringConfig, train_fraud  # noqa: E402
from vae_core.tables.tabular import normal_rows, read_creditcard, stratified_split  # noqa: E402

DEFAULT_TRAIN_CONFIG = TRAIN_DEFAULTS["fraud"]


def default_vae_config(n_features: int) -> VAEConfig:
    """The shipped fraud defaults for rows of `n_features`."""
    return build_configs("fraud", n_features=n_features)[0]


OUT = REPO_ROOT / "bench" / "results" / "fraud_quality.json"
METRICS = ("roc_auc", "average_precision", "recall_at_1pct_fpr", "min_cost")
# The CLI's defaults before this comparison: 29-64-32-8, unit variance, squared error of μ's decoding.
BEFORE = {"hidden_units": (64, 32), "latent_dim": 8, "likelihood": "gaussian", "decoder_variance": "unit"}


@dataclass(frozen=True)
class Candidate:
    """One row of the table: VAEConfig and TrainConfig fields over the old defaults, a ScoringConfig,
    and `members` > 1 for an ensemble that averages the scores of models trained with seeds 0…k−1."""

    what: str
    vae: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    scoring: ScoringConfig = ScoringConfig("mean")  # the old rows: squared error of μ's decoding
    members: int = 1
    val_fraction: float = 0.15  # below 0.15, the train split grows into the validation split (test rows unchanged)

    def configs(self, n_features: int) -> tuple[VAEConfig, TrainConfig]:
        vae = VAEConfig(**{**BEFORE, "input_shape": (n_features,), **self.vae})
        return vae, TrainConfig(**{**DEFAULT_TRAIN_CONFIG_BEFORE, **self.train})


DEFAULT_TRAIN_CONFIG_BEFORE = {"epochs": 300, "batch_size": 64, "early_stopping_patience": 30, "learning_rate": 1e-3}
NLL = ScoringConfig("nll")
CANDIDATES: dict[str, Candidate] = {
    "before": Candidate("CLI defaults before: unit variance, score = squared error of μ's decoding"),
    "nll_per_feature": Candidate("learned log σ² per feature, score = −log p(x|μ)",
                                 {"decoder_variance": "per_feature"}, scoring=NLL),
    "nll_heteroscedastic": Candidate("log σ²(z) from its own network, score = −log p(x|μ)",
                                     {"decoder_variance": "heteroscedastic"}, scoring=NLL),
    "iw_per_feature": Candidate("learned log σ² per feature, score = importance-weighted −log p(x), 64 samples",
                                {"decoder_variance": "per_feature"}, scoring=ScoringConfig("iw_nll", 64)),
    "iw_heteroscedastic": Candidate("log σ²(z) network, score = importance-weighted −log p(x), 64 samples",
                                    {"decoder_variance": "heteroscedastic"}, scoring=ScoringConfig("iw_nll", 64)),
    "latent16": Candidate("as before, latent 16", {"latent_dim": 16}),
    "latent16_beta0.5": Candidate("as before, latent 16, β 0.5", {"latent_dim": 16, "beta": 0.5}),
    "wide": Candidate("as before, hidden 128-64", {"hidden_units": (128, 64)}),
    "nll_heteroscedastic_latent16": Candidate("log σ²(z) network, latent 16, score = −log p(x|μ)",
                                              {"decoder_variance": "heteroscedastic", "latent_dim": 16}, scoring=NLL),
    "nll_heteroscedastic_latent16_beta0.5": Candidate(
        "log σ²(z) network, latent 16, β 0.5, score = −log p(x|μ)",
        {"decoder_variance": "heteroscedastic", "latent_dim": 16, "beta": 0.5}, scoring=NLL),
    "before_x3": Candidate("as before, mean score of 3 models (seeds 0-2)", members=3),
    "per_feature_squared_error": Candidate("trained with a learned log σ² per feature, score = squared error of μ's "
                                           "decoding (unweighted)", {"decoder_variance": "per_feature"}),
    "latent8_beta0.1": Candidate("as before, β 0.1", {"beta": 0.1}),
    "skip": Candidate("as before plus a linear path beside the ReLU layers (x → μ, z → x̂)", {"linear_skip": True}),
    "nll_heteroscedastic_floor0": Candidate("log σ²(z) network with σ ≥ 1 (widens only), score = −log p(x|μ)",
                                            {"decoder_variance": "heteroscedastic", "decoder_log_var_floor": 0.0},
                                            scoring=NLL),
    "latent10": Candidate("unit variance and squared error (first row), latent 10 (PCA(10)'s size)", {"latent_dim": 10}),
    "latent4": Candidate("unit variance and squared error (first row), latent 4", {"latent_dim": 4}),
    "dropout0.2": Candidate("unit variance and squared error (first row), dropout 0.2 after each encoder layer", {"encoder_dropout": 0.2}),
    "small_decoder": Candidate("unit variance and squared error (first row), decoder 8-16-29 (a weaker decoder)", {"decoder_hidden_units": (16,)}),
    "cosine_wd": Candidate("unit variance and squared error (first row), rate 0.001 → 0 on a cosine, weight decay 1e-4",
                           train={"lr_schedule": "cosine", "weight_decay": 1e-4}),
    "latent12": Candidate("unit variance and squared error (first row), latent 12", {"latent_dim": 12}),
    "latent10_small_decoder": Candidate("unit variance and squared error (first row), latent 10, decoder 10-16-29",
                                        {"latent_dim": 10, "decoder_hidden_units": (16,)}),
    "latent10_train65": Candidate("unit variance and squared error (first row), latent 10, trained on 65% (validation 5%: early stopping and threshold)",
                                  {"latent_dim": 10}, val_fraction=0.05),
    "latent10_beta0.5": Candidate("unit variance and squared error (first row), latent 10, β 0.5", {"latent_dim": 10, "beta": 0.5}),
    "latent10_skip": Candidate("unit variance and squared error (first row), latent 10, plus a linear path beside the ReLU layers",
                               {"latent_dim": 10, "linear_skip": True}),
    "latent10_neg_elbo": Candidate("unit variance, latent 10, score = −ELBO (8 draws of z, plus the KL term)",
                                   {"latent_dim": 10}, scoring=ScoringConfig("neg_elbo", 8)),
    "latent10_wd0.05": Candidate("unit variance and squared error (first row), latent 10, AdamW weight decay 0.05",
                                 {"latent_dim": 10}, train={"weight_decay": 0.05}),
    "latent10_small_decoder_wd0.05": Candidate("unit variance and squared error (first row), latent 10, decoder 10-16-29, "
                                               "AdamW weight decay 0.05",
                                               {"latent_dim": 10, "decoder_hidden_units": (16,)}, train={"weight_decay": 0.05}),
    "latent10_lr3e-4": Candidate("unit variance and squared error (first row), latent 10, rate 0.0003",
                                 {"latent_dim": 10}, train={"learning_rate": 3e-4}),
    "latent10_b256": Candidate("unit variance and squared error (first row), latent 10, batch 256",
                               {"latent_dim": 10}, train={"batch_size": 256}),
    "latent10_silu": Candidate("unit variance and squared error (first row), latent 10, SiLU hidden layers",
                               {"latent_dim": 10, "activation": "silu"}),
    "heteroscedastic_constrained": Candidate(
        "log σ²(z) network (the defaults before), score = squared error whitened along 1 constraint of the training normals' errors",
        {"decoder_variance": "heteroscedastic"}, scoring=ScoringConfig("constrained")),
    "latent10_constrained_k2": Candidate(
        "unit variance, latent 10, score = squared error whitened along 2 constraints of the training normals' errors",
        {"latent_dim": 10}, scoring=ScoringConfig("constrained", constraints=2)),
    "latent10_wd0.05_constrained": Candidate(
        "unit variance, latent 10, AdamW weight decay 0.05, score = squared error whitened along 1 constraint",
        {"latent_dim": 10}, train={"weight_decay": 0.05}, scoring=ScoringConfig("constrained")),
    "latent10_x3": Candidate("unit variance and squared error (first row), latent 10, mean score of 3 models (seeds 0-2)", {"latent_dim": 10}, members=3),
}


def ranking(scores: np.ndarray, labels: np.ndarray, amounts: np.ndarray) -> dict[str, float]:
    return thresholds.ranking_metrics(scores, labels, amounts)


def summarise(per_seed: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {metric: {"mean": round(statistics.mean(r[metric] for r in per_seed), 4),
                     "std": round(statistics.stdev(r[metric] for r in per_seed), 4) if len(per_seed) > 1 else 0.0}
            for metric in per_seed[0] if metric in METRICS}


def run_candidate(name: str, data, seeds: list[int]) -> dict:
    candidate = CANDIDATES[name] if name != "shipped" else None
    labels, amounts = data.labels.astype(np.int64), data.amount
    n_features = len(data.feature_names) - 1  # Time dropped
    val_fraction = candidate.val_fraction if candidate else 0.15
    rows = []
    for seed in seeds:
        split = stratified_split(labels, val_fraction=val_fraction, seed=seed)
        start = time.perf_counter()
        val_scores, test_scores, own = [], [], []
        for member in range(candidate.members if candidate else 1):
            if candidate is None:  # what `python -m vae_core train --dataset fraud` does
                vae_config, train_config, scoring = default_vae_config(n_features), DEFAULT_TRAIN_CONFIG, ScoringConfig()
            else:
                vae_config, train_config = candidate.configs(n_features)
                scoring = candidate.scoring
            train_config = TrainConfig(**{**train_config.to_dict(), "seed": member})
            training = train_fraud(None, data, vae_config, train_config, scoring=scoring, split_seed=seed,
                                   val_fraction=val_fraction)
            val_scores.append(training.model.score(data.features.iloc[split.val_idx]))
            test_scores.append(training.model.score(data.features.iloc[split.test_idx]))
            own.append(training)
        seconds = time.perf_counter() - start
        val = ranking(np.mean(val_scores, axis=0), labels[split.val_idx], amounts[split.val_idx])
        test = ranking(np.mean(test_scores, axis=0), labels[split.test_idx], amounts[split.test_idx])
        row = {"seed": seed, "val": val, "test": test, "seconds": round(seconds, 1),
               "epochs_run": [t.result.epochs_run for t in own]}
        if len(own) == 1:
            metrics = own[0].metrics
            row["own_threshold"] = {"strategy": own[0].model.info["threshold"]["strategy"],
                                    "test_cost": metrics.get("cost"),
                                    "validation_cost": own[0].model.info["threshold"].get("validation_cost")}
        rows.append(row)
        print(name, seed, json.dumps({"val": {k: round(v, 4) for k, v in val.items()},
                                      "test": {k: round(v, 4) for k, v in test.items()}, "s": row["seconds"]}),
              flush=True)
    what = "the shipped defaults (vae_core.tables.fraud DEFAULT_*)" if candidate is None else candidate.what
    config = ({"vae": default_vae_config(n_features).to_dict(), "train": DEFAULT_TRAIN_CONFIG.to_dict(),
               "scoring": vars(ScoringConfig())} if candidate is None else
              {"vae": candidate.configs(n_features)[0].to_dict(), "train": candidate.configs(n_features)[1].to_dict(),
               "scoring": vars(candidate.scoring), "members": candidate.members})
    return {"what": what, "config": config, "val": summarise([r["val"] for r in rows]),
            "test": summarise([r["test"] for r in rows]),
            "seconds_per_seed": round(statistics.mean(r["seconds"] for r in rows), 1), "per_seed": rows}


def constrained_pca(x_fit: np.ndarray, n_components: int = 10, trim: float = 0.0):
    """PCA(k) with the VAE's constrained score: squared error whitened along the direction in which the
    fit rows' PCA residuals vary least (outside the k fitted directions, where residuals are 0).
    `trim` > 0 refits without that top fraction of fit rows by squared error. Returns score(x) → (n,)."""
    from sklearn.decomposition import PCA

    from vae_core.tables.fraud import CONSTRAINT_VARIANCE_FLOOR, ResidualConstraints

    pca = PCA(n_components, random_state=0).fit(x_fit)
    residual = lambda x: x - pca.inverse_transform(pca.transform(x))  # noqa: E731
    if trim:
        errors = (residual(x_fit) ** 2).sum(axis=1)
        x_fit = x_fit[errors <= np.quantile(errors, 1 - trim)]
        pca = PCA(n_components, random_state=0).fit(x_fit)
    values, vectors = np.linalg.eigh(np.cov(residual(x_fit), rowvar=False))
    constraints = ResidualConstraints(vectors[:, n_components:n_components + 1].T,
                                      np.clip(values[n_components:n_components + 1], CONSTRAINT_VARIANCE_FLOOR, 1.0))
    return lambda x: (constraints.whiten(residual(x)) ** 2).sum(axis=1)


def run_baselines(data, seeds: list[int]) -> dict:
    """PCA(5/10) × robust/standard scaling and IsolationForest, fitted on train normals (as the VAE;
    then also measured on the validation split) and on train + validation normals (the issue's 70%,
    test only); the two-feature rule for reference."""
    labels, amounts = data.labels.astype(np.int64), data.amount
    features = tuple(n for n in data.feature_names if n != "Time")
    results: dict[str, dict[str, list]] = {}
    for seed in seeds:
        split = stratified_split(labels, seed=seed)
        parts = {"val": split.val_idx, "test": split.test_idx}
        fit_sets = {"train normals": normal_rows(split.train_idx, labels),
                    "train+val normals": normal_rows(np.concatenate([split.train_idx, split.val_idx]), labels)}
        for fitted_on, rows in fit_sets.items():
            measured = parts if fitted_on == "train normals" else {"test": split.test_idx}
            for scaling in ("robust", "standard"):
                pre = Preprocessor.fit(data.features.iloc[rows], features, scaling=scaling)
                x_fit = pre.transform(data.features.iloc[rows])
                methods = {f"PCA({k}), {scaling}": PCABaseline.fit(x_fit, k) for k in (5, 10)}
                methods[f"IsolationForest, {scaling}"] = IsolationForestBaseline.fit(x_fit)
                scorers = {method: baseline.score for method, baseline in methods.items()}
                if scaling == "robust":
                    scorers["PCA(10) with the VAE's constrained score, robust"] = constrained_pca(x_fit)
                    scorers["PCA(10) with the VAE's constrained score, refitted without its top 0.2% of fit rows, robust"] = (
                        constrained_pca(x_fit, trim=0.002))
                for method, score in scorers.items():
                    entry = results.setdefault(f"{method} scaling, fitted on {fitted_on}", {})
                    for part, idx in measured.items():
                        entry.setdefault(part, []).append(ranking(score(pre.transform(data.features.iloc[idx])),
                                                                  labels[idx], amounts[idx]))
        entry = results.setdefault("rule abs(V14)+0.5·abs(V12) (chosen by looking at frauds: not unsupervised)", {})
        for part, idx in parts.items():
            frame = data.features.iloc[idx]
            entry.setdefault(part, []).append(ranking((frame["V14"].abs() + 0.5 * frame["V12"].abs()).to_numpy(),
                                                      labels[idx], amounts[idx]))
    return {key: {**{part: summarise(rows) for part, rows in entry.items()}, "per_seed": entry}
            for key, entry in results.items()}


def main() -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="all", help="comma-separated: baselines, shipped, or candidate names")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--list", action="store_true", help="print the candidates and exit")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    if args.list:
        for name, candidate in CANDIDATES.items():
            print(f"{name}: {candidate.what}")
        return
    names = ["baselines", *CANDIDATES, "shipped"] if args.rows == "all" else args.rows.split(",")
    unknown = [n for n in names if n not in CANDIDATES and n not in ("baselines", "shipped")]
    if unknown:
        parser.error(f"unknown rows {unknown}; see --list")
    out = Path(args.out)
    results: dict = json.loads(out.read_text()) if out.is_file() else {}
    results.update({"data": "creditcard_subset.csv: 3,335 real ULB rows, 492 frauds (14.8%; the full data has 0.172%), "
                            "so AP and costs are at 14.8% prevalence",
                    "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
                    "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "threads": 1}})
    data = read_creditcard(subset_file())
    seeds = list(range(args.seeds))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for name in names:
        if name == "baselines":
            results["baselines"] = {**run_baselines(data, seeds), "measured": stamp}
        else:
            results.setdefault("rows", {})[name] = {**run_candidate(name, data, seeds), "measured": stamp}
        out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    candidates = results.get("rows", {})  # the shipped defaults compete too: they must win on validation
    if candidates:
        results["chosen_by_validation_ap"] = max(
            candidates, key=lambda n: (candidates[n]["val"]["average_precision"]["mean"],
                                       candidates[n]["val"]["roc_auc"]["mean"]))
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
