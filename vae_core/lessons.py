"""The ideas behind the app, as computations: AE vs VAE, conditional generation, ELBO anatomy, β.

The Compare and ELBO pages (and the Decoder page's conditional tools) read widgets, call one of
these, and render what comes back. Arrays in, arrays and small dataclasses out. TensorFlow is
reached only through the models passed in; scikit-learn and Plotly are imported inside the
functions that need them. Never imports Streamlit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError, DataError

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from vae_core.data import ImageDataset
    from vae_core.model import VAE

N_DIGITS = 10
# Var(μ) across the data above this marks a latent dim as "active" (Burda et al., 2016).
ACTIVE_DIM_VARIANCE = 0.01


# --- what kind of model is this (from saved JSON, without TensorFlow) --------------------------

def _vae_config_dict(config: VAEConfig | dict[str, Any]) -> dict[str, Any]:
    if isinstance(config, VAEConfig):
        return config.to_dict()
    return config.get("vae_config", config)  # a registry config.json or a bare VAEConfig dict


def model_type(config: VAEConfig | dict[str, Any]) -> str:
    """"vae" or "ae" for a VAEConfig, its dict, or a registry entry's config (older ones are "vae")."""
    return _vae_config_dict(config).get("model_type", "vae")


def num_classes(config: VAEConfig | dict[str, Any]) -> int:
    """How many labels the model is conditioned on (0: unconditional)."""
    return int(_vae_config_dict(config).get("num_classes", 0) or 0)


def kind_label(config: VAEConfig | dict[str, Any]) -> str:
    """'VAE', 'AE', 'conditional VAE' or 'conditional AE'."""
    name = "AE" if model_type(config) == "ae" else "VAE"
    return f"conditional {name}" if num_classes(config) else name


def shapes_key(config: VAEConfig | dict[str, Any]) -> tuple:
    """What must match for two models to have "the same shapes" (everything but type, β and warm-up)."""
    c = _vae_config_dict(config)
    return (tuple(c.get("input_shape", ())), c.get("architecture"), c.get("latent_dim"),
            tuple(c.get("hidden_units", ())), tuple(c.get("conv_filters", ())), c.get("conv_dense_units"),
            c.get("likelihood"), int(c.get("num_classes", 0) or 0))


def matched_config(config: VAEConfig, kind: str) -> VAEConfig:
    """The same encoder/decoder shapes as `config`, as a "vae" or an "ae"."""
    if kind not in ("vae", "ae"):
        raise ConfigError(f"Model type must be 'vae' or 'ae', got {kind!r}.")
    return dataclasses.replace(config, model_type=kind)


def pick_pair(infos: Iterable[Any]) -> tuple[str | None, str | None]:
    """Default (AE, VAE) names for the Compare page: a pair with the same shapes if there is one.

    `infos` are registry ModelInfo entries (valid MNIST ones); either name may be None.
    """
    infos = [i for i in infos if not num_classes(i.config)]
    aes = [i for i in infos if model_type(i.config) == "ae"]
    # Plain β = 1 VAEs first: the textbook comparison.
    vaes = sorted((i for i in infos if model_type(i.config) == "vae"),
                  key=lambda i: _vae_config_dict(i.config).get("beta", 1.0) != 1.0)
    for vae in vaes:
        for ae in aes:
            if shapes_key(ae.config) == shapes_key(vae.config):
                return ae.name, vae.name
    return (aes[0].name if aes else None), (vaes[0].name if vaes else None)


def _labels_for(vae: VAE, y: np.ndarray | None) -> np.ndarray | None:
    """The labels to pass to a model: y for conditional models, None otherwise."""
    if not vae.vae_config.conditional:
        return None
    if y is None:
        raise DataError("This is a conditional model: it needs the digit labels of the images.")
    return np.asarray(y)


def codes(vae: VAE, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Where each image lands in latent space: μ for a VAE, z for an AE: (n, latent_dim)."""
    return vae.encode(x, _labels_for(vae, y))[0]


def decode(vae: VAE, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """z (n, latent_dim) [+ labels] → images (n, 28, 28) in [0, 1]."""
    out = vae.decode(z, _labels_for(vae, y)) if vae.vae_config.conditional else vae.decode(z)
    return np.clip(out.reshape(len(out), 28, 28), 0.0, 1.0)


def mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """(k, h, w) images → one (rows·h, columns·w) image, row-major; missing cells are black."""
    images = np.asarray(images, np.float32)
    k, h, w = images.shape
    rows = max(1, -(-k // columns))
    padded = np.zeros((rows * columns, h, w), np.float32)
    padded[:k] = images
    return padded.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w)


# --- a small digit classifier, to judge generated digits ----------------------------------------

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


# --- AE vs VAE ------------------------------------------------------------------------------------

def reconstruction_errors(vae: VAE, x: np.ndarray, y: np.ndarray | None = None) -> dict[str, float]:
    """Reconstruction through the code mean (μ for a VAE, z for an AE), so AE and VAE are measured alike.

    nll: −log p(x | z=μ) in nats per image (summed binary cross-entropy for Bernoulli models);
    mse: mean squared error per pixel of the decoded mean.
    """
    labels = _labels_for(vae, y)
    mu = vae.encode(x, labels)[0]
    nll = vae.decoder_nll(x, mu, labels)
    decoded = vae.decode(mu, labels) if vae.vae_config.conditional else vae.decode(mu)
    mse = float(np.mean((decoded.reshape(len(x), -1) - np.asarray(x).reshape(len(x), -1)) ** 2))
    return {"nll": float(nll.mean()), "mse": mse, "n": int(len(x))}


def latent_spread(mu: np.ndarray) -> dict[str, Any]:
    """How the codes of a data set sit relative to the prior N(0, I): mu (n, latent_dim).

    std: per-dim standard deviation (n-vector length latent_dim); mean_norm: mean ‖μ‖;
    inside_prior: share of codes within the prior's 95% ball (‖z‖² ≤ χ²₀.₉₅ for latent_dim dims);
    active_dims: dims whose variance across the data exceeds ACTIVE_DIM_VARIANCE.
    """
    from scipy.stats import chi2

    mu = np.asarray(mu, np.float64)
    radius2 = chi2.ppf(0.95, mu.shape[1])
    return {
        "std": mu.std(axis=0),
        "mean_std": float(mu.std(axis=0).mean()),
        "mean_norm": float(np.linalg.norm(mu, axis=1).mean()),
        "inside_prior": float((np.sum(mu ** 2, axis=1) <= radius2).mean()),
        "active_dims": int((mu.var(axis=0) > ACTIVE_DIM_VARIANCE).sum()),
    }


@dataclass(frozen=True)
class ModelSummary:
    """One model's side of the comparison.

    codes: (n, latent_dim) codes of the shared test rows; prior_images: (k, 28, 28) decoded from the
    shared prior draws; reconstruction: reconstruction_errors(); quality: sample_quality() of the
    prior images (None without a classifier); spread: latent_spread(codes); test_kl: mean KL (0 for an AE).
    """

    name: str
    kind: str
    codes: np.ndarray
    prior_images: np.ndarray
    reconstruction: dict[str, float]
    quality: dict[str, Any] | None
    spread: dict[str, Any]
    test_kl: float


@dataclass(frozen=True)
class Comparison:
    """Models compared on the same test rows and the same prior draws.

    rows: (n,) test-set row numbers; labels: (n,) digits; prior_z: (k, latent_dim) draws from
    N(0, I); models: one ModelSummary each; reference_confidence: the classifier's mean max
    probability on real test digits (the ceiling for generated ones).
    """

    rows: np.ndarray
    labels: np.ndarray
    prior_z: np.ndarray
    models: list[ModelSummary]
    reference_confidence: float | None
    n_error_rows: int
    source: str


def _sample_rows(n_total: int, n: int, seed: int) -> np.ndarray:
    """Up to n sorted row numbers of range(n_total), a seeded subset when n < n_total."""
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def compare_models(models: dict[str, VAE], data: ImageDataset, *, n_points: int = 2000, n_prior: int = 36,
                   n_error_rows: int = 5000, seed: int = 0,
                   classifier: DigitClassifier | None = None) -> Comparison:
    """Encode the same test rows with each model, decode the same prior draws, measure both.

    Models must share a latent dim (the prior draws are shared). Conditional models decode prior
    draws with labels 0..9 in turn and encode with the true labels.
    """
    if not models:
        raise ConfigError("Pick at least one model to compare.")
    dims = {m.vae_config.latent_dim for m in models.values()}
    if len(dims) != 1:
        raise ConfigError("The models must have the same latent dim to share prior draws; pick a matched pair.")
    latent_dim = dims.pop()
    rows = _sample_rows(len(data.x_test), n_points, seed)
    error_rows = _sample_rows(len(data.x_test), n_error_rows, seed + 1)
    x, y = data.x_test[rows], data.y_test[rows].astype(np.int64)
    prior_z = np.random.default_rng(seed).standard_normal((n_prior, latent_dim)).astype(np.float32)
    prior_labels = np.arange(n_prior) % N_DIGITS
    summaries = []
    for name, vae in models.items():
        conditional = vae.vae_config.conditional
        mu = codes(vae, x, y)
        images = decode(vae, prior_z, prior_labels if conditional else None)
        xe, ye = data.x_test[error_rows], data.y_test[error_rows]
        kl = float(vae.per_example_losses(xe, ye if conditional else None)["kl"].mean()) if vae.variational else 0.0
        summaries.append(ModelSummary(
            name=name, kind=kind_label(vae.vae_config), codes=mu, prior_images=images,
            reconstruction=reconstruction_errors(vae, xe, ye),
            quality=None if classifier is None else sample_quality(
                classifier, images, prior_labels if conditional else None),
            spread=latent_spread(mu), test_kl=kl))
    return Comparison(rows, y, prior_z, summaries,
                      None if classifier is None else classifier.test_confidence, len(error_rows), data.source)


def comparison_table(comparison: Comparison) -> list[dict[str, Any]]:
    """One row per model, the numbers the Compare page shows (plain values for st.dataframe)."""
    table = []
    for m in comparison.models:
        row = {
            "model": m.name, "type": m.kind,
            "reconstruction −log p(x|μ) (nats)": round(m.reconstruction["nll"], 2),
            "reconstruction MSE per pixel": round(m.reconstruction["mse"], 5),
            "KL (nats)": round(m.test_kl, 2),
            "codes inside N(0, I)'s 95% ball": f"{m.spread['inside_prior']:.0%}",
            "mean ‖code‖": round(m.spread["mean_norm"], 2),
        }
        if m.quality is not None:
            row["prior samples: mean max class prob."] = round(m.quality["mean_max_prob"], 3)
            row["prior samples: digit score (1–10)"] = round(m.quality["digit_score"], 2)
            row["prior samples: most common digit"] = (
                f"{int(np.argmax(m.quality['class_share']))} ({np.max(m.quality['class_share']):.0%})")
        table.append(row)
    return table


def train_matched_pair(data: ImageDataset, config: VAEConfig, train_config: TrainConfig, *,
                       n_train: int | None = None, on_progress=None) -> dict[str, Any]:
    """Train an AE and a VAE with the same shapes, data, seed and epochs (unsaved): {"ae", "vae"} →
    TrainResult. Used by the benchmark and the tests; the app trains through the registry."""
    from vae_core.mnist import split_validation_labelled
    from vae_core.training import fit_vae

    size = min(5000, len(data.x_train) // 10)
    x_train, y_train, x_val, y_val = split_validation_labelled(data, size, train_config.seed)
    if n_train is not None:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    return {kind: fit_vae(x_train, matched_config(config, kind), train_config, x_val=x_val,
                          y_train=y_train, y_val=y_val, on_progress=on_progress)
            for kind in ("ae", "vae")}


def twin_name(name: str, kind: str) -> str:
    """A registry name for the AE (or VAE) twin of model `name`: 'digits' → 'digits-ae'."""
    suffix = f"-{kind}"
    return (name[:64 - len(suffix)] + suffix) if not name.endswith(suffix) else name + "2"


def start_twin_training(info: Any, kind: str, name: str, *, source: str = "auto", path: str | None = None,
                        models_dir: str | None = None):
    """Train `info`'s twin (same shapes, data source and training settings; type `kind`) in the
    background and save it as `name`: a vae_core.jobs.TrainingJob the page polls."""
    from vae_core import registry
    from vae_core.errors import RegistryError
    from vae_core.jobs import TrainingJob
    from vae_core.views import load_mnist_source

    registry.validate_name(name)
    if (registry.models_dir(models_dir) / name).exists():
        raise RegistryError(f"A model named {name!r} already exists; choose another name.")
    vae_config = matched_config(VAEConfig.from_dict(info.config["vae_config"]), kind)
    settings = dict(info.metadata.get("train_config") or {})
    train_config = TrainConfig.from_dict(settings) if settings else TrainConfig()

    def train(on_progress, cancel, job):
        from vae_core.mnist import train_mnist

        data = load_mnist_source(source, path)
        job.set_data_source(data.source)
        return train_mnist(name, vae_config, train_config, data=data, models_dir=models_dir,
                           on_progress=on_progress, cancel=cancel)

    return TrainingJob(name, "mnist", train).start()


# --- conditional generation ----------------------------------------------------------------------

def require_conditional(vae: VAE) -> None:
    if not vae.vae_config.conditional:
        raise ConfigError("This model is not conditional: train one with the digit label (`--conditional`).")


def decode_digit(vae: VAE, z, label: int) -> np.ndarray:
    """One conditional decoding: z (latent_dim,) and a digit → (28, 28) in [0, 1]."""
    require_conditional(vae)
    return decode(vae, np.asarray(z, np.float32)[None, :], np.array([int(label)]))[0]


def digit_row(vae: VAE, z, labels: Iterable[int] = range(N_DIGITS)) -> np.ndarray:
    """All digits in one style: the same z decoded with each label → (28, 28·k) strip, one batched call."""
    require_conditional(vae)
    labels = np.asarray(list(labels), np.int64)
    z = np.repeat(np.asarray(z, np.float32).reshape(1, -1), len(labels), axis=0)
    return mosaic(decode(vae, z, labels), len(labels))


def style_grid(vae: VAE, n_styles: int = 6, seed: int = 0) -> np.ndarray:
    """Rows = styles (prior draws), columns = digits 0–9: (28·n_styles, 280), one batched call."""
    require_conditional(vae)
    styles = np.random.default_rng(seed).standard_normal((n_styles, vae.vae_config.latent_dim)).astype(np.float32)
    z = np.repeat(styles, N_DIGITS, axis=0)
    labels = np.tile(np.arange(N_DIGITS), n_styles)
    return mosaic(decode(vae, z, labels), N_DIGITS)


def style_of(vae: VAE, image: np.ndarray, label: int) -> np.ndarray:
    """The style code of a real digit: its μ given its own label → (latent_dim,)."""
    require_conditional(vae)
    return codes(vae, np.asarray(image, np.float32).reshape(1, 28, 28, 1), np.array([int(label)]))[0]


def conditional_quality(vae: VAE, classifier: DigitClassifier, n_per_digit: int = 50,
                        seed: int = 0) -> dict[str, Any]:
    """Prior draws decoded with each label, judged by the classifier (label_agreement: share
    classified as the digit asked for)."""
    require_conditional(vae)
    z = np.random.default_rng(seed).standard_normal((n_per_digit * N_DIGITS, vae.vae_config.latent_dim))
    labels = np.repeat(np.arange(N_DIGITS), n_per_digit)
    return sample_quality(classifier, decode(vae, z.astype(np.float32), labels), labels)


# --- ELBO anatomy ------------------------------------------------------------------------------------

def loss_terms_per_epoch(metadata: dict[str, Any]) -> dict[str, list[float]]:
    """The two terms of the loss per epoch from a saved model's history, nats per example:
    {"reconstruction", "kl"[, "val_reconstruction", "val_kl"]} → equal-length lists ({} if absent)."""
    history = metadata.get("history") or {}
    curves = {}
    for key in ("reconstruction", "kl", "val_reconstruction", "val_kl"):
        values = history.get(key)
        if isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values):
            curves[key] = [float(v) for v in values]
    if "reconstruction" not in curves or "kl" not in curves:
        return {}
    n = len(curves["reconstruction"])
    return {k: v for k, v in curves.items() if len(v) == n}


@dataclass(frozen=True)
class Anatomy:
    """One image's −ELBO taken apart.

    reconstruction: E_q[−log p(x|z)] (Monte-Carlo mean over the samples, nats); kl: KL(q(z|x) ‖ p(z))
    (closed form, nats); kl_per_dim, mu, sigma: (latent_dim,); z_samples: (k, latent_dim) draws
    z = μ + σ·ε; sample_nll: (k,) −log p(x|z) of each draw; samples: (k, 28, 28) their decodings;
    reconstruction_from_mu: (28, 28). For an AE σ is 0, every draw is μ and the KL is 0.
    """

    image: np.ndarray
    label: int | None
    reconstruction: float
    kl: float
    kl_per_dim: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    z_samples: np.ndarray
    sample_nll: np.ndarray
    samples: np.ndarray
    reconstruction_from_mu: np.ndarray
    nll_at_mu: float
    variational: bool = True
    beta: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def neg_elbo(self) -> float:
        return self.reconstruction + self.kl


def elbo_anatomy(vae: VAE, image: np.ndarray, label: int | None = None, *, n_samples: int = 8,
                 seed: int = 0) -> Anatomy:
    """Take one image's −ELBO apart: its own terms, μ and σ per dim, and draws z ~ q(z|x) decoded.

    image: (28, 28[, 1]); label: its digit (needed by conditional models).
    """
    if not 1 <= n_samples <= 256:
        raise ConfigError("Use between 1 and 256 samples of z.")
    x = np.asarray(image, np.float32).reshape(1, *vae.vae_config.input_shape)
    y = None if not vae.vae_config.conditional else np.array([-1 if label is None else int(label)])
    if vae.vae_config.conditional and label is None:
        raise DataError("This conditional model needs the image's digit label.")
    mu, log_var = vae.encode(x, y)
    mu, log_var = mu[0].astype(np.float64), log_var[0].astype(np.float64)
    variational = vae.variational
    sigma = np.exp(0.5 * log_var) if variational else np.zeros_like(mu)
    eps = np.random.default_rng(seed).standard_normal((n_samples, len(mu)))
    z = (mu + sigma * eps).astype(np.float32)
    xs = np.repeat(x, n_samples, axis=0)
    ys = None if y is None else np.repeat(y, n_samples)
    sample_nll = vae.decoder_nll(xs, z, ys)
    kl_per_dim = (0.5 * (mu ** 2 + sigma ** 2 - 1.0 - log_var) if variational else np.zeros_like(mu))
    nll_at_mu = float(vae.decoder_nll(x, mu[None, :].astype(np.float32), y)[0])
    return Anatomy(
        image=x.reshape(28, 28) if x.size == 784 else x[0],
        label=None if label is None else int(label),
        reconstruction=float(sample_nll.mean()),
        kl=float(kl_per_dim.sum()),
        kl_per_dim=kl_per_dim,
        mu=mu,
        sigma=sigma,
        z_samples=z,
        sample_nll=sample_nll,
        samples=decode(vae, z, ys),
        reconstruction_from_mu=decode(vae, mu[None, :].astype(np.float32), y)[0],
        nll_at_mu=nll_at_mu,
        variational=variational,
        beta=float(vae.vae_config.beta),
    )


def anatomy_table(anatomy: Anatomy) -> list[dict[str, Any]]:
    """Per latent dim: μ, σ and that dim's share of the KL (rows for st.dataframe)."""
    return [{"dim": f"z{i}", "μ": round(float(m), 3), "σ": round(float(s), 3), "KL (nats)": round(float(k), 3)}
            for i, (m, s, k) in enumerate(zip(anatomy.mu, anatomy.sigma, anatomy.kl_per_dim))]


# --- β: reconstruction vs KL vs spread ----------------------------------------------------------------

@dataclass(frozen=True)
class BetaRow:
    """One model's place on the β trade-off (nats per test image); mu: (n, latent_dim) for a scatter."""

    name: str
    beta: float
    latent_dim: int
    reconstruction: float
    kl: float
    spread: dict[str, Any]
    mu: np.ndarray
    labels: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.name, "β": self.beta, "latent dim": self.latent_dim,
                "reconstruction (nats)": round(self.reconstruction, 2), "KL (nats)": round(self.kl, 2),
                "−ELBO at β=1 (nats)": round(self.reconstruction + self.kl, 2),
                "spread: mean std of μ": round(self.spread["mean_std"], 3),
                "active dims": self.spread["active_dims"],
                "codes inside N(0, I)'s 95% ball": f"{self.spread['inside_prior']:.0%}"}


def beta_row(name: str, vae: VAE, x: np.ndarray, y: np.ndarray | None = None, *, seed: int = 0) -> BetaRow:
    """Measure a VAE on test images x (n, 28, 28, 1): its two loss terms and how spread its μ are."""
    if not vae.variational:
        raise ConfigError(f"{name} is an autoencoder: β only weighs a VAE's KL term.")
    labels = _labels_for(vae, y)
    terms = vae.per_example_losses(x, labels, seed=seed)
    mu = vae.encode(x, labels)[0]
    return BetaRow(name, float(vae.vae_config.beta), vae.vae_config.latent_dim,
                   float(terms["reconstruction"].mean()), float(terms["kl"].mean()), latent_spread(mu), mu,
                   np.zeros(len(x), np.int64) if y is None else np.asarray(y, np.int64))


def beta_sweep(data: ImageDataset, betas: Iterable[float] = (0.25, 1.0, 4.0), *,
               config: VAEConfig | None = None, train_config: TrainConfig | None = None,
               n_train: int = 10_000, n_test: int = 2000,
               on_model: Callable[[int, int], None] | None = None) -> list[BetaRow]:
    """Train one small VAE per β (same shapes, data, seed, epochs; unsaved) and measure each.

    Defaults are sized for a page button on 2 CPU cores: dense 256-128, latent 2, 3 epochs on up
    to 10,000 images. `on_model(done, total)` reports progress.
    """
    from vae_core.mnist import split_validation_labelled
    from vae_core.training import fit_vae

    config = config or VAEConfig(hidden_units=(256, 128), latent_dim=2)
    train_config = train_config or TrainConfig(epochs=3, batch_size=128, early_stopping_patience=0)
    betas = [float(b) for b in betas]
    if not betas:
        raise ConfigError("Give at least one β.")
    size = min(5000, len(data.x_train) // 10)
    x_train, y_train, _, _ = split_validation_labelled(data, size, train_config.seed)
    x_train, y_train = x_train[:n_train], y_train[:n_train]
    x_test, y_test = data.x_test[:n_test], data.y_test[:n_test]
    rows = []
    for i, beta in enumerate(betas):
        model_config = dataclasses.replace(config, beta=beta, model_type="vae")
        model = fit_vae(x_train, model_config, train_config, y_train=y_train).model
        rows.append(beta_row(f"β = {beta:g}", model, x_test, y_test))
        if on_model:
            on_model(i + 1, len(betas))
    return rows


# --- figures (Plotly; the pages only place them) ---------------------------------------------------

def _prior_circle(fig: go.Figure, radius: float) -> None:
    fig.add_shape(type="circle", x0=-radius, y0=-radius, x1=radius, y1=radius, layer="below",
                  fillcolor="rgba(0,0,0,0.07)", line={"color": "rgba(0,0,0,0.6)", "dash": "dash", "width": 1.5})


def code_scatter(mu: np.ndarray, labels: np.ndarray, title: str, *, rows: np.ndarray | None = None,
                 height: int = 420, legend: bool = True) -> go.Figure:
    """Codes (n, ≥2) coloured by digit (WebGL), with the prior's 95% circle (‖z‖ ≤ 2.45 in 2-D)."""
    import plotly.graph_objects as go

    from vae_core.figures import CLASS_COLOURS  # the Latent page's digit colours

    fig = go.Figure()
    for digit in range(N_DIGITS):
        mask = labels == digit
        if not mask.any():
            continue
        fig.add_trace(go.Scattergl(
            x=mu[mask, 0], y=mu[mask, 1] if mu.shape[1] > 1 else np.zeros(mask.sum()), mode="markers",
            name=str(digit), marker={"size": 4, "color": CLASS_COLOURS[digit], "opacity": 0.7},
            customdata=None if rows is None else rows[mask],
            hovertemplate=f"digit {digit}<br>z0 %{{x:.2f}}, z1 %{{y:.2f}}<extra></extra>"))
    _prior_circle(fig, float(np.sqrt(5.991)))  # χ²₂ 95% quantile
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"itemsizing": "constant"}, showlegend=legend, dragmode="pan")
    fig.update_xaxes(title="z0")
    fig.update_yaxes(title="z1", scaleanchor="x", scaleratio=1)
    return fig


def terms_chart(curves: dict[str, list[float]], beta: float = 1.0) -> go.Figure:
    """Reconstruction and KL per epoch as stacked areas (training), validation dashed on top."""
    import plotly.graph_objects as go

    epochs = list(range(1, len(curves["reconstruction"]) + 1))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=epochs, y=curves["kl"], name="KL (train)", stackgroup="train",
                             line={"color": "#e45756"}))
    fig.add_trace(go.Scatter(x=epochs, y=curves["reconstruction"], name="reconstruction (train)",
                             stackgroup="train", line={"color": "#4c78a8"}))
    if "val_reconstruction" in curves and "val_kl" in curves:
        total = [r + k for r, k in zip(curves["val_reconstruction"], curves["val_kl"])]
        fig.add_trace(go.Scatter(x=epochs, y=total, name="−ELBO (validation)", mode="lines+markers",
                                 line={"color": "black", "dash": "dash"}))
    title = "The two terms of −ELBO per epoch (nats per image; stacked)"
    if beta != 1.0:
        title += f" · trained with β = {beta:g}"
    fig.update_layout(title=title, height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      hovermode="x unified")
    fig.update_xaxes(title="epoch", dtick=1 if len(epochs) <= 20 else None)
    fig.update_yaxes(title="nats", rangemode="tozero")
    return fig


def posterior_chart(anatomy: Anatomy, max_dims: int = 32) -> go.Figure:
    """μ ± σ per latent dim (bars with error bars) against the prior's 0 ± 1, and each draw of z."""
    import plotly.graph_objects as go

    k = min(len(anatomy.mu), max_dims)
    names = [f"z{i}" for i in range(k)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=names, y=[0] * k, mode="markers", name="prior N(0, 1)",
                             error_y={"type": "constant", "value": 1.0, "color": "#bbbbbb", "thickness": 6, "width": 0},
                             marker={"color": "#bbbbbb", "size": 6}))
    fig.add_trace(go.Scatter(x=names, y=anatomy.mu[:k], mode="markers", name="q(z|x): μ ± σ",
                             error_y={"type": "data", "array": anatomy.sigma[:k], "color": "#4c78a8", "thickness": 2},
                             marker={"color": "#4c78a8", "size": 10}))
    for s, z in enumerate(anatomy.z_samples):
        fig.add_trace(go.Scatter(x=names, y=z[:k], mode="markers", name="draws of z" if s == 0 else None,
                                 showlegend=s == 0, legendgroup="draws",
                                 marker={"color": "#f58518", "size": 6, "symbol": "x"}))
    fig.update_layout(title="Posterior per latent dim", height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_yaxes(title="value")
    return fig


def beta_chart(rows: list[BetaRow]) -> go.Figure:
    """Reconstruction vs KL, one point per model labelled by β (marker size ∝ spread of μ)."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(
        x=[r.kl for r in rows], y=[r.reconstruction for r in rows], mode="markers+text",
        text=[f"β={r.beta:g}" for r in rows], textposition="top center",
        marker={"size": [10 + 20 * min(1.5, r.spread["mean_std"]) for r in rows], "color": "#4c78a8", "opacity": 0.8},
        customdata=[[r.name, r.spread["mean_std"]] for r in rows],
        hovertemplate="%{customdata[0]}<br>KL %{x:.2f} nats<br>reconstruction %{y:.2f} nats"
                      "<br>mean std of μ %{customdata[1]:.2f}<extra></extra>"))
    fig.update_layout(title="Reconstruction vs KL, by β (size: spread of μ)", height=360,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(title="KL (nats per image)")
    fig.update_yaxes(title="reconstruction (nats per image)")
    return fig
