"""Write the digit classifier for the full MNIST into the package (vae_core/digit_classifier_mnist.npz),
so the AE vs VAE page judges prior samples without training it first. It is what
`vae_core.classifier.digit_classifier` trains with its default settings, weights stored as float32,
and it is used only for data with the same fingerprint (sizes, settings, labels, a pixel sample).
Reads MNIST from $VAE_DATA_DIR.

    VAE_DATA_DIR=../shared/data python bench/ship_digit_classifier.py
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

from vae_core import classifier, sources


def main() -> int:
    data = sources.mnist()
    if len(data.x_train) != 60_000:
        raise SystemExit(f"Needs the full MNIST through $VAE_DATA_DIR; found {data.source} ({len(data.x_train):,} images).")
    classifier.SHIPPED.unlink(missing_ok=True)  # train afresh, not load the one being replaced
    with tempfile.TemporaryDirectory() as scratch:
        trained = classifier.digit_classifier(data, directory=scratch)
        fingerprint = classifier.stored_fingerprint(next(Path(scratch).glob("digit_classifier_*.npz")))
    shipped = dataclasses.replace(trained, weights=tuple(w.astype(np.float32) for w in trained.weights),
                                  biases=tuple(b.astype(np.float32) for b in trained.biases), source="MNIST (full)")
    shipped.save(classifier.SHIPPED, fingerprint=fingerprint, compressed=True)
    print(f"{classifier.SHIPPED}: test accuracy {trained.test_accuracy:.4f}, mean confidence {trained.test_confidence:.4f}, "
          f"{classifier.SHIPPED.stat().st_size / 1e3:.0f} kB, fingerprint {fingerprint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
