"""Models as zip files: export a registry folder, import one safely.

An import is checked before anything lands in the registry: member names (no absolute paths, no
'..', one model folder), sizes (a zip bomb stops at MAX_UNPACKED_BYTES), the folder's JSON, and a
full load with Keras `safe_mode=True`. Only then is the folder renamed into place, never over an
existing model. Never imports Streamlit.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from vae_core import registry
from vae_core.errors import RegistryError

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 64


def export_zip(name: str, directory: str | os.PathLike | None = None) -> bytes:
    """The model folder `name` as zip bytes, its files under `name/`."""
    registry.validate_name(name)
    folder = registry.models_dir(directory) / name
    if not folder.is_dir():
        raise RegistryError(f"No model named {name!r} in {registry.models_dir(directory)}.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{name}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


def _member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    path = PurePosixPath(info.filename.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or info.filename.startswith("/"):
        raise RegistryError(f"The zip holds an unsafe path {info.filename!r}; it is not a model export.")
    return tuple(part for part in path.parts if part not in ("", "."))


def _plan(archive: zipfile.ZipFile) -> tuple[str | None, list[tuple[zipfile.ZipInfo, str]]]:
    """(top folder name or None, [(member, path inside the model folder)]) after the safety checks."""
    members = [m for m in archive.infolist() if not m.is_dir()]
    if not members:
        raise RegistryError("The zip is empty; export a model from the Models page to get a valid zip.")
    if len(members) > MAX_MEMBERS:
        raise RegistryError(f"The zip holds {len(members)} files; a model folder has only a few.")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise RegistryError(f"The zip would unpack to more than {MAX_UNPACKED_BYTES // 2**20} MiB; that is not a model.")
    parts = [_member_parts(m) for m in members]
    parts = [(m, p) for m, p in zip(members, parts) if p and not p[0].startswith("__MACOSX")]
    tops = {p[0] for _, p in parts if len(p) > 1}
    if len(tops) == 1 and all(len(p) > 1 for _, p in parts):
        return tops.pop(), [(m, "/".join(p[1:])) for m, p in parts]
    if all(len(p) == 1 for _, p in parts):
        return None, [(m, p[0]) for m, p in parts]
    raise RegistryError("The zip must hold one model folder (model.keras, config.json, metadata.json), "
                        "or those files at its top level.")


def import_zip(data: bytes, name: str | None = None, directory: str | os.PathLike | None = None) -> registry.ModelInfo:
    """Add the model in zip `data` to the registry as `name` (default: the zip's folder name).

    Raises RegistryError saying what is wrong with the zip, or that the name is taken.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise RegistryError("That file is not a zip archive. Upload a .zip downloaded from the Models page.") from None
    with archive:
        top, plan = _plan(archive)
        name = (name or "").strip() or top
        if not name:
            raise RegistryError("The zip has no model folder name; enter a name for the imported model.")
        registry.validate_name(name)
        files = {inner for _, inner in plan}
        missing = [f for f in registry.REQUIRED_FILES if f not in files]
        if missing:
            raise RegistryError(f"The zip is not a model export: it lacks {', '.join(missing)}.")
        root = registry.models_dir(directory)
        root.mkdir(parents=True, exist_ok=True)
        if (root / name).exists():
            raise RegistryError(f"A model named {name!r} already exists; enter another name for the import.")
        staging = Path(tempfile.mkdtemp(prefix=f".importing-{name}-", dir=root))
        try:
            folder = staging / name
            folder.mkdir()
            for member, inner in plan:
                target = folder / inner
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
            registry.load_model(name, staging)  # JSON checks, then Keras safe_mode load
            try:
                os.rename(folder, root / name)
            except OSError as exc:
                raise RegistryError(f"A model named {name!r} appeared meanwhile; enter another name.") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return registry.inspect_model(root / name)
