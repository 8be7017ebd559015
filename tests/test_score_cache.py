"""Fraud scores kept on disk (vae_core.tables.score_cache): scored once, read back by later servers and
sessions; never stale after the data or the model changes; a damaged or unwritable cache only
costs the recomputation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from app_fixtures import FRAUD_MODEL, app_data_dir, models_copy, trained_models_dir  # noqa: F401
from vae_core import registry, sources
from vae_core.tables import score_cache
from vae_core.tables.fraud import FraudModel, score_dataset


def _model(models: Path) -> tuple[FraudModel, Path]:
    loaded = registry.load_model(FRAUD_MODEL, models)
    return FraudModel.from_loaded(loaded), loaded.path


def _view(model, folder, data_file: Path, cache: Path, calls: list[str]):
    trained_on = {**model.info["data"], "source": f"file: {data_file}"}

    def read():
        calls.append("read")
        return sources.transactions(data_file)

    return score_cache.scored_view(model, folder, read, score_cache.data_identity(trained_on, "model", None, folder),
                                   label_column=None, positive=None, scorer="VAE", directory=cache)


def test_scores_are_kept_and_read_back_unchanged(models_copy, app_data_dir, tmp_path):  # noqa: F811
    model, folder = _model(models_copy)
    data_file, calls = app_data_dir / "creditcard" / "creditcard.csv", []
    first = _view(model, folder, data_file, tmp_path / "cache", calls)
    again = _view(model, folder, data_file, tmp_path / "cache", calls)
    assert calls == ["read"]  # the second view read neither the CSV nor ran the model
    assert len(list((tmp_path / "cache" / "scores").glob("*.npz"))) == 1
    for name in ("rows", "scores", "labels", "amounts", "latent", "feature_errors"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
        assert not getattr(again, name).flags.writeable
    np.testing.assert_array_equal(again.features.to_numpy(), first.features.to_numpy())
    assert list(again.features.columns) == list(first.features.columns)
    assert (again.evaluated_on, again.source, again.synthetic) == (first.evaluated_on, first.source, first.synthetic)
    np.testing.assert_array_equal(first.scores, score_dataset(model, sources.transactions(data_file)).scores)


def test_an_edited_file_or_a_retrained_model_is_scored_again(models_copy, app_data_dir, tmp_path):  # noqa: F811
    model, folder = _model(models_copy)
    data_file = tmp_path / "rows.csv"
    data_file.write_bytes((app_data_dir / "creditcard" / "creditcard.csv").read_bytes())
    calls: list[str] = []
    first = _view(model, folder, data_file, tmp_path / "cache", calls)

    lines = data_file.read_text().splitlines(keepends=True)
    data_file.write_text("".join(lines[:-100]))  # 100 rows fewer: another file
    edited = _view(model, folder, data_file, tmp_path / "cache", calls)
    assert calls == ["read", "read"]
    assert first.evaluated_on == "held-out test split of the training file" and len(first.rows) < 1000
    assert len(edited.rows) == len(lines) - 101  # another file than the model's: every row scored

    info = json.loads((folder / "fraud.json").read_text())
    info["threshold"]["value"] = info["threshold"]["value"] * 2  # a changed model file
    (folder / "fraud.json").write_text(json.dumps(info))
    _view(FraudModel.from_loaded(registry.load_model(FRAUD_MODEL, models_copy)), folder, data_file,
          tmp_path / "cache", calls)
    assert calls == ["read"] * 3
    assert len(list((tmp_path / "cache" / "scores").glob("*.npz"))) == 3


def test_a_damaged_or_unwritable_cache_only_costs_the_recomputation(models_copy, app_data_dir, tmp_path):  # noqa: F811
    model, folder = _model(models_copy)
    data_file, calls = app_data_dir / "creditcard" / "creditcard.csv", []
    first = _view(model, folder, data_file, tmp_path / "cache", calls)
    (kept,) = (tmp_path / "cache" / "scores").glob("*.npz")
    kept.write_bytes(kept.read_bytes()[:500])
    repaired = _view(model, folder, data_file, tmp_path / "cache", calls)
    np.testing.assert_array_equal(repaired.scores, first.scores)
    assert calls == ["read", "read"] and score_cache.load_scored(kept).scores.shape == first.scores.shape

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    unkept = _view(model, folder, data_file, blocked, calls)
    np.testing.assert_array_equal(unkept.scores, first.scores)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_uploads_are_named_by_their_bytes_and_openml_is_never_kept(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    upload = score_cache.data_identity({}, "upload", b"Time,V1\n1,2\n", folder)
    assert upload != score_cache.data_identity({}, "upload", b"Time,V1\n1,3\n", folder)
    assert score_cache.data_identity({}, "upload", None, folder) is None
    if not sources.offline():
        pytest.skip("VAE_OFFLINE is unset: OpenML would be downloaded")
    assert score_cache.data_identity({"source": "OpenML 1597"}, "model", None, folder) is None


def test_baseline_scores_are_kept_beside_the_scores(models_copy, app_data_dir, tmp_path, monkeypatch):  # noqa: F811
    model, folder = _model(models_copy)
    data_file = app_data_dir / "creditcard" / "creditcard.csv"
    scored = _view(model, folder, data_file, tmp_path / "cache", [])
    identity = score_cache.data_identity({"source": f"file: {data_file}"}, "model", None, folder)
    first = score_cache.baseline_view(model, folder, scored, identity, label_column=None, positive=None,
                                      directory=tmp_path / "cache")
    assert set(first) == {baseline.name for baseline in model.baselines} and first
    monkeypatch.setattr(FraudModel, "baseline_scores", lambda self, frame: pytest.fail("scored again"))
    again = score_cache.baseline_view(model, folder, scored, identity, label_column=None, positive=None,
                                      directory=tmp_path / "cache")
    assert list(again) == list(first)
    for name, values in first.items():
        np.testing.assert_array_equal(again[name], values)
        assert values.shape == scored.scores.shape


def test_the_kept_scores_stay_within_their_budget_least_recently_used_first(models_copy, app_data_dir, tmp_path,  # noqa: F811
                                                                         monkeypatch):
    """Room for two kept files and three data files scored: the one used longest ago goes. Reading a
    kept file counts as a use: the older of the first two survives because it was read last."""
    model, folder = _model(models_copy)
    source = app_data_dir / "creditcard" / "creditcard.csv"
    files = []
    for index in range(3):
        copy = tmp_path / f"batch{index}.csv"
        copy.write_bytes(source.read_bytes())
        os.utime(copy, (1_000_000 + index, 1_000_000 + index))  # three identities
        files.append(copy)

    def kept(data_file: Path) -> Path:
        trained_on = {**model.info["data"], "source": f"file: {data_file}"}
        return score_cache.scores_path(folder, score_cache.data_identity(trained_on, "model", None, folder),
                                       (None, None, "VAE"), cache)

    cache, calls = tmp_path / "cache", []
    _view(model, folder, files[0], cache, calls)
    monkeypatch.setattr(score_cache, "KEEP_BYTES", int(2.5 * kept(files[0]).stat().st_size))
    _view(model, folder, files[1], cache, calls)
    os.utime(kept(files[0]), (2_000_000, 2_000_000))
    os.utime(kept(files[1]), (1_000_000, 1_000_000))  # the older of the two…
    _view(model, folder, files[1], cache, calls)  # …until it is read back
    assert calls == ["read", "read"]
    _view(model, folder, files[2], cache, calls)  # over budget: file 0's scores go
    assert calls == ["read", "read", "read"]
    assert sorted((cache / "scores").glob("*.npz")) == sorted([kept(files[1]), kept(files[2])])
    _view(model, folder, files[1], cache, calls)
    assert calls == ["read", "read", "read"]  # still kept: nothing read again
