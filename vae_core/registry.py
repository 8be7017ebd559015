"""The model registry: one folder per model under `models/` (or VAE_MODELS_DIR / --models-dir).

A folder holds `model.keras` (weights and architecture, no optimizer state), `config.json`
(everything needed to rebuild), `metadata.json` (what it was trained on and how well it did) and,
for some kinds, extra JSON files (a fraud model's preprocessing and threshold). Saves are atomic:
written to a hidden temporary folder, then renamed into place, never over an existing model.
Listing needs no TensorFlow.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vae_core.errors import RegistryError

if TYPE_CHECKING:
    from vae_core.model import VAE

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
REQUIRED_FILES = (MODEL_FILE, CONFIG_FILE, METADATA_FILE)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
_VERSIONED_PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "pandas")


def models_dir(path: str | os.PathLike | None = None) -> Path:
    """The registry folder: `path`, else VAE_MODELS_DIR, else the project's `models/`."""
    chosen = path or os.environ.get("VAE_MODELS_DIR") or DEFAULT_MODELS_DIR
    return Path(chosen).expanduser()


def validate_name(name: str) -> str:
    """Return `name` if it is a safe model name (letters, digits, '-', '_'; 1–64 chars)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise RegistryError(
            f"Invalid model name {name!r}: use 1–64 letters, digits, '-' or '_', starting with a "
            "letter or digit.")
    return name


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved model depends on (those installed)."""
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, allow_nan=False)
        handle.flush()
        os.fsync(handle.fileno())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except FileNotFoundError as exc:
        raise RegistryError(f"{path.name} is missing.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path.name} is corrupt ({exc}).") from exc
    if not isinstance(payload, dict):
        raise RegistryError(f"{path.name} does not hold a JSON object.")
    return payload


@dataclass
class ModelInfo:
    """One registry entry as listed: `valid` is False (with `error`) for a broken folder."""

    name: str
    path: Path
    valid: bool
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary: name, validity, dataset, latent dim, metrics."""
        meta = self.metadata
        return {
            "name": self.name,
            "path": str(self.path),
            "valid": self.valid,
            **({"error": self.error} if self.error else {}),
            "kind": self.config.get("kind"),
            "dataset": meta.get("dataset"),
            "data_source": meta.get("data_source"),
            "latent_dim": self.config.get("vae_config", {}).get("latent_dim"),
            "architecture": self.config.get("vae_config", {}).get("architecture"),
            "likelihood": self.config.get("vae_config", {}).get("likelihood"),
            "epochs": meta.get("epochs_run"),
            "metrics": meta.get("metrics", {}),
            "created": meta.get("created"),
        }


def inspect_model(folder: Path) -> ModelInfo:
    """Check a model folder without loading TensorFlow: files present, JSON valid, zip intact."""
    name = folder.name
    try:
        validate_name(name)
        missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
        if missing:
            raise RegistryError(f"missing {', '.join(missing)}")
        config = _read_json(folder / CONFIG_FILE)
        metadata = _read_json(folder / METADATA_FILE)
        version = config.get("format_version")
        if version != FORMAT_VERSION:
            raise RegistryError(f"unsupported format version {version!r} (this app reads {FORMAT_VERSION})")
        if "vae_config" not in config or "kind" not in config:
            raise RegistryError(f"{CONFIG_FILE} lacks 'vae_config' or 'kind'")
        for extra in config.get("extra_files", []):
            _read_json(folder / extra)
        try:
            with zipfile.ZipFile(folder / MODEL_FILE) as archive:
                if archive.testzip() is not None or "model.weights.h5" not in archive.namelist():
                    raise RegistryError(f"{MODEL_FILE} is damaged")
        except (zipfile.BadZipFile, OSError) as exc:
            raise RegistryError(f"{MODEL_FILE} is not a valid Keras file ({exc})") from exc
    except RegistryError as exc:
        return ModelInfo(name, folder, valid=False, error=str(exc))
    return ModelInfo(name, folder, valid=True, metadata=metadata, config=config)


def list_models(directory: str | os.PathLike | None = None) -> list[ModelInfo]:
    """All model folders, sorted by name; hidden folders (saves in progress, trash) are skipped."""
    root = models_dir(directory)
    if not root.is_dir():
        return []
    return [inspect_model(entry) for entry in sorted(root.iterdir())
            if entry.is_dir() and not entry.name.startswith((".", "_"))]


def save_model(model: VAE, name: str, *, kind: str, metadata: dict[str, Any],
               extra_files: dict[str, dict[str, Any]] | None = None,
               directory: str | os.PathLike | None = None) -> Path:
    """Atomically save `model` as a new registry entry; refuses to replace an existing name.

    `kind` says how to use it ("mnist", "fraud"); `extra_files` maps file name → JSON object.
    Returns the model folder.
    """
    validate_name(name)
    extra_files = extra_files or {}
    for extra in extra_files:
        if extra in REQUIRED_FILES or not re.fullmatch(r"[a-z_]+\.json", extra):
            raise RegistryError(f"Invalid extra file name {extra!r}.")
    root = models_dir(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if final.exists():
        raise RegistryError(f"A model named {name!r} already exists in {root}; choose another name or delete it first.")
    staging = Path(tempfile.mkdtemp(prefix=f".saving-{name}-", dir=root))
    try:
        model.inference_copy().save(staging / MODEL_FILE)
        _write_json(staging / CONFIG_FILE, {
            "format_version": FORMAT_VERSION, "kind": kind,
            "vae_config": model.vae_config.to_dict(), "extra_files": sorted(extra_files),
        })
        _write_json(staging / METADATA_FILE, {
            **metadata, "name": name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "library_versions": library_versions(),
        })
        for file_name, payload in extra_files.items():
            _write_json(staging / file_name, payload)
        try:
            # rename(2) onto an existing non-empty folder fails: a concurrent save of the same
            # name loses cleanly instead of replacing the winner.
            os.rename(staging, final)
        except OSError as exc:
            raise RegistryError(f"A model named {name!r} was saved by someone else meanwhile; choose another name.") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


@dataclass
class LoadedModel:
    """A model ready to use, with the JSON it was saved with."""

    name: str
    path: Path
    kind: str
    vae: VAE
    config: dict[str, Any]
    metadata: dict[str, Any]
    extras: dict[str, dict[str, Any]]


def load_model(name: str, directory: str | os.PathLike | None = None) -> LoadedModel:
    """Load a registry entry with Keras safe_mode=True; broken folders raise RegistryError."""
    validate_name(name)
    folder = models_dir(directory) / name
    if not folder.is_dir():
        raise RegistryError(f"No model named {name!r} in {models_dir(directory)}. Run `python -m vae_core list` to see the models.")
    info = inspect_model(folder)
    if not info.valid:
        raise RegistryError(f"Model {name!r} is broken: {info.error}.")
    import keras

    import vae_core.model  # noqa: F401  registers the VAE classes with Keras

    try:
        vae = keras.saving.load_model(folder / MODEL_FILE, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for damaged or unsafe files
        raise RegistryError(f"Model {name!r} could not be loaded safely: {exc}") from exc
    if not isinstance(vae, vae_core.model.VAE):
        raise RegistryError(f"Model {name!r} is not a VAE Latent Explorer model.")
    extras = {file_name: _read_json(folder / file_name) for file_name in info.config.get("extra_files", [])}
    return LoadedModel(name, folder, info.config["kind"], vae, info.config, info.metadata, extras)


def delete_model(name: str, directory: str | os.PathLike | None = None) -> None:
    """Remove a model folder: renamed away first, so it vanishes from listings at once."""
    validate_name(name)
    root = models_dir(directory)
    folder = root / name
    if not folder.is_dir():
        raise RegistryError(f"No model named {name!r} in {root}.")
    trash = root / f".deleting-{name}-{uuid.uuid4().hex[:8]}"
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
