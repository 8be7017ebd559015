"""Tabular data: every validation case, synthetic data, splits, chunked reading, the real subset."""

import gzip
import io
import json
import socket
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sklearn.datasets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_path
from vae_core.tables import tabular
from vae_core.errors import DataError
from vae_core.tables.tabular import (CREDITCARD_FEATURES, Split, TabularDataset, iter_csv_chunks,
                              make_synthetic_creditcard, normal_rows, read_creditcard, read_labelled_csv,
                              stratified_split)

GOOD = "a,b,Amount,Class\n1.0,2.0,10.5,0\n3.0,4.0,0.0,1\n5.0,6.0,7.25,0\n"


def write(tmp_path: Path, content: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def read_text(content: str | bytes, **kwargs) -> TabularDataset:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return read_labelled_csv(io.BytesIO(data), name="t.csv", **kwargs)


def creditcard_csv(n_rows: int = 6, drop: tuple[str, ...] = ()) -> str:
    frame = make_synthetic_creditcard(n_rows, fraud_fraction=0.5, seed=1).to_frame()
    return frame.drop(columns=list(drop)).to_csv(index=False)


# --- a good file ----------------------------------------------------------------------------------

def test_reads_a_good_file(tmp_path):
    data = read_labelled_csv(write(tmp_path, GOOD))
    assert data.feature_names == ("a", "b", "Amount")
    assert list(data.features.columns) == ["a", "b", "Amount"]
    assert (data.features.dtypes == np.float64).all()
    assert data.labels.dtype == np.int8 and data.labels.tolist() == [0, 1, 0]
    assert data.amount.tolist() == [10.5, 0.0, 7.25]
    assert data.prevalence == pytest.approx(1 / 3)
    assert data.source == f"file: {tmp_path / 'data.csv'}"
    assert not data.synthetic and len(data) == 3


def test_upload_is_read_from_the_start_every_time():
    upload = io.BytesIO(GOOD.encode())
    upload.name = "mine.csv"
    first = read_labelled_csv(upload)
    second = read_labelled_csv(upload)  # Streamlit reruns hand over the same, already-read buffer
    assert first.source == "upload: mine.csv"
    pd.testing.assert_frame_equal(first.features, second.features)


def test_byte_order_mark_is_ignored():
    assert read_text("\ufeff" + GOOD).feature_names == ("a", "b", "Amount")


def test_to_frame_round_trips(tmp_path):
    data = read_labelled_csv(write(tmp_path, GOOD), feature_columns=["a", "b"])
    frame = data.to_frame()
    assert list(frame.columns) == ["a", "b", "Amount", "Class"]
    again = read_labelled_csv(io.BytesIO(frame.to_csv(index=False).encode()), feature_columns=["a", "b"])
    pd.testing.assert_frame_equal(again.features, data.features)
    np.testing.assert_array_equal(again.amount, data.amount)


def test_text_columns_are_left_out_of_automatic_features():
    data = read_text("id,a,Class\ntx-1,1,0\ntx-2,2,1\n")
    assert data.feature_names == ("a",)


def test_explicit_feature_columns_keep_their_order():
    assert read_text(GOOD, feature_columns=["b", "a"]).feature_names == ("b", "a")


@pytest.mark.parametrize("column, positive", [
    ("1\n0\n1", 1), ("1\n0\n1", "1"), ("1.0\n0.0\n1.0", 1), ("1.0\n0.0\n1.0", "1"),
    (" 1\n0 \n1", 1), ("fraud\nok\nfraud", "fraud"), ("-1\n1\n-1", -1),
])
def test_positive_label_matches_across_types(column, positive):
    rows = "\n".join(f"{i},{label}" for i, label in enumerate(column.split("\n")))
    data = read_text(f"x,Class\n{rows}\n", positive_label=positive)
    assert data.labels.tolist() == [1, 0, 1]


def test_only_normal_rows_are_allowed():
    assert read_text("x,Class\n1,0\n2,0\n").labels.tolist() == [0, 0]


def test_label_column_may_be_absent_when_not_required():
    data = read_text("a,b\n1,2\n3,4\n", require_label=False)
    assert data.labels is None and data.prevalence is None and data.amount is None
    assert data.feature_names == ("a", "b")


def test_amount_is_kept_when_it_is_not_a_feature():
    data = read_text(GOOD, feature_columns=["a"])
    assert data.feature_names == ("a",) and data.amount.tolist() == [10.5, 0.0, 7.25]


# --- one test per validation case --------------------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="There is no file at .*nope.csv"):
        read_labelled_csv(tmp_path / "nope.csv")


def test_path_is_a_directory(tmp_path):
    with pytest.raises(DataError, match="is a folder, not a CSV file"):
        read_labelled_csv(tmp_path)


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"is empty \(0 bytes\)"):
        read_labelled_csv(write(tmp_path, b""))


def test_empty_upload():
    with pytest.raises(DataError, match=r"uploaded file 't.csv' is empty \(0 bytes\)"):
        read_text(b"")


def test_gzip_file_is_named_as_gzip(tmp_path):
    with pytest.raises(DataError, match="is gzip-compressed.*gunzip"):
        read_labelled_csv(write(tmp_path, gzip.compress(GOOD.encode()), "data.csv.gz"))


def test_zip_file_is_named_as_zip():
    with pytest.raises(DataError, match="ZIP archive"):
        read_text(b"PK\x03\x04" + bytes(100))


def test_binary_junk_is_not_a_csv():
    with pytest.raises(DataError, match=r"binary data \(NUL bytes\)"):
        read_text(bytes(range(256)) * 4)


def test_utf16_text_is_not_a_csv():
    with pytest.raises(DataError, match="NUL bytes"):
        read_text(GOOD.encode("utf-16"))


def test_undecodable_header_is_not_utf8():
    with pytest.raises(DataError, match=r"is not UTF-8 text \(byte 0xE9.*CSV UTF-8"):
        read_text("a,Caf\u00e9,Class\n1,2,0\n".encode("latin-1"))


def test_undecodable_bytes_deep_in_the_file_are_not_utf8():
    rows = "".join(f"{i},{i},0\n" for i in range(100_000))
    with pytest.raises(DataError, match=r"is not UTF-8 text \(byte 0xE9"):
        read_text(("a,b,Class\n" + rows + "1,caf\u00e9,1\n").encode("latin-1"))


def test_header_only(tmp_path):
    with pytest.raises(DataError, match="has a header but no data rows"):
        read_labelled_csv(write(tmp_path, "a,b,Class\n"))


def test_blank_first_line():
    with pytest.raises(DataError, match="first line .* is blank"):
        read_text("\n1,2,0\n")


def test_missing_label_column_is_named():
    with pytest.raises(DataError, match=r"missing the column\(s\) 'Class'. Its columns are: a, b"):
        read_text("a,b\n1,2\n")


def test_missing_feature_columns_are_named():
    with pytest.raises(DataError, match=r"missing the column\(s\) 'V1', 'V2'"):
        read_text(GOOD, feature_columns=["a", "V1", "V2"])


def test_duplicated_column_names_are_caught_before_pandas_renames_them():
    with pytest.raises(DataError, match=r"duplicated column names: 'a' \(2×\)"):
        read_text("a,b,a,Class\n1,2,3,0\n")


def test_non_numeric_value_names_column_row_and_value():
    with pytest.raises(DataError, match=r"Column 'b' in .* should hold numbers, but data row 2 has 'abc'"):
        read_text("a,b,Class\n1,2,0\n3,abc,1\n5,6,0\n")


def test_decimal_comma_breaks_the_row():
    with pytest.raises(DataError, match="could not be parsed as CSV"):
        read_text("a,b,Class\n1,2,0\n3,4,5,1\n")


def test_first_row_longer_than_header():
    with pytest.raises(DataError, match="Data row 1 .* has 4 values but the header names 3 columns"):
        read_text("a,b,Class\n1,2,3,0\n")


def test_nan_and_infinity_are_named_row_by_row():
    with pytest.raises(DataError) as caught:
        read_text("a,b,Class\n1,2,0\n,2,0\nNaN,2,1\ninf,2,0\n")
    assert str(caught.value) == (
        "The uploaded file 't.csv' has 2 missing (empty or NaN) value(s): data row 2 in column 'a', data row 3 "
        "in column 'a'; and 1 value(s) that overflow (beyond ±3.4e+38, the largest number the models compute "
        "with): data row 4 in column 'a' (infinite). Correct or fill in those values, or remove those rows.")


def test_negative_infinity_is_caught():
    with pytest.raises(DataError, match=r"data row 1 in column 'b' \(minus infinite\)"):
        read_text("a,b,Class\n1,-inf,0\n2,2,1\n")


def test_values_that_overflow_are_named_by_row_and_column():
    """1e999 parses as infinite and 1e39 overflows float32: every such cell is named, in row order."""
    with pytest.raises(DataError) as caught:
        read_text("a,b,Class\n1,1e999,0\n2,2,1\n-1e39,1e999,0\n")
    assert str(caught.value) == (
        "The uploaded file 't.csv' has 3 value(s) that overflow (beyond ±3.4e+38, the largest number the models "
        "compute with): data row 1 in column 'b' (infinite), data row 3 in column 'a' (-1e+39), data row 3 in "
        "column 'b' (infinite). Correct or fill in those values, or remove those rows.")


def test_many_bad_cells_are_counted_after_the_first_twelve():
    body = "".join(f"{i},1e999,{i % 2}\n" for i in range(20))
    with pytest.raises(DataError, match=r"20 value\(s\) that overflow .*data row 12 in column 'b' "
                                        r"\(infinite\) and 8 more\."):
        read_text("a,b,Class\n" + body)


def test_entirely_empty_column():
    with pytest.raises(DataError, match=r"Column 'b' .* has no values: data rows 1–2 are all empty"):
        read_text("a,b,Class\n1,,0\n2,,1\n")


def test_every_empty_column_is_named():
    with pytest.raises(DataError) as caught:
        read_text("a,b,c,Class\n1,,,0\n2,,,1\n")
    assert str(caught.value) == ("Columns 'b', 'c' in the uploaded file 't.csv' have no values: data rows 1–2 "
                                 "are all empty. Fill them in, or leave them out.")


def test_a_label_column_with_three_values_is_named_with_its_values():
    with pytest.raises(DataError) as caught:
        read_text("a,Class\n1,0\n2,1\n3,2\n")
    assert str(caught.value) == (
        "Label column 'Class' in the uploaded file 't.csv' should hold two values, '1' for positive (fraud) rows "
        "and one value for normal rows, but it holds 3 distinct values: '0', '1', '2'. Choose the right label "
        "column, or recode the column to two values (positive and normal) before loading it.")


def test_labels_without_the_positive_value_are_listed():
    with pytest.raises(DataError, match="holds 'no', 'yes'.*positive label"):
        read_text("a,Class\n1,yes\n2,no\n")


def test_missing_labels():
    with pytest.raises(DataError, match=r"Label column 'Class' .* 1 empty value\(s\), the first on data row 2"):
        read_text("a,Class\n1,0\n2,\n3,1\n")


def test_no_normal_rows():
    with pytest.raises(DataError, match="Every row .* is labelled positive"):
        read_text("a,Class\n1,1\n2,1\n")


def test_semicolon_separated_file():
    with pytest.raises(DataError, match="separator is not a comma"):
        read_text("a;b;Class\n1;2;0\n")


def test_unnamed_index_column_is_not_taken_as_a_feature():
    saved = pd.DataFrame({"a": [1.0, 2.0], "Class": [0, 1]}).to_csv()  # index=True by default
    with pytest.raises(DataError, match="Column 1 of .* has no name"):
        read_text(saved)
    assert read_text(saved, feature_columns=["a"]).feature_names == ("a",)


def test_label_is_never_a_feature():
    with pytest.raises(DataError, match="include the label column 'Class'"):
        read_text(GOOD, feature_columns=["a", "Class"])


def test_negative_amount():
    with pytest.raises(DataError, match="negative amounts, the first on data row 2"):
        read_text("a,Amount,Class\n1,5,0\n2,-1,1\n")


def test_no_numeric_features():
    with pytest.raises(DataError, match="no numeric feature columns"):
        read_text("name,Class\nx,0\ny,1\n")


# --- the ULB schema -------------------------------------------------------------------------------

def test_read_creditcard_takes_the_30_ulb_features(tmp_path):
    data = read_creditcard(write(tmp_path, creditcard_csv()))
    assert data.feature_names == CREDITCARD_FEATURES and len(CREDITCARD_FEATURES) == 30
    assert data.labels.sum() == 3


def test_read_creditcard_names_missing_columns(tmp_path):
    with pytest.raises(DataError, match=r"missing the column\(s\) 'V3', 'Amount'"):
        read_creditcard(write(tmp_path, creditcard_csv(drop=("V3", "Amount"))))


def test_read_creditcard_needs_the_class_column(tmp_path):
    with pytest.raises(DataError, match=r"missing the column\(s\) 'Class'"):
        read_creditcard(write(tmp_path, creditcard_csv(drop=("Class",))))


def test_openml_offline_says_how_to_load_a_csv(monkeypatch):
    def offline(**kwargs):
        assert kwargs["data_id"] == 1597 and socket.getdefaulttimeout() == 2.5
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)  # imported where it is called
    before = socket.getdefaulttimeout()
    with pytest.raises(DataError, match="seems to be offline.*creditcard.csv.*upload it"):
        tabular.fetch_openml_creditcard(timeout=2.5)
    assert socket.getdefaulttimeout() == before


def test_openml_frame_goes_through_the_same_validation(monkeypatch):
    frame = make_synthetic_creditcard(50, fraud_fraction=0.1, seed=3).to_frame()
    frame["Class"] = frame["Class"].astype(str).astype("category")  # as OpenML delivers it
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda **kwargs: SimpleNamespace(frame=frame))
    data = tabular.fetch_openml_creditcard()
    assert data.source == "OpenML 1597 (creditcard)" and not data.synthetic
    assert data.labels.sum() == 5 and data.feature_names == CREDITCARD_FEATURES


# --- synthetic data ---------------------------------------------------------------------------------

def test_synthetic_schema_and_prevalence():
    data = make_synthetic_creditcard(5000, fraud_fraction=0.02, seed=0)
    assert data.feature_names == CREDITCARD_FEATURES and list(data.features.columns) == list(CREDITCARD_FEATURES)
    assert data.synthetic and "synthetic" in data.source and "not real" in data.source
    assert data.labels.dtype == np.int8 and data.labels.sum() == 100
    assert np.isfinite(data.features.to_numpy()).all()
    time = data.features["Time"].to_numpy()
    assert (np.diff(time) >= 0).all() and 0 <= time.min() and time.max() <= 2 * 24 * 3600
    np.testing.assert_array_equal(data.amount, data.features["Amount"].to_numpy())
    assert (data.amount >= 0).all()
    fraud, normal = data.features[data.labels == 1], data.features[data.labels == 0]
    assert fraud["V14"].mean() < normal["V14"].mean() - 2
    assert abs(normal["V1"].mean()) < 0.1


def test_synthetic_is_deterministic_per_seed():
    a, b, c = (make_synthetic_creditcard(500, seed=s) for s in (4, 4, 5))
    pd.testing.assert_frame_equal(a.features, b.features)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not a.features.equals(c.features)


def test_synthetic_reads_back_as_creditcard():
    data = make_synthetic_creditcard(300, fraud_fraction=0.05, seed=2)
    again = read_creditcard(io.BytesIO(data.to_frame().to_csv(index=False).encode()))
    pd.testing.assert_frame_equal(again.features, data.features, check_exact=False, rtol=1e-14)
    np.testing.assert_array_equal(again.labels, data.labels)


@pytest.mark.parametrize("kwargs", [{"n_rows": 1}, {"fraud_fraction": 1.0}, {"fraud_fraction": -0.1}])
def test_synthetic_rejects_bad_arguments(kwargs):
    with pytest.raises(DataError):
        make_synthetic_creditcard(**kwargs)


# --- splits -----------------------------------------------------------------------------------------

def labels_with(n: int, n_pos: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) < n_pos).astype(np.int8)


def test_split_is_stratified_disjoint_and_complete():
    y = labels_with(2000, 100)
    split = stratified_split(y, test_fraction=0.3, val_fraction=0.15, seed=0)
    parts = (split.train_idx, split.val_idx, split.test_idx)
    assert [len(p) for p in parts] == [1100, 300, 600]
    assert [int(y[p].sum()) for p in parts] == [55, 15, 30]
    assert all(p.dtype == np.int64 and (np.diff(p) > 0).all() for p in parts)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(2000))


def test_split_is_deterministic_per_seed():
    y = labels_with(500, 50)
    a, b, c = (stratified_split(y, seed=s) for s in (1, 1, 2))
    assert a.to_dict() == b.to_dict() and a.to_dict() != c.to_dict()


def test_split_round_trips_through_json():
    split = stratified_split(labels_with(300, 30), seed=7)
    saved = json.loads(json.dumps(split.to_dict()))
    again = Split.from_dict(saved)
    for part in ("train_idx", "val_idx", "test_idx"):
        np.testing.assert_array_equal(getattr(again, part), getattr(split, part))
        assert getattr(again, part).dtype == np.int64
    assert (again.seed, again.test_fraction, again.val_fraction, len(again)) == (7, 0.3, 0.15, 300)
    assert len(saved["rows"]) < 300  # compressed: under a byte per row


def test_split_from_incomplete_dict():
    with pytest.raises(DataError, match="no 'seed' entry"):
        Split.from_dict({"rows": "", "test_fraction": 0.3, "val_fraction": 0})
    with pytest.raises(DataError, match="split's rows cannot be read"):
        Split.from_dict({"rows": "not base64!", "seed": 0, "test_fraction": 0.3, "val_fraction": 0})


def test_split_without_validation_part():
    split = stratified_split(labels_with(100, 20), test_fraction=0.3, val_fraction=0.0)
    assert split.val_idx.size == 0 and len(split.test_idx) == 30 and len(split.train_idx) == 70


def test_normal_rows_of_a_split():
    y = labels_with(400, 40)
    split = stratified_split(y)
    normals = normal_rows(split.train_idx, y)
    assert (y[normals] == 0).all() and len(normals) == len(split.train_idx) - y[split.train_idx].sum()


def test_split_of_too_few_rows():
    with pytest.raises(DataError, match="Cannot split 3 rows"):
        stratified_split(np.array([0, 1, 0]))


def test_split_where_a_part_would_lack_positives():
    with pytest.raises(DataError, match="split would have no positive rows|Cannot split"):
        stratified_split(labels_with(1000, 3))
    with pytest.raises(DataError) as caught:
        stratified_split(labels_with(1000, 6), test_fraction=0.3, val_fraction=0.05)
    assert str(caught.value) == (
        "The validation split would have no positive rows: it would hold 51 rows (51 normal, 0 positive), from a "
        "table of 1,000 rows (6 positive, 994 normal; test_fraction=0.3, val_fraction=0.05). Every split needs "
        "both classes: add positive rows, or use larger fractions.")


def test_split_of_one_class():
    with pytest.raises(DataError, match="needs both normal and positive rows, but all 50 rows are normal"):
        stratified_split(np.zeros(50, dtype=int))


@pytest.mark.parametrize("fractions", [(0.0, 0.1), (0.6, 0.4), (0.3, -0.1), (1.0, 0.0)])
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(DataError, match="must leave rows to train on"):
        stratified_split(labels_with(100, 20), test_fraction=fractions[0], val_fraction=fractions[1])


def test_split_rejects_non_binary_labels():
    with pytest.raises(DataError, match="1-D array of 0"):
        stratified_split(np.array([0, 1, 2, 0]))


# --- chunked reading -----------------------------------------------------------------------------------

def numbered_csv(n_rows: int, bad_row: int | None = None) -> str:
    rows = [f"{i},{2 * i},{i % 2}" if i != bad_row else f"{i},oops,0" for i in range(1, n_rows + 1)]
    return "a,b,Class\n" + "\n".join(rows) + "\n"


def test_chunks_cover_the_file_as_float64(tmp_path):
    chunks = list(iter_csv_chunks(write(tmp_path, numbered_csv(10)), chunksize=4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert all((c.dtypes == np.float64).all() for c in chunks)
    assert pd.concat(chunks)["a"].tolist() == list(range(1, 11))


def test_chunks_keep_usecols_order(tmp_path):
    chunk = next(iter_csv_chunks(write(tmp_path, numbered_csv(3)), chunksize=10, usecols=["b", "a"]))
    assert list(chunk.columns) == ["b", "a"]


def test_chunk_errors_give_the_row_in_the_whole_file(tmp_path):
    chunks = iter_csv_chunks(write(tmp_path, numbered_csv(10, bad_row=9)), chunksize=4)
    assert len(next(chunks)) == 4 and len(next(chunks)) == 4
    with pytest.raises(DataError, match="Column 'b' .* data row 9 has 'oops'"):
        next(chunks)


def test_chunks_name_missing_usecols(tmp_path):
    with pytest.raises(DataError, match=r"missing the column\(s\) 'z'"):
        list(iter_csv_chunks(write(tmp_path, numbered_csv(3)), chunksize=2, usecols=["a", "z"]))


def test_chunks_of_a_header_only_file(tmp_path):
    with pytest.raises(DataError, match="no data rows"):
        list(iter_csv_chunks(write(tmp_path, "a,b\n"), chunksize=2))


def test_chunks_share_the_file_checks(tmp_path):
    with pytest.raises(DataError, match="gzip-compressed"):
        list(iter_csv_chunks(write(tmp_path, gzip.compress(b"a\n1\n")), chunksize=2))


@pytest.mark.parametrize("chunksize", [0, -5])
def test_chunks_need_a_positive_size(tmp_path, chunksize):
    with pytest.raises(DataError, match="chunksize must be a positive number"):
        list(iter_csv_chunks(write(tmp_path, numbered_csv(3)), chunksize=chunksize))


# --- properties of the validator -------------------------------------------------------------------------

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_subnormal=False, width=64)


@st.composite
def numeric_tables(draw) -> pd.DataFrame:
    n_rows = draw(st.integers(1, 12))
    n_cols = draw(st.integers(1, 4))
    frame = pd.DataFrame({f"f{j}": draw(st.lists(finite, min_size=n_rows, max_size=n_rows)) for j in range(n_cols)})
    frame["Class"] = draw(st.lists(st.integers(0, 1), min_size=n_rows, max_size=n_rows).filter(lambda y: 0 in y))
    return frame


bad_cells = st.one_of(
    st.sampled_from(["", "NaN", "nan", "inf", "-inf", "Infinity", "1e999", "NA", "null", "1.2.3", "€5", "True"]),
    st.text(st.characters(blacklist_characters=',"\r\n', blacklist_categories=("Cs",)), min_size=1, max_size=8)
    .filter(lambda text: not tabular._is_number(text)),
)


@settings(max_examples=60, deadline=None)
@given(numeric_tables())
def test_property_numeric_tables_round_trip(frame):
    data = read_text(frame.to_csv(index=False))
    np.testing.assert_allclose(data.features.to_numpy(), frame.drop(columns="Class").to_numpy(), rtol=1e-14)
    np.testing.assert_array_equal(data.labels, frame["Class"].to_numpy())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numeric_tables(), st.data())
def test_property_an_injected_bad_cell_always_raises_data_error(frame, data):
    row = data.draw(st.integers(0, len(frame) - 1))
    column = data.draw(st.sampled_from([c for c in frame.columns if c != "Class"]))
    text = frame.astype(object)
    text.loc[row, column] = data.draw(bad_cells)
    features = [c for c in frame.columns if c != "Class"]  # automatic selection would skip an all-text column
    with pytest.raises(DataError):
        read_text(text.to_csv(index=False), feature_columns=features)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_property_arbitrary_bytes_give_a_dataset_or_a_data_error(raw):
    try:
        data = read_text(raw, require_label=False)
    except DataError:
        return
    assert np.isfinite(data.features.to_numpy()).all() and len(data) > 0


# --- the real subset ------------------------------------------------------------------------------------------

@pytest.fixture
def subset_path() -> Path:
    """../shared/data/creditcard/creditcard_subset.csv: 3,335 real rows, 492 frauds; skips when absent."""
    return shared_path("creditcard/creditcard_subset.csv")


def test_real_subset_reads_with_the_documented_checks(subset_path):
    data = read_creditcard(subset_path)
    assert len(data) == 3335 and data.labels.sum() == 492
    assert data.amount[data.labels == 1].sum() == pytest.approx(60127.97, abs=0.005)
    assert data.feature_names == CREDITCARD_FEATURES and not data.synthetic
    assert data.prevalence == pytest.approx(0.1475, abs=1e-4)


def test_real_subset_in_chunks_matches_the_whole_read(subset_path):
    whole = read_creditcard(subset_path)
    chunks = list(iter_csv_chunks(subset_path, chunksize=1000, usecols=list(CREDITCARD_FEATURES)))
    assert [len(c) for c in chunks] == [1000, 1000, 1000, 335]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole.features)


def test_real_subset_split_keeps_prevalence(subset_path):
    labels = read_creditcard(subset_path).labels
    split = stratified_split(labels, seed=0)
    for idx in (split.train_idx, split.val_idx, split.test_idx):
        assert labels[idx].mean() == pytest.approx(492 / 3335, abs=0.005)


def test_a_table_whose_validation_split_would_hold_one_class_cannot_train():
    from vae_core.tables.fraud import check_trainable

    rows = "".join(f"{i},{int(i in (10, 500, 900))}\n" for i in range(1000))
    with pytest.raises(DataError) as caught:
        check_trainable(read_text("a,Class\n" + rows))
    assert str(caught.value) == (
        "The validation split would have no positive rows: it would hold 150 rows (150 normal, 0 positive), from a "
        "table of 1,000 rows (3 positive, 997 normal; test_fraction=0.3, val_fraction=0.15). Every split needs both "
        "classes: add positive rows, or use larger fractions.")
