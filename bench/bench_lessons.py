"""The lessons' numbers: AE vs VAE (same shapes, data, seed, epochs) test reconstruction and
prior-sample quality, and the conditional VAE's test −ELBO. Writes bench/results/lessons.json.

    VAE_DATA_DIR=../shared/data .venv/bin/python bench/bench_lessons.py   # full MNIST, 5 epochs (~15 min on 2 busy cores)
    .venv/bin/python bench/bench_lessons.py --bundled --epochs 3   # offline: the 5,000 bundled digits
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

import numpy as np

from vae_core import sources
from vae_core.images.classifier import digit_classifier, sample_quality
from vae_core.images.compare import latent_spread, matched_config, reconstruction_errors
from vae_core.images.conditional import conditional_quality
from vae_core.config import TrainConfig, VAEConfig
from vae_core.latent import decode_images
from vae_core.images.mnist import neg_elbo_metrics, split_validation_labelled
from vae_core.training import fit_vae

N_PRIOR = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundled", action="store_true", help="use the 5,000 bundled digits")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "lessons.json"))
    args = parser.parse_args()

    data = sources.mnist("bundled" if args.bundled else "auto")  # auto: $VAE_DATA_DIR first
    print(f"data: {data.source} ({len(data.x_train)} train / {len(data.x_test)} test)", flush=True)
    config = VAEConfig(latent_dim=args.latent_dim)  # dense 512-256, Bernoulli: the default MNIST model
    train_config = TrainConfig(epochs=args.epochs, batch_size=128, early_stopping_patience=0)
    size = min(5000, len(data.x_train) // 10)
    x_train, y_train, x_val, y_val = split_validation_labelled(data, size, train_config.seed)

    start = time.perf_counter()
    classifier = digit_classifier(data)
    classifier_seconds = time.perf_counter() - start
    print(f"classifier: test accuracy {classifier.test_accuracy:.4f}, mean max prob on real test digits "
          f"{classifier.test_confidence:.4f} ({classifier_seconds:.0f} s incl. cache)", flush=True)

    results: dict = {}
    models = {}
    for name, model_config in (("ae", matched_config(config, "ae")),
                               ("vae", matched_config(config, "vae")),
                               ("cvae", VAEConfig(latent_dim=args.latent_dim, num_classes=10))):
        start = time.perf_counter()
        trained = fit_vae(x_train, model_config, train_config, x_val=x_val, y_train=y_train, y_val=y_val)
        seconds = time.perf_counter() - start
        model = trained.model
        models[name] = model
        entry = {
            "config": model_config.to_dict(),
            "training_seconds": round(seconds, 1),
            "seconds_per_epoch": round(seconds / trained.epochs_run, 1),
            **{k: round(v, 3) if isinstance(v, float) else v
               for k, v in neg_elbo_metrics(model, data.x_test, data.y_test).items()},
            "reconstruction_from_mean": {k: round(v, 5) if isinstance(v, float) else v for k, v in
                                         reconstruction_errors(model, data.x_test, data.y_test).items()},
        }
        prior_z = np.random.default_rng(0).standard_normal((N_PRIOR, args.latent_dim)).astype(np.float32)
        if model_config.conditional:
            quality = conditional_quality(model, classifier, n_per_digit=N_PRIOR // 10)
        else:
            quality = sample_quality(classifier, decode_images(model, prior_z))
        quality["class_share"] = [round(float(v), 3) for v in quality["class_share"]]
        entry["prior_samples"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in quality.items()}
        entry["latent_spread"] = {k: (v if isinstance(v, int) else round(float(v), 3) if np.isscalar(v) else [round(float(u), 3) for u in v])
                                  for k, v in latent_spread(model.encode(data.x_test, data.y_test)[0]).items()}
        results[name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if k != "config"}), flush=True)

    payload = {
        "data_source": data.source,
        "n_train": len(x_train), "n_validation": len(x_val), "n_test": len(data.x_test),
        "epochs": args.epochs,
        "classifier": {"test_accuracy": round(classifier.test_accuracy, 4),
                       "test_mean_max_prob": round(classifier.test_confidence, 4),
                       "seconds_including_cache": round(classifier_seconds, 1)},
        "prior_samples_n": N_PRIOR,
        "models": results,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
