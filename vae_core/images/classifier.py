"""A small digit classifier that judges generated digits: how digit-like and how varied they are.

A one-hidden-layer MLP trained with scikit-learn, evaluated in NumPy; cached on disk as a .npz
(no pickle), so a cached classifier loads safely and fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_core.errors import DataError

if TYPE_CHECKING:
    from vae_core.images.data import ImageDataset

N_DIGITS = 10


@dataclass(frozen=True)
class DigitClassifier:
    """A one-hidden-layer MLP (trained with scikit-learn), evaluated in NumPy.

    Weights live in a .npz (no pickle), so a cached classifier loads safely and fast.
    `test_accuracy` and `test_confidence` (mean max probability on real test digits) say how much
    to trust it, and give the ceiling that generated digits are compared with.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    test_accuracy: float
    test_confidence: float
    source: str

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """images (n, 28, 28[, 1]) in [0, 1] → class probabilities (n, 10)."""
        h = np.asarray(images, np.float64).reshape(len(images), -1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        h -= h.max(axis=1, keepdims=True)
        p = np.exp(h)
        return p / p.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        arrays = {f"w{i}": w for i, w in enumerate(self.weights)} | {f"b{i}": b for i, b in enumerate(self.biases)}
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, test_accuracy=self.test_accuracy, test_confidence=self.test_confidence,
                 source=np.array(self.source), **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> DigitClassifier:
        with np.load(path, allow_pickle=False) as npz:
            n = len([k for k in npz.files if k.startswith("w")])
            return cls(tuple(npz[f"w{i}"] for i in range(n)), tuple(npz[f"b{i}"] for i in range(n)),
                       float(npz["test_accuracy"]), float(npz["test_confidence"]), str(npz["source"]))


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Where derived artefacts (the digit classifier) are kept: `path`, VAE_CACHE_DIR, or ~/.cache."""
    chosen = path or os.environ.get("VAE_CACHE_DIR") or Path.home() / ".cache" / "vae-latent-explorer"
    return Path(chosen).expanduser()


def digit_classifier(data: ImageDataset, *, n_train: int = 20_000, hidden: int = 128, epochs: int = 20,
                     seed: int = 0, directory: str | os.PathLike | None = None) -> DigitClassifier:
    """The digit classifier for this data, trained once (~20 s on full MNIST here) and cached on disk.

    Trained on up to `n_train` training images, scored on the test split. The cache key is the
    data's source, sizes and labels plus the settings, so other data gets its own classifier.
    """
    n = min(n_train, len(data.x_train))
    if n < 100 or len(data.x_test) == 0:
        raise DataError("The digit classifier needs at least 100 training images and some test images.")
    digest = hashlib.sha1(f"{data.source}|{len(data.x_train)}|{len(data.x_test)}|{n}|{hidden}|{epochs}|{seed}".encode())
    digest.update(np.ascontiguousarray(data.y_train[:n]).tobytes())
    path = cache_dir(directory) / f"digit_classifier_{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        try:
            return DigitClassifier.load(path)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    order = np.random.default_rng(seed).permutation(len(data.x_train))[:n]
    x = data.x_train[order].reshape(n, -1)
    model = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=epochs, batch_size=128, random_state=seed,
                          alpha=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, data.y_train[order])
    # Classes are 0..9 in order as long as every digit occurs; map columns to digits otherwise.
    w_out = np.zeros((model.coefs_[-1].shape[0], N_DIGITS))
    b_out = np.full(N_DIGITS, -1e9)
    w_out[:, model.classes_] = model.coefs_[-1]
    b_out[model.classes_] = model.intercepts_[-1]
    classifier = DigitClassifier((*map(np.asarray, model.coefs_[:-1]), w_out),
                                 (*map(np.asarray, model.intercepts_[:-1]), b_out), 0.0, 0.0, data.source)
    probs = classifier.predict_proba(data.x_test)
    classifier = dataclasses.replace(
        classifier, test_accuracy=float((probs.argmax(1) == data.y_test).mean()),
        test_confidence=float(probs.max(1).mean()))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        classifier.save(path)
    except OSError:
        pass  # a read-only home still gets a working classifier, just not a cached one
    return classifier


def sample_quality(classifier: DigitClassifier, images: np.ndarray,
                   intended: np.ndarray | None = None) -> dict[str, Any]:
    """How digit-like generated images are, by the classifier: images (n, 28, 28).

    mean_max_prob: mean of the top class probability (1 = every image is clearly some digit);
    confident_share: share with top probability ≥ 0.9; class_share: (10,) predicted-class mix;
    class_entropy_bits: entropy of that mix (log2 10 ≈ 3.32 when all digits are equally common);
    digit_score: exp(H(mean p(y|x)) − mean H(p(y|x))), the Inception Score with this classifier —
    from 1 (all alike or all ambiguous) to 10 (confident and every digit equally often);
    label_agreement (with `intended` labels, conditional models): share classified as asked.
    """
    probs = classifier.predict_proba(images)
    top = probs.max(axis=1)
    predicted = probs.argmax(axis=1)
    share = np.bincount(predicted, minlength=N_DIGITS) / max(1, len(predicted))
    entropy = lambda p: -np.sum(p * np.log(np.clip(p, 1e-12, 1.0)), axis=-1)  # noqa: E731  nats
    result: dict[str, Any] = {
        "mean_max_prob": float(top.mean()),
        "confident_share": float((top >= 0.9).mean()),
        "class_share": share,
        "class_entropy_bits": float(entropy(share) / np.log(2)),
        "digit_score": float(np.exp(entropy(probs.mean(axis=0)) - entropy(probs).mean())),
        "n": int(len(images)),
    }
    if intended is not None:
        result["label_agreement"] = float((predicted == np.asarray(intended)).mean())
    return result


