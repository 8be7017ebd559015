"""Fraud scores kept on disk: a model scores a dataset once, and later servers and sessions read the
scores back instead of reading the CSV and running the model again.

A kept file is named by a digest of the model's own files (model.keras, fraud.json) and of the
data's identity: a file's path, size and modification time, an upload's bytes, the generator's
settings. A retrained model, an edited file or another upload never meets a stale file. A damaged,
missing or unwritable cache only costs the recomputation. Files live under
`vae_core.images.classifier.cache_dir()` / "scores" (VAE_CACHE_DIR or ~/.cache/vae-latent-explorer); each
save keeps that folder within KEEP_BYTES by removing the files used least recently (a read counts
as a use).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from vae_core import sources
from vae_core.tables.fraud import FraudModel, ScoredData, score_dataset
from vae_core.tables.tabular import TabularDataset

CACHE_VERSION = 1  # bump when ScoredData or the scoring changes meaning
# A 284,807-row file with its features, errors and codes is ~150 MB: room for several datasets' scores.
KEEP_BYTES = 1 << 30
MODEL_FILES = ("model.keras", "fraud.json")
_ARRAYS = ("rows", "scores", "labels", "amounts", "latent", "feature_errors")


def data_identity(trained_on: dict[str, Any], choice: str, upload: bytes | None,
                  model_folder: Path) -> str | None:
    """What the rows of `sources.view_transactions(trained_on, choice, upload, …)` are, cheaply (no
    file is read, an upload is hashed): None when they cannot be named without reading them (the
    OpenML download)."""
    if choice == "upload":
        return None if upload is None else "upload:" + hashlib.sha256(upload).hexdigest()
    if choice == "synthetic" or (choice == "model" and trained_on.get("synthetic")):
        from vae_core.tables.tabular import make_synthetic_creditcard

        defaults = make_synthetic_creditcard.__kwdefaults__ or {}
        return f"synthetic:{sorted(defaults.items())}"
    found = sources.training_file(trained_on)
    if found is None:
        if str(trained_on.get("source", "")).startswith("OpenML") and not sources.offline():
            return None  # view_transactions downloads it
        found = model_folder / sources.HELDOUT_FILE
        if not found.is_file():
            return None  # view_transactions says what is missing
    stat = Path(found).stat()
    return f"file:{Path(found).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _model_digest(model_folder: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for name in MODEL_FILES:
        digest.update((model_folder / name).read_bytes())
    return digest.hexdigest()


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("vae-latent-explorer")
    except metadata.PackageNotFoundError:
        return "unknown"


def scores_path(model_folder: Path, identity: str, settings: tuple[Any, ...],
                directory: str | os.PathLike | None = None) -> Path:
    """The kept file for one model, data identity and reading settings (label column, positive, scorer)."""
    from vae_core.images.classifier import cache_dir

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{CACHE_VERSION}|{_package_version()}|{_model_digest(model_folder)}|{identity}|{settings!r}".encode())
    return cache_dir(directory) / "scores" / f"{digest.hexdigest()}.npz"


def save_scored(scored: ScoredData, path: Path) -> None:
    """Write `scored` to `path` atomically (a partial file, then a rename); OSError is left to the caller."""
    arrays = {name: getattr(scored, name) for name in _ARRAYS if getattr(scored, name) is not None}
    text = {"evaluated_on": scored.evaluated_on, "source": scored.source, "synthetic": scored.synthetic,
            "columns": [str(c) for c in scored.features.columns]}
    _save(path, features=scored.features.to_numpy(np.float64), text=json.dumps(text), **arrays)


def _save(path: Path, **arrays: Any) -> None:
    """np.savez to `path` atomically: a partial file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(partial, **arrays)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    prune(path.parent, keep=path)


def prune(folder: Path, *, keep: Path, budget: int | None = None) -> list[Path]:
    """Remove the kept files of `folder` used least recently (by modification time) until the rest
    fit in `budget` bytes (KEEP_BYTES); `keep`, just written, always stays. Returns what was removed."""
    budget = KEEP_BYTES if budget is None else budget
    kept: list[tuple[float, int, Path]] = []
    for file in folder.glob("*.npz"):
        if file.name.startswith("."):
            continue  # another writer's partial file
        try:
            stat = file.stat()
        except FileNotFoundError:
            continue
        kept.append((float("inf") if file == keep else stat.st_mtime, stat.st_size, file))
    removed, total = [], 0
    for _, size, file in sorted(kept, reverse=True):
        total += size
        if total > budget and file != keep:
            file.unlink(missing_ok=True)
            removed.append(file)
    return removed


def _used(path: Path) -> None:
    """Mark a kept file as just used (pruning removes the least recently used first)."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache is still read


def load_scored(path: Path) -> ScoredData:
    """A ScoredData written by `save_scored`, its arrays read-only; OSError, ValueError, KeyError,
    EOFError or zipfile.BadZipFile when the file is missing or damaged."""
    with np.load(path, allow_pickle=False) as saved:
        text = json.loads(str(saved["text"]))
        arrays = {name: saved[name] if name in saved.files else None for name in _ARRAYS}
        features = pd.DataFrame(saved["features"], columns=text["columns"])
    scored = ScoredData(**arrays, evaluated_on=text["evaluated_on"], source=text["source"],
                        synthetic=bool(text["synthetic"]), features=features)
    for array in arrays.values():
        if array is not None:
            array.flags.writeable = False
    return scored


def baseline_view(model: FraudModel, model_folder: Path, scored: ScoredData, identity: str | None, *,
                  label_column: str | None, positive: str | None,
                  directory: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """`model.baseline_scores(scored.features)` ({baseline name: (m,)}: an isolation forest takes
    seconds at 284,807 rows), kept on disk like `scored_view`'s scores, `scored` being those rows."""
    path = (None if identity is None
            else scores_path(model_folder, identity, (label_column, positive, "baselines"), directory))
    if path is not None:
        try:
            with np.load(path, allow_pickle=False) as saved:
                names = json.loads(str(saved["names"]))
                scores = {name: saved[f"baseline_{index}"] for index, name in enumerate(names)}
            _used(path)
            return scores
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # not kept yet, or damaged: computed below
    scores = model.baseline_scores(scored.features)
    if path is not None:
        try:
            _save(path, names=json.dumps(list(scores)),
                  **{f"baseline_{index}": values for index, values in enumerate(scores.values())})
        except OSError:
            pass  # a read-only cache folder still gets its scores, just not kept ones
    return scores


def scored_view(model: FraudModel, model_folder: Path, read_data: Callable[[], TabularDataset], identity: str | None,
                *, label_column: str | None, positive: str | None, scorer: str,
                directory: str | os.PathLike | None = None) -> ScoredData:
    """`score_dataset(model, read_data(), scorer)`, kept on disk under the data's `identity` (see
    `data_identity`; None: never kept) and the labels `read_data` reads."""
    settings = (label_column, positive, scorer)
    path = None if identity is None else scores_path(model_folder, identity, settings, directory)
    if path is not None:
        try:
            scored = load_scored(path)
            _used(path)
            return scored
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # not kept yet, or damaged: computed below
    scored = score_dataset(model, read_data(), scorer)
    if path is not None:
        try:
            save_scored(scored, path)
        except OSError:
            pass  # a read-only cache folder still gets its scores, just not kept ones
    return scored
