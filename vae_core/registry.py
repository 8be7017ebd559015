"""The model registry: one folder per model under `models/` (or VAE_MODELS_DIR / --models-dir).

A folder holds `model.keras` (weights and architecture, no optimizer state), `config.json`
(everything needed to rebuild), `metadata.json` (what it was trained on and how well it did) and,
for some kinds, extra JSON files (a fraud model's preprocessing and threshold). Saves are atomic:
written to a hidden temporary folder, then renamed into place, never over an existing model.
Listing needs no TensorFlow: it checks the JSON, the settings and what model.keras holds, so a
broken or foreign folder is reported with the reason before anyone tries to load it. Loading uses
Keras safe_mode and accepts only the VAE class, which rebuilds its layers from its settings.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import tempfile
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vae_core import settings
from vae_core.config import VAEConfig
from vae_core.errors import ConfigError, RegistryError

if TYPE_CHECKING:
    from vae_core.dense import DenseVAE
    from vae_core.model import VAE

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
REQUIRED_FILES = (MODEL_FILE, CONFIG_FILE, METADATA_FILE)
KINDS = ("mnist", "fraud")
# The registry's own declaration of the models a first visit opens (see `default_models`).
DEFAULTS_FILE = "defaults.json"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# What model.keras must hold: our VAE class, which rebuilds its layers from its VAEConfig, so Keras
# never deserializes a layer list (or a Lambda's Python code) from a model file.
KERAS_CLASS = "vae_core>VAE"
# Hidden folders of saves, imports and deletes in progress; one older than this was left by a
# process that died mid-way, and the next save removes it.
WORK_PREFIXES = (".saving-", ".importing-", ".deleting-")
STALE_WORK_SECONDS = 3600
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
_VERSIONED_PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "pandas")


def models_dir(path: str | os.PathLike | None = None) -> Path:
    """The registry folder: `path`, else VAE_MODELS_DIR, else the project's `models/`."""
    chosen = path or os.environ.get("VAE_MODELS_DIR") or DEFAULT_MODELS_DIR
    return Path(chosen).expanduser()


def ensure_models_dir(path: str | os.PathLike | None = None) -> Path:
    """The registry folder, created if absent; RegistryError when it cannot hold models."""
    root = models_dir(path)
    if root.exists() and not root.is_dir():
        raise RegistryError(f"The models folder {root} is a file, not a folder; choose another folder "
                            "(--models-dir or VAE_MODELS_DIR).")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"Cannot create the models folder {root} ({exc.strerror}); choose another "
                            "folder (--models-dir or VAE_MODELS_DIR).") from exc
    return root


def remove_stale_work(root: Path, max_age_seconds: float = STALE_WORK_SECONDS) -> list[str]:
    """Delete hidden work folders (see WORK_PREFIXES) untouched for `max_age_seconds`; their names."""
    removed = []
    now = time.time()
    for entry in root.iterdir() if root.is_dir() else ():
        try:
            stale = entry.name.startswith(WORK_PREFIXES) and now - entry.stat().st_mtime > max_age_seconds
        except OSError:
            continue
        if stale and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def validate_name(name: str) -> str:
    """Return `name` if it is a safe model name (letters, digits, '-', '_'; 1–64 chars)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):  # fullmatch: "$" would allow "name\n"
        raise RegistryError(
            f"Invalid model name {name!r}: use 1–64 letters, digits, '-' or '_', starting with a "
            "letter or digit.")
    return name


def name_problem(name: str, directory: str | os.PathLike | None = None) -> str | None:
    """Why `name` cannot be used for a new model (invalid, or taken), or None when it can."""
    try:
        validate_name(name)
    except RegistryError as exc:
        return str(exc)
    if (models_dir(directory) / name).exists():
        return f"A model named {name!r} already exists; choose another name or delete that model first."
    return None


def check_new_name(name: str, directory: str | os.PathLike | None = None) -> None:
    """RegistryError when `name` cannot be used for a new model (see `name_problem`)."""
    problem = name_problem(name, directory)
    if problem:
        raise RegistryError(problem)


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
        raise RegistryError(f"{path.name} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path.name} is corrupt: {exc}") from exc
    except RecursionError as exc:  # hostile nesting, e.g. "[[[[…"
        raise RegistryError(f"{path.name} is corrupt: nested too deeply") from exc
    if not isinstance(payload, dict):
        raise RegistryError(f"{path.name} does not hold a JSON object")
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

    @property
    def kind(self) -> str | None:
        """"mnist" or "fraud" (None for a broken folder)."""
        return self.config.get("kind")

    @property
    def vae_config(self) -> VAEConfig:
        """The settings it was built from (valid entries only)."""
        return VAEConfig.from_dict(self.config["vae_config"])

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


def _check_config(config: dict[str, Any]) -> VAEConfig:
    """config.json's format version, kind and VAE settings; returns the VAEConfig."""
    version = config.get("format_version")
    if version is None:
        raise RegistryError(f"{CONFIG_FILE} has no format_version, so it was not written by VAE Latent Explorer")
    if version != FORMAT_VERSION:
        raise RegistryError(f"unsupported format version {version!r} (this app reads {FORMAT_VERSION}); "
                            "a newer VAE Latent Explorer may have saved it")
    if "vae_config" not in config or "kind" not in config:
        raise RegistryError(f"{CONFIG_FILE} lacks 'vae_config' or 'kind'")
    if config["kind"] not in KINDS:
        raise RegistryError(f"unknown model kind {config['kind']!r} (this app knows {', '.join(KINDS)})")
    return _vae_config(config["vae_config"], CONFIG_FILE)


def _vae_config(data: Any, where: str) -> VAEConfig:
    if not isinstance(data, dict):
        raise RegistryError(f"{where} holds no VAE settings")
    try:
        return VAEConfig.from_dict(data)
    except (ConfigError, TypeError, ValueError) as exc:
        raise RegistryError(f"{where} has invalid VAE settings: {str(exc).rstrip('.')}") from exc


def _mentions_class(node: Any, class_name: str) -> bool:
    if isinstance(node, dict):
        return node.get("class_name") == class_name or any(_mentions_class(v, class_name) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_class(v, class_name) for v in node)
    return False


def _check_keras_file(path: Path, expected: VAEConfig) -> None:
    """model.keras must be an intact Keras archive holding our VAE with the settings of config.json.

    Read as JSON only: a file that holds any other class (a Lambda layer's Python code, say) is
    refused here, before Keras deserializes anything.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None or not {"model.weights.h5", "config.json"} <= set(archive.namelist()):
                raise RegistryError(f"{MODEL_FILE} is damaged")
            keras_config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise RegistryError(f"{MODEL_FILE} is not a valid Keras file ({exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RegistryError(f"{MODEL_FILE} is damaged (its config is not JSON)") from exc
    if not isinstance(keras_config, dict) or keras_config.get("registered_name") != KERAS_CLASS:
        held = keras_config.get("class_name", "?") if isinstance(keras_config, dict) else "?"
        code = (" with a Lambda layer (Python code, never run here)"
                if _mentions_class(keras_config, "Lambda") else "")
        raise RegistryError(f"{MODEL_FILE} holds a Keras {held}{code}, not a VAE Latent Explorer model")
    inner = keras_config.get("config")
    if _vae_config(inner.get("vae_config") if isinstance(inner, dict) else None, MODEL_FILE) != expected:
        raise RegistryError(f"{CONFIG_FILE} does not match the settings stored in {MODEL_FILE}")


def inspect_model(folder: Path) -> ModelInfo:
    """Check a model folder without loading TensorFlow: files present, JSON valid, settings valid
    and consistent, model.keras intact and holding a VAE."""
    name = folder.name
    try:
        validate_name(name)
        missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
        if missing:
            raise RegistryError(f"missing {', '.join(missing)}")
        config = _read_json(folder / CONFIG_FILE)
        metadata = _read_json(folder / METADATA_FILE)
        vae_config = _check_config(config)
        extras = config.get("extra_files", [])
        if not isinstance(extras, list):
            raise RegistryError(f"{CONFIG_FILE} has an invalid 'extra_files' entry")
        for extra in extras:
            if not isinstance(extra, str) or not re.fullmatch(r"[a-z_]+\.json", extra):
                raise RegistryError(f"{CONFIG_FILE} lists an invalid extra file {extra!r}")
            _read_json(folder / extra)
        _check_keras_file(folder / MODEL_FILE, vae_config)
    except RegistryError as exc:
        return ModelInfo(name, folder, valid=False, error=str(exc))
    return ModelInfo(name, folder, valid=True, metadata=metadata, config=config)


def _arrived(folder: Path) -> int:
    """When a model folder was written into the registry (ns); saves and imports fill a hidden
    folder, then rename it into place, so this is the model's arrival."""
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return 0


def default_models(infos: list[ModelInfo], directory: str | os.PathLike | None = None) -> dict[str, str | None]:
    """{kind: name} of the model a first visit opens, for each kind in KINDS.

    The registry declares them in DEFAULTS_FILE ({"mnist": "...", "fraud": "..."}); a kind whose
    declared model is absent or broken (or a registry that declares none) gets the valid model that
    has been in the registry longest (its folder's time; an import counts from its arrival), so
    training or importing a model never changes what a new visitor sees.
    """
    declared: dict[str, Any] = {}
    path = models_dir(directory) / DEFAULTS_FILE
    if path.is_file():
        try:
            declared = _read_json(path)
        except RegistryError:
            declared = {}
    chosen: dict[str, str | None] = {}
    for kind in KINDS:
        usable = [i for i in infos if i.valid and i.kind == kind]
        names = {i.name for i in usable}
        if declared.get(kind) in names:
            chosen[kind] = declared[kind]
        else:
            oldest = min(usable, key=lambda i: (_arrived(i.path), i.name), default=None)
            chosen[kind] = oldest.name if oldest else None
    return chosen


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
    settings.require_writable("save a model")
    validate_name(name)
    extra_files = extra_files or {}
    for extra in extra_files:
        if extra in REQUIRED_FILES or not re.fullmatch(r"[a-z_]+\.json", extra):
            raise RegistryError(f"Invalid extra file name {extra!r}.")
    root = ensure_models_dir(directory)
    remove_stale_work(root)
    final = root / name
    check_new_name(name, root)
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


def replace_json(name: str, file_name: str, payload: dict[str, Any],
                 directory: str | os.PathLike | None = None) -> Path:
    """Atomically replace one JSON file (metadata.json or a registered extra file) of the saved
    model `name`: written beside it, then renamed over it. Returns the file's path."""
    settings.require_writable("change a saved model")
    info = check_model(name, directory)
    if file_name != METADATA_FILE and file_name not in info.config.get("extra_files", []):
        raise RegistryError(f"Model {name!r} has no file {file_name!r} to replace.")
    target = info.path / file_name
    temporary = target.with_name(f".{file_name}.{os.getpid()}.part")
    try:
        _write_json(temporary, payload)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


@dataclass
class LoadedModel:
    """A model ready to use, with the JSON it was saved with. `vae` is a NumPy DenseVAE for dense
    models (no TensorFlow) and a Keras VAE for conv models."""

    name: str
    path: Path
    kind: str
    vae: VAE | DenseVAE
    config: dict[str, Any]
    metadata: dict[str, Any]
    extras: dict[str, dict[str, Any]]


def check_model(name: str, directory: str | os.PathLike | None = None) -> ModelInfo:
    """The registry entry `name` once its files and settings pass every check short of loading the
    Keras file (no TensorFlow needed); RegistryError saying what is missing or broken otherwise."""
    validate_name(name)
    folder = models_dir(directory) / name
    if not folder.is_dir():
        raise RegistryError(f"No model named {name!r} in {models_dir(directory)}. Run `python -m vae_core list` to see the models.")
    info = inspect_model(folder)
    if not info.valid:
        raise RegistryError(f"Model {name!r} is broken: {info.error}.")
    return info


def load_model(name: str, directory: str | os.PathLike | None = None) -> LoadedModel:
    """Load a registry entry for inference; broken folders raise RegistryError. Dense models are
    read into NumPy (vae_core.dense, no TensorFlow); conv models load with Keras safe_mode=True,
    which imports TensorFlow then."""
    info = check_model(name, directory)
    folder = info.path
    vae_config = VAEConfig.from_dict(info.config["vae_config"])
    vae = (load_dense_file(folder / MODEL_FILE, vae_config, name) if vae_config.architecture == "dense"
           else load_keras_file(folder / MODEL_FILE, name))
    extras = {file_name: _read_json(folder / file_name) for file_name in info.config.get("extra_files", [])}
    return LoadedModel(name, folder, info.config["kind"], vae, info.config, info.metadata, extras)


def load_dense_file(path: Path, vae_config: VAEConfig, name: str) -> DenseVAE:
    """A dense VAE's weights from its checked `.keras` file, as a NumPy DenseVAE (nothing in the file
    is deserialised: h5py reads the arrays); errors for people."""
    from vae_core.dense import DenseVAE

    try:
        return DenseVAE.load(path, vae_config, name="vae")
    except ConfigError as exc:
        raise RegistryError(f"Model {name!r} could not be loaded: {exc}") from exc
    except (OSError, KeyError, IndexError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        raise RegistryError(f"Model {name!r} could not be loaded: {MODEL_FILE} is damaged ({exc}).") from exc


def load_keras_file(path: Path, name: str) -> VAE:
    """Keras's load with safe_mode=True (no Python code from the file runs); errors for people.
    Imports TensorFlow (quietly, see vae_core.tf_import)."""
    from vae_core.tf_import import import_tensorflow

    import_tensorflow()
    import keras

    import vae_core.model  # registers the VAE classes with Keras

    try:
        vae = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for damaged or unsafe files
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise RegistryError(f"Model {name!r} was refused: it holds Python code (such as a Lambda layer), "
                                "which could run anything on this machine, so it is never loaded "
                                "(Keras safe_mode). Use models trained or exported by VAE Latent Explorer.") from exc
        first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise RegistryError(f"Model {name!r} could not be loaded: {first_line}") from exc
    if not isinstance(vae, vae_core.model.VAE):
        raise RegistryError(f"Model {name!r} is not a VAE Latent Explorer model.")
    return vae


def rename_model(name: str, new_name: str, directory: str | os.PathLike | None = None) -> Path:
    """Give the saved model `name` the name `new_name`: its folder renamed in one step, never over
    another model (RegistryError saying why for a taken or invalid name). A kind whose declared
    default (DEFAULTS_FILE) it was keeps it as its default under the new name. Returns the new folder."""
    settings.require_writable("rename a model")
    validate_name(name)
    root = models_dir(directory)
    folder = root / name
    if not folder.is_dir():
        raise RegistryError(f"No model named {name!r} in {root}.")
    check_new_name(new_name, root)
    final = root / new_name
    try:
        os.rename(folder, final)  # fails onto a non-empty folder: a model saved meanwhile is kept
    except FileNotFoundError as exc:
        raise RegistryError(f"No model named {name!r} in {root}; someone else renamed or deleted it.") from exc
    except OSError as exc:
        raise RegistryError(f"A model named {new_name!r} was saved by someone else meanwhile; choose another name.") from exc
    _follow_rename_in_defaults(root / DEFAULTS_FILE, name, new_name)
    return final


def _follow_rename_in_defaults(path: Path, name: str, new_name: str) -> None:
    """Point DEFAULTS_FILE's kinds that declare `name` at `new_name` (replaced atomically; an absent
    or unreadable file is left as it is: default_models then falls back by its own rule)."""
    try:
        declared = _read_json(path)
    except RegistryError:
        return
    if name not in declared.values():
        return
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    _write_json(partial, {kind: new_name if chosen == name else chosen for kind, chosen in declared.items()})
    os.replace(partial, path)


def delete_model(name: str, directory: str | os.PathLike | None = None) -> None:
    """Remove a model folder: renamed away first, so it vanishes from listings at once."""
    settings.require_writable("delete a model")
    validate_name(name)
    root = models_dir(directory)
    folder = root / name
    if not folder.is_dir():
        raise RegistryError(f"No model named {name!r} in {root}.")
    trash = root / f".deleting-{name}-{uuid.uuid4().hex[:8]}"
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
