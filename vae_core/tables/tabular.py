"""Tabular fraud data: validated CSV reading, the ULB credit-card schema, synthetic rows, splits.

Every bad input raises `DataError` with a message saying what was wrong and what to do.
Features come out as float64 with no NaN or inf, within float32's range (the models compute in
float32); labels as (n,) int8 with 1 = positive (fraud). Data-row numbers in messages count from 1 at
the first row after the header.
"""

from __future__ import annotations

import base64
import csv
import http.client
import io
import os
import socket
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import pandas as pd

from vae_core.errors import DataError

CREDITCARD_FEATURES: tuple[str, ...] = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount")
CREDITCARD_LABEL = "Class"
AMOUNT_COLUMN = "Amount"  # raw euros; the cost model charges a missed fraud its amount
TIME_COLUMN = "Time"  # the credit-card schema's seconds since the first transaction
OPENML_CREDITCARD_ID = 1597
SYNTHETIC_SOURCE = "synthetic (generated, not real transactions)"

_SNIFF_BYTES = 64 * 1024
# The ULB data has 31 columns; a header far wider than any transactions table is refused before
# pandas builds a frame from it.
MAX_COLUMNS = 2048
# Leading bytes of files people upload by mistake: what the file is, and what to do instead.
_MAGIC = {
    b"\x1f\x8b": "gzip-compressed. Decompress it first (e.g. `gunzip creditcard.csv.gz`) and load the .csv",
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one). Unzip it, or in Excel use "
                   "Save As → CSV UTF-8",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook. In Excel use Save As → CSV UTF-8",
    b"%PDF": "a PDF document. Export the table as CSV instead",
}
FLOAT32_MAX = float(np.finfo(np.float32).max)  # ≈ 3.4e38: larger values overflow in the models
_LISTED = 12  # bad cells named one by one in a message; the rest are counted


class _Origin(NamedTuple):
    """Where rows come from: `source` for TabularDataset, `subject` to name it inside messages."""

    source: str
    subject: str


def _origin(source: str | os.PathLike | BinaryIO, name: str | None) -> _Origin:
    if isinstance(source, (str, os.PathLike)):
        shown = name or os.fspath(source)
        return _Origin(f"file: {shown}", f"the file '{shown}'")
    shown = name or getattr(source, "name", None) or "unnamed upload"
    return _Origin(f"upload: {shown}", f"the uploaded file '{shown}'")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True, eq=False)
class TabularDataset:
    """Validated rows: `features` (n, d) float64, `labels` (n,) int8 or None, `amount` (n,) float64 or None.

    `source` tells people where the rows came from; `synthetic` is True for generated rows, which
    must never be presented as real transactions. `amount` is the raw Amount column (euros) when
    the data has one, whether or not it is a feature. `label_column` and `positive` say how the
    labels were read (which column, which value marks a positive), so a model can record them.
    `split` (n,) str says which split of a model's data each row belongs to ("validation", "test"),
    for the held-out rows shipped with a model; None otherwise.
    """

    features: pd.DataFrame
    labels: np.ndarray | None
    feature_names: tuple[str, ...]
    source: str
    synthetic: bool = False
    amount: np.ndarray | None = None
    label_column: str = CREDITCARD_LABEL
    positive: str = "1"
    split: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.features)

    @property
    def prevalence(self) -> float | None:
        """Fraction of positive rows, or None when unlabelled."""
        return None if self.labels is None else float(self.labels.mean())

    def to_frame(self, label_column: str = CREDITCARD_LABEL) -> pd.DataFrame:
        """Features, plus `Amount` when it is not a feature and `label_column` when labelled."""
        frame = self.features.copy()
        if self.amount is not None and AMOUNT_COLUMN not in frame.columns:
            frame[AMOUNT_COLUMN] = self.amount
        if self.labels is not None:
            frame[label_column] = self.labels
        return frame


# --- reading and validation -------------------------------------------------------------------

@contextmanager
def _open_csv(source: str | os.PathLike | BinaryIO, origin: _Origin) -> Iterator[tuple[BinaryIO, list[str]]]:
    """Yield a binary stream at offset 0 and the header's column names, after the cheap checks."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.exists():
            raise DataError(f"There is no file at {path}. Check the path, or upload the CSV instead.")
        if path.is_dir():
            raise DataError(f"{path} is a folder, not a CSV file. Give the path of the .csv file inside it.")
        try:
            stream: BinaryIO = path.open("rb")
        except OSError as exc:
            raise DataError(f"{_capital(origin.subject)} cannot be read ({exc.strerror}). "
                            "Check its permissions.") from exc
    else:
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read()
        stream = io.BytesIO(data.encode("utf-8") if isinstance(data, str) else data)
    with stream:
        header = _check_head(stream, origin)
        stream.seek(0)
        yield stream, header


def _check_head(stream: BinaryIO, origin: _Origin) -> list[str]:
    """Reject empty, binary, non-UTF-8 or header-less files; return the header's names."""
    subject = _capital(origin.subject)
    head = stream.read(_SNIFF_BYTES)
    if not head:
        raise DataError(f"{subject} is empty (0 bytes). Export the data again with a header row "
                        "and at least one data row.")
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise DataError(f"{subject} is {what}.")
    if b"\x00" in head:
        raise DataError(f"{subject} holds binary data (NUL bytes), so it is not a CSV text file "
                        "(UTF-16 text looks like this too). Export the table as CSV UTF-8.")
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")  # newline="": csv splits rows
    try:
        rows = csv.reader(text)
        header, first_row = next(rows, []), next(rows, [])
    except UnicodeDecodeError as exc:
        raise _not_utf8(origin, exc) from exc
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataError(f"{subject} has a value over {csv.field_size_limit() // 1024} KiB long in its first "
                            "rows (a giant header cell, or a quote that is never closed), so it is not a table "
                            "of transactions. Check that it is the right file.") from exc
        raise _unparsable(origin, exc) from exc
    finally:
        text.detach()  # leave the binary stream open for pandas
    if not any(name.strip() for name in header):
        raise DataError(f"The first line of {origin.subject} is blank; it must be the header row "
                        "with the column names.")
    if len(header) > MAX_COLUMNS:
        raise DataError(f"The header row of {origin.subject} names {len(header):,} columns; a transactions "
                        f"table has at most {MAX_COLUMNS:,}. Check that it is the right file.")
    if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
        raise DataError(f"{subject} has a single column named {header[0][:60]!r}: its separator is "
                        "not a comma. Save it as a comma-separated CSV.")
    numeric = [name for name in header if _is_number(name)]
    if len(numeric) * 2 > len(header):
        raise DataError(f"{subject} seems to have no header row: its first line holds values "
                        f"({', '.join(map(repr, header[:6]))}{', …' if len(header) > 6 else ''}), not column "
                        "names, so the expected columns (e.g. the label column 'Class') are missing. Add a "
                        "first line that names the columns.")
    duplicated = [f"{_short(name)!r} ({count}×)" for name, count in Counter(header).items() if count > 1]
    if duplicated:
        shown = ", ".join(duplicated[:10]) + (f" and {len(duplicated) - 10} more" if len(duplicated) > 10 else "")
        raise DataError(f"{subject} has duplicated column names: {shown}. It repeats the column names, "
                        "so a reader would silently rename the copies: rename or remove them so that each "
                        "column has its own name.")
    if len(first_row) > len(header):
        raise DataError(f"Data row 1 of {origin.subject} has {len(first_row)} values but the header "
                        f"names {len(header)} columns. Give every column a name in the header.")
    return header


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(name: str, limit: int = 60) -> str:
    """A column name cut to `limit` characters for messages (a hostile header can hold huge names)."""
    return name if len(name) <= limit else name[:limit] + "…"


def csv_header(source: str | os.PathLike | BinaryIO, *, name: str | None = None) -> list[str]:
    """The header's column names after the cheap checks (exists, a file, not empty, not binary or
    compressed, UTF-8, a comma-separated header); reads only the start of the file."""
    origin = _origin(source, name)
    with _open_csv(source, origin) as (_, header):
        return header


def _not_utf8(origin: _Origin, exc: UnicodeDecodeError) -> DataError:
    byte = exc.object[exc.start:exc.start + 1].hex().upper()
    return DataError(f"{_capital(origin.subject)} is not UTF-8 text (byte 0x{byte} cannot be decoded). "
                     "Save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8) and load it again.")


@contextmanager
def _csv_errors(origin: _Origin) -> Iterator[None]:
    """Turn pandas' parsing errors, which may surface chunk by chunk, into DataError."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise _not_utf8(origin, exc) from exc
    except pd.errors.ParserError as exc:
        raise _unparsable(origin, exc) from exc


def _unparsable(origin: _Origin, exc: Exception) -> DataError:
    return DataError(f"{_capital(origin.subject)} could not be parsed as CSV ({str(exc).strip()}). Check "
                     "that every row has as many comma-separated values as the header.")


def _require_columns(present: Sequence[str], required: Sequence[str], origin: _Origin) -> None:
    missing = [name for name in required if name not in present]
    if missing:
        shown = ", ".join(_short(str(name)) for name in present[:40]) + (" …" if len(present) > 40 else "")
        raise DataError(f"{_capital(origin.subject)} is missing the column(s) "
                        f"{', '.join(map(repr, missing))}. Its columns are: {shown}.")


def _finite_frame(frame: pd.DataFrame, columns: Sequence[str], origin: _Origin,
                  first_row: int = 1) -> pd.DataFrame:
    """`frame[columns]` as float64, (n_rows, len(columns)); DataError names every bad column and row.

    Every value must be a number within float32's range: empty columns, missing values and numbers
    that overflow (1e999 parses as infinite; 1e39 is finite but infinite in float32) are refused.
    `first_row` is the data-row number of the frame's first row (later for chunks of a file).
    """
    values = {name: _numeric_column(frame[name], origin, first_row) for name in columns}
    empty = [name for name, column in values.items() if np.isnan(column).all()]
    if empty:
        one = len(empty) == 1
        raise DataError(f"{'Column' if one else 'Columns'} {', '.join(repr(_short(n)) for n in empty)} in "
                        f"{origin.subject} {'has' if one else 'have'} no values: data rows {first_row}–"
                        f"{first_row + len(frame) - 1} are all empty. Fill {'it' if one else 'them'} in, or "
                        f"leave {'it' if one else 'them'} out.")
    missing = [(row, name) for name, column in values.items() for row in np.flatnonzero(np.isnan(column))]
    overflow = [(row, name) for name, column in values.items()
                for row in np.flatnonzero(np.abs(column) > FLOAT32_MAX)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (empty or NaN) value(s): {_cells(missing, first_row)}")
    if overflow:
        problems.append(f"{len(overflow)} value(s) that overflow (beyond ±{FLOAT32_MAX:.2g}, the largest number "
                        "the models compute with): "
                        + _cells(overflow, first_row, lambda row, name: _overflowed(values[name][row])))
    if problems:
        raise DataError(f"{_capital(origin.subject)} has {'; and '.join(problems)}. Correct or fill in those "
                        "values, or remove those rows.")
    return pd.DataFrame(values, index=frame.index)


def _overflowed(value: float) -> str:
    return ("infinite" if value > 0 else "minus infinite") if np.isinf(value) else f"{value:.3g}"


def _cells(cells: list[tuple[int, str]], first_row: int, note=None) -> str:
    """'data row 2 in column 'V3' (infinite), …' in row order, the first _LISTED of them."""
    cells = sorted(cells, key=lambda cell: cell[0])
    shown = [f"data row {first_row + int(row)} in column {_short(name)!r}"
             + (f" ({note(row, name)})" if note else "") for row, name in cells[:_LISTED]]
    more = f" and {len(cells) - _LISTED} more" if len(cells) > _LISTED else ""
    return ", ".join(shown) + more


def _numeric_column(column: pd.Series, origin: _Origin, first_row: int) -> np.ndarray:
    """(n,) float64 of a column that must hold numbers (missing values become NaN)."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_object_dtype(column):
        # pandas reads True/False as booleans, which would pass for 1/0: they are flags, not numbers
        column = column.map(lambda value: str(value) if isinstance(value, (bool, np.bool_)) else value)
    if not pd.api.types.is_numeric_dtype(column):
        numbers = pd.to_numeric(column, errors="coerce")
        text = (numbers.isna() & column.notna()).to_numpy()
        if text.any():
            row = int(text.argmax())
            raise DataError(f"Column {column.name!r} in {origin.subject} should hold numbers, but data row "
                            f"{first_row + row} has {column.iloc[row]!r}. Correct or remove that value and load "
                            "the data again.")
        column = numbers
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def label_key(value: Any) -> str:
    """Canonical text of a label value, so that 1, 1.0, "1" and " 1 " all match."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _binary_labels(column: pd.Series, positive_label: str | int, origin: _Origin, first_row: int = 1,
                   earlier: frozenset[str] = frozenset(), whole_file: bool = True) -> np.ndarray:
    """(n,) int8, 1 where `column` equals `positive_label`; the column must hold at most two values
    (with the `earlier` chunks' values, for a chunk of a file starting at data row `first_row`)."""
    where = f"Label column {column.name!r} in {origin.subject}"
    missing = column.isna().to_numpy()
    if missing.any():
        raise DataError(f"{where} has {missing.sum()} empty value(s), the first on data row "
                        f"{first_row + int(missing.argmax())}. Every row needs a label: fill them in or remove "
                        "those rows.")
    keys = {value: label_key(value) for value in column.unique()}
    found = sorted(set(keys.values()) | earlier)
    positive = label_key(positive_label)
    if len(found) > 2:
        shown = ", ".join(map(repr, found[:10])) + (" …" if len(found) > 10 else "")
        raise DataError(f"{where} should hold two values, {positive!r} for positive (fraud) rows and "
                        f"one value for normal rows, but it holds {len(found)} distinct values: {shown}. "
                        "Choose the right label column, or recode the column to two values (positive "
                        "and normal) before loading it.")
    if len(found) == 2 and positive not in found:
        raise DataError(f"{where} should hold two values, {positive!r} for positive (fraud) rows and "
                        f"one value for normal rows, but it holds {found[0]!r}, {found[1]!r}. Choose the "
                        "right label column, or set the positive label to the value that marks fraud.")
    if found == [positive] and whole_file:
        raise DataError(f"Every row in {origin.subject} is labelled positive ({column.name} = "
                        f"{positive!r}), so there are no normal rows to learn from. Include normal "
                        "rows, or check which value marks fraud.")
    return column.isin([value for value, key in keys.items() if key == positive]).to_numpy().astype(np.int8)


def _is_text(column: pd.Series) -> bool:
    """True for a column none of whose values is a number (an ID, a category or True/False flags)."""
    if pd.api.types.is_bool_dtype(column):
        return True
    return (not pd.api.types.is_numeric_dtype(column) and column.notna().any()
            and pd.to_numeric(column, errors="coerce").isna().all())


def _dataset_from_frame(frame: pd.DataFrame, origin: _Origin, *, label_column: str | None,
                        positive_label: str | int, feature_columns: Sequence[str] | None,
                        require_label: bool, split_column: str | None = None, first_row: int = 1,
                        earlier_labels: frozenset[str] = frozenset(), whole_file: bool = True) -> TabularDataset:
    """Validate a parsed table and split it into features, labels, amounts and (when `split_column`
    names one) each row's split. For a chunk of a file: its first data row's number, the label
    values of the chunks before it, and `whole_file=False`."""
    if frame.empty:
        raise DataError(f"{_capital(origin.subject)} has a header but no data rows. Export it again "
                        "with the data.")
    split = None
    if split_column is not None:
        _require_columns(list(frame.columns), [split_column], origin)
        split = frame.pop(split_column).astype(str).str.strip().to_numpy()
    columns = list(frame.columns)
    has_label = label_column is not None and label_column in columns
    _require_columns(columns, [*(feature_columns or ()),
                               *([label_column] if require_label and label_column is not None else [])], origin)
    if feature_columns is None:
        names = [name for name in columns if name != label_column and not _is_text(frame[name])]
        unnamed = [name for name in names if name.startswith("Unnamed: ")]
        if unnamed:
            position = columns.index(unnamed[0]) + 1
            raise DataError(f"Column {position} of {origin.subject} has no name in its header (a row "
                            "index saved by pandas' to_csv() looks like this). Name it, remove it, "
                            "or list the feature columns to use.")
    else:
        names = list(feature_columns)
        if label_column in names:
            raise DataError(f"The feature columns include the label column {label_column!r}; a model "
                            "must not see the answer. Leave it out of the feature columns.")
    if not names:
        raise DataError(f"{_capital(origin.subject)} has no numeric feature columns. Check that it is "
                        "the right file and that its separator is a comma.")
    features = _finite_frame(frame, names, origin, first_row).reset_index(drop=True)
    labels = (_binary_labels(frame[label_column], positive_label, origin, first_row, earlier_labels, whole_file)
              if has_label else None)
    amount = None
    if AMOUNT_COLUMN in columns:
        amounts = features if AMOUNT_COLUMN in names else _finite_frame(frame, [AMOUNT_COLUMN], origin, first_row)
        amount = amounts[AMOUNT_COLUMN].to_numpy()
        if (amount < 0).any():
            raise DataError(f"Column {AMOUNT_COLUMN!r} in {origin.subject} has negative amounts, the "
                            f"first on data row {first_row + int((amount < 0).argmax())}. Amounts must be ≥ 0.")
    return TabularDataset(features, labels, tuple(names), origin.source, synthetic=False, amount=amount,
                          label_column=label_column or CREDITCARD_LABEL, positive=label_key(positive_label),
                          split=split)


def read_labelled_csv(source: str | os.PathLike | BinaryIO, *, label_column: str | None = CREDITCARD_LABEL,
                      positive_label: str | int = 1, feature_columns: Sequence[str] | None = None,
                      require_label: bool = True, name: str | None = None,
                      split_column: str | None = None) -> TabularDataset:
    """Read and validate a CSV from a path or a binary file object (e.g. a Streamlit upload).

    Features are `feature_columns`, or else every column except the label that holds numbers
    (columns with no numeric value at all, like IDs, are left out). The label column must hold
    `positive_label` (str or int; 1, "1" and 1.0 match) for positives and one other value for
    normal rows. Without the label column, `require_label=False` gives `labels=None`.
    `name` replaces the file name shown in messages and `source`. `split_column` names a column
    that says which split each row is in (kept as `split`, never a feature).
    """
    origin = _origin(source, name)
    with _open_csv(source, origin) as (stream, _), _csv_errors(origin):
        frame = pd.read_csv(stream, encoding="utf-8", low_memory=False)
    return _dataset_from_frame(frame, origin, label_column=label_column, positive_label=positive_label,
                               feature_columns=feature_columns, require_label=require_label,
                               split_column=split_column)


def read_creditcard(path_or_file: str | os.PathLike | BinaryIO, *, name: str | None = None) -> TabularDataset:
    """Read the ULB credit-card CSV: features Time, V1..V28, Amount (30); labels from Class (1 = fraud)."""
    return read_labelled_csv(path_or_file, label_column=CREDITCARD_LABEL, positive_label=1,
                             feature_columns=CREDITCARD_FEATURES, name=name)


def iter_csv_chunks(source: str | os.PathLike | BinaryIO, chunksize: int,
                    usecols: Sequence[str] | None = None, *, name: str | None = None) -> Iterator[pd.DataFrame]:
    """Stream a large CSV as validated float64 frames of up to `chunksize` rows, (rows, n_columns).

    Every selected column (`usecols`, in that order; all by default) must hold finite numbers;
    messages give the data-row number within the whole file.
    """
    if chunksize < 1:
        raise DataError(f"chunksize must be a positive number of rows, not {chunksize}.")
    origin = _origin(source, name)
    with _open_csv(source, origin) as (stream, header), _csv_errors(origin):
        if usecols is not None:
            if not usecols:
                raise DataError("usecols is empty: list the columns to read, or pass None for all of them.")
            _require_columns(header, usecols, origin)
        first_row = 1
        for chunk in pd.read_csv(stream, chunksize=chunksize, usecols=usecols, encoding="utf-8"):
            if chunk.empty:
                continue
            yield _finite_frame(chunk, list(usecols or chunk.columns), origin, first_row)
            first_row += len(chunk)
    if first_row == 1:
        raise DataError(f"{_capital(origin.subject)} has a header but no data rows. Export it again "
                        "with the data.")


def iter_labelled_chunks(source: str | os.PathLike | BinaryIO, chunksize: int, *, label_column: str,
                         positive_label: str | int, feature_columns: Sequence[str],
                         name: str | None = None) -> Iterator[TabularDataset]:
    """`read_labelled_csv(require_label=False)` in chunks of up to `chunksize` rows, for a file larger
    than memory: the same checks, with data-row numbers of the whole file; labels are None throughout
    when the file has no `label_column`."""
    if chunksize < 1:
        raise DataError(f"chunksize must be a positive number of rows, not {chunksize}.")
    origin = _origin(source, name)
    seen: frozenset[str] = frozenset()
    first_row = 1
    with _open_csv(source, origin) as (stream, header), _csv_errors(origin):
        _require_columns(header, feature_columns, origin)
        for frame in pd.read_csv(stream, chunksize=chunksize, encoding="utf-8", low_memory=False):
            if frame.empty:
                continue
            chunk = _dataset_from_frame(frame, origin, label_column=label_column, positive_label=positive_label,
                                        feature_columns=feature_columns, require_label=False, first_row=first_row,
                                        earlier_labels=seen, whole_file=False)
            if label_column in frame.columns:
                seen |= {label_key(value) for value in frame[label_column].unique()}
            first_row += len(frame)
            yield chunk
    if first_row == 1:
        raise DataError(f"{_capital(origin.subject)} has a header but no data rows. Export it again with the data.")
    if seen == {label_key(positive_label)}:
        raise DataError(f"Every row in {origin.subject} is labelled positive ({label_column} = "
                        f"{label_key(positive_label)!r}): there are no normal rows. Check which value marks fraud.")


def fetch_openml_creditcard(cache_dir: str | None = None, timeout: float = 10.0) -> TabularDataset:
    """The full ULB data (284,807 rows, 492 frauds) from OpenML data id 1597, cached in `cache_dir`.

    `timeout` bounds each network wait in seconds (set process-wide while downloading, since
    scikit-learn's fetcher takes none). Offline, raises DataError saying how to load a CSV instead.
    """
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        from sklearn.datasets import fetch_openml

        bunch = fetch_openml(data_id=OPENML_CREDITCARD_ID, as_frame=True, data_home=cache_dir, n_retries=1)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise DataError(f"Could not download the credit-card data from OpenML (data id "
                        f"{OPENML_CREDITCARD_ID}): {exc}. This machine seems to be offline. Get "
                        "creditcard.csv on a connected machine (https://www.openml.org/d/1597, or "
                        "Kaggle's mlg-ulb/creditcardfraud), then upload it or give its path.") from exc
    finally:
        socket.setdefaulttimeout(previous)
    origin = _Origin(f"OpenML {OPENML_CREDITCARD_ID} (creditcard)",
                     f"the OpenML credit-card data (id {OPENML_CREDITCARD_ID})")
    return _dataset_from_frame(bunch.frame, origin, label_column=CREDITCARD_LABEL, positive_label=1,
                               feature_columns=CREDITCARD_FEATURES, require_label=True)


# --- synthetic data -----------------------------------------------------------------------------

def make_synthetic_creditcard(n_rows: int = 20000, fraud_fraction: float = 0.01, seed: int = 0) -> TabularDataset:
    """Generated rows in the ULB schema (features Time, V1..V28, Amount; labels as Class), sorted by Time.

    Drawn from the generator fitted per class to the real ULB subset (`vae_core.tables.synthetic`): the
    shipped fraud model flags as many of its normals as of real held-out normals, and ranks its
    frauds about as well. Exactly round(n_rows * fraud_fraction) rows are frauds; Amount ≥ 0 (cents),
    Time in whole seconds within the subset's two days.
    """
    from vae_core.tables.synthetic import shipped_generator

    if n_rows < 2:
        raise DataError(f"n_rows must be at least 2, not {n_rows}.")
    if not 0 <= fraud_fraction < 1:
        raise DataError(f"fraud_fraction must be in [0, 1), not {fraud_fraction}.")
    n_fraud = round(n_rows * fraud_fraction)
    values = shipped_generator().sample(n_rows - n_fraud, n_fraud, np.random.default_rng(seed))
    labels = (np.arange(n_rows) >= n_rows - n_fraud).astype(np.int8)
    order = np.argsort(values[:, 0], kind="stable")
    features = pd.DataFrame(values[order], columns=list(CREDITCARD_FEATURES))
    return TabularDataset(features, labels[order], CREDITCARD_FEATURES, SYNTHETIC_SOURCE,
                          synthetic=True, amount=features[AMOUNT_COLUMN].to_numpy(copy=True))


# --- splits -------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Split:
    """Sorted int64 row indices into one dataset: train (fit on its normal rows), val (choose the
    threshold), test (held out for the final report). Fractions are of all rows."""

    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    seed: int
    test_fraction: float
    val_fraction: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: the seed, the fractions, and "rows": each row's part (0 train, 1 validation,
        2 test; one byte per row), zlib-compressed and base64-encoded (about a third of a byte per row)."""
        parts = np.zeros(self.train_idx.size + self.val_idx.size + self.test_idx.size, np.uint8)
        parts[self.val_idx], parts[self.test_idx] = 1, 2
        return {"seed": self.seed, "test_fraction": self.test_fraction, "val_fraction": self.val_fraction,
                "rows": base64.b64encode(zlib.compress(parts.tobytes(), 9)).decode("ascii")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        try:
            encoded, seed = data["rows"], int(data["seed"])
            fractions = {"test_fraction": float(data["test_fraction"]), "val_fraction": float(data["val_fraction"])}
        except KeyError as exc:
            raise DataError(f"The saved split has no {exc.args[0]!r} entry; the file is incomplete. "
                            "Split the data again.") from exc
        try:
            parts = np.frombuffer(zlib.decompress(base64.b64decode(encoded, validate=True)), np.uint8)
        except (ValueError, TypeError, zlib.error) as exc:
            raise DataError(f"The saved split's rows cannot be read ({exc}); the file is damaged. "
                            "Split the data again.") from exc
        return cls(*(np.flatnonzero(parts == part).astype(np.int64) for part in range(3)), seed=seed, **fractions)

    def __len__(self) -> int:
        return self.train_idx.size + self.val_idx.size + self.test_idx.size


def stratified_split(labels: np.ndarray, *, test_fraction: float = 0.3, val_fraction: float = 0.15,
                     seed: int = 0) -> Split:
    """Stratified train/val/test indices for `labels` (n,) 0/1; the defaults give 55/15/30 %.

    Every non-empty split keeps both classes; `val_fraction=0` gives an empty val split.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise DataError("Labels for a split must be a 1-D array of 0 (normal) and 1 (positive).")
    if not (0 < test_fraction < 1 and 0 <= val_fraction < 1 and test_fraction + val_fraction < 1):
        raise DataError(f"test_fraction={test_fraction} and val_fraction={val_fraction} must leave rows "
                        "to train on: 0 < test, 0 ≤ val, and test + val < 1.")
    y = y.astype(np.int64)
    counts = np.bincount(y, minlength=2)
    if counts.min() == 0:
        raise DataError(f"A stratified split needs both normal and positive rows, but all {len(y)} rows "
                        f"are {'normal' if counts[1] == 0 else 'positive'}.")
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y), dtype=np.int64)
    try:
        rest, test = train_test_split(rows, test_size=test_fraction, stratify=y, random_state=seed)
        train, val = (train_test_split(rest, test_size=val_fraction / (1 - test_fraction),
                                       stratify=y[rest], random_state=seed)
                      if val_fraction else (rest, rows[:0]))
    except ValueError as exc:
        raise DataError(f"Cannot split {len(y)} rows ({counts[1]} positive, {counts[0]} normal) with test_fraction="
                        f"{test_fraction} and val_fraction={val_fraction}: {exc}. Use more rows.") from exc
    for part, idx in (("train", train), ("validation", val), ("test", test)):
        held = np.bincount(y[idx], minlength=2)
        if idx.size and held.min() == 0:
            lacking = "positive" if held[1] == 0 else "normal"
            raise DataError(f"The {part} split would have no {lacking} rows: it would hold {idx.size:,} rows "
                            f"({held[0]:,} normal, {held[1]:,} positive), from a table of {len(y):,} rows "
                            f"({counts[1]:,} positive, {counts[0]:,} normal; test_fraction={test_fraction}, "
                            f"val_fraction={val_fraction}). Every split needs both classes: add {lacking} rows, "
                            "or use larger fractions.")
    return Split(np.sort(train), np.sort(val), np.sort(test), seed=seed,
                 test_fraction=test_fraction, val_fraction=val_fraction)


def normal_rows(split_idx: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The entries of `split_idx` whose label is 0 (normal): the rows a detector trains on."""
    idx = np.asarray(split_idx, dtype=np.int64)
    return idx[np.asarray(labels)[idx] == 0]
