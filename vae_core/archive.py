"""Models as zip files: export a registry folder, import one safely.

An import is checked before anything lands in the registry: the zip's size, member names (no
absolute paths, no '..', no duplicates, one model folder, only the files a model folder holds),
declared sizes (each member and the total: a zip bomb stops before anything is unpacked), the
unpacked bytes themselves (zipfile stops at the declared size and checks the CRC), the folder's
JSON, and a full load with Keras `safe_mode=True`. Only then is the folder renamed into place,
never over an existing model. Never imports Streamlit.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from vae_core import registry, settings
from vae_core.errors import RegistryError
from vae_core.sources import HELDOUT_FILES

MAX_MEMBER_BYTES = 256 * 2**20
MAX_UNPACKED_BYTES = 512 * 2**20
MAX_MEMBERS = 64
# What save_model writes, and the held-out rows (with their licence) a fraud model may ship.
_MODEL_FOLDER_FILE = re.compile("|".join([r"model\.keras", r"[a-z_]+\.json", *map(re.escape, HELDOUT_FILES)]))


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
    text = info.filename.replace("\\", "/")
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", text):  # also C:/… drive paths
        raise RegistryError(f"The zip holds an unsafe path {info.filename!r}; it is not a model export.")
    return tuple(part for part in path.parts if part not in ("", "."))


def _plan(archive: zipfile.ZipFile) -> tuple[str | None, list[tuple[zipfile.ZipInfo, str]]]:
    """(top folder name or None, [(member, file name inside the model folder)]) after the safety checks."""
    if any(not m.filename for m in archive.infolist()):  # a crafted name (e.g. starting with NUL)
        raise RegistryError("The zip holds a file without a name; it is not a model export.")
    members = [m for m in archive.infolist() if not m.is_dir()]
    if not members:
        raise RegistryError("The zip is empty; export a model from the Models page to get a valid zip.")
    if len(members) > MAX_MEMBERS:
        raise RegistryError(f"The zip holds {len(members)} files; a model folder has only a few.")
    parts = [(m, _member_parts(m)) for m in members]
    for member in members:
        if member.flag_bits & 0x1:
            raise RegistryError(f"{member.filename!r} in the zip is encrypted; export the model again from the "
                                "Models page (exports have no password).")
        if member.file_size > MAX_MEMBER_BYTES:
            raise RegistryError(f"{member.filename!r} in the zip would unpack to {member.file_size / 2**20:,.0f} MiB, "
                                f"more than the {MAX_MEMBER_BYTES // 2**20} MiB a model file may have; it is not a model.")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise RegistryError(f"The zip would unpack to more than {MAX_UNPACKED_BYTES // 2**20} MiB; that is not a model.")
    # Skip what archivers add (macOS resource forks, .DS_Store): it is not part of the model.
    parts = [(m, p) for m, p in parts if p and not p[0].startswith("__MACOSX") and not p[-1].startswith(".")]
    tops = {p[0] for _, p in parts if len(p) > 1}
    if len(tops) == 1 and all(len(p) == 2 for _, p in parts):
        top, plan = tops.pop(), [(m, p[1]) for m, p in parts]
    elif all(len(p) == 1 for _, p in parts):
        top, plan = None, [(m, p[0]) for m, p in parts]
    else:
        raise RegistryError("The zip must hold one model folder (model.keras, config.json, metadata.json), "
                            "or those files at its top level.")
    inner = [name for _, name in plan]
    repeated = sorted({name for name in inner if inner.count(name) > 1})
    if repeated:
        raise RegistryError(f"The zip holds {', '.join(repeated)} more than once; it is not a model export.")
    foreign = [name for name in inner if not _MODEL_FOLDER_FILE.fullmatch(name)]
    if foreign:
        raise RegistryError(f"The zip holds {', '.join(map(repr, foreign[:5]))}, which a model folder never "
                            "has (only model.keras, .json files and shipped held-out rows); it is not a model export.")
    return top, plan


def _unpack(archive: zipfile.ZipFile, plan: list[tuple[zipfile.ZipInfo, str]], folder: Path) -> None:
    """Write the planned members into `folder`; a damaged or lying member raises RegistryError."""
    for member, inner in plan:
        try:
            with archive.open(member) as source, open(folder / inner, "wb") as sink:
                shutil.copyfileobj(source, sink)  # zipfile stops at the declared size and checks the CRC
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise RegistryError(f"{member.filename!r} in the zip is damaged ({exc}); download the export again.") from exc
        except (RuntimeError, NotImplementedError) as exc:  # e.g. an unsupported compression method
            raise RegistryError(f"{member.filename!r} in the zip cannot be unpacked ({exc}); export the "
                                "model again from the Models page.") from exc


def too_big(size: int, what: str) -> None:
    """RegistryError when a zip of `size` bytes is over this server's limit (setting max_zip_mb)."""
    limit_mb = settings.current().max_zip_mb
    if size > limit_mb * 2**20:
        raise RegistryError(f"{what} is {size / 2**20:,.1f} MiB; a model zip is at most {limit_mb} MiB on this server "
                            "(setting max_zip_mb).")


def _open(data: bytes, name: str | None,
          directory: str | os.PathLike | None) -> tuple[zipfile.ZipFile, list[tuple[zipfile.ZipInfo, str]], str, Path]:
    """(open archive, unpacking plan, model name, registry folder) once the zip's layout and the name
    pass; RegistryError saying what is wrong otherwise."""
    too_big(len(data), "The file")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError):
        raise RegistryError("That file is not a zip archive. Upload a .zip downloaded from the Models page.") from None
    try:
        top, plan = _plan(archive)
        name = (name or "").strip() or top
        if not name:
            raise RegistryError("The zip has no model folder name; enter a name for the imported model.")
        files = {inner for _, inner in plan}
        missing = [f for f in registry.REQUIRED_FILES if f not in files]
        if missing:
            raise RegistryError(f"The zip is not a model export: it lacks {', '.join(missing)}.")
        root = registry.ensure_models_dir(directory)
        registry.check_new_name(name, root)
    except BaseException:
        archive.close()
        raise
    return archive, plan, name, root


def check_zip(data: bytes, name: str | None = None, directory: str | os.PathLike | None = None) -> None:
    """RegistryError when zip `data` cannot be imported as `name` for a reason its layout or the name
    shows (no Keras needed; `import_zip` then checks the model itself)."""
    _open(data, name, directory)[0].close()


def import_zip(data: bytes, name: str | None = None, directory: str | os.PathLike | None = None) -> registry.ModelInfo:
    """Add the model in zip `data` to the registry as `name` (default: the zip's folder name).

    Raises RegistryError saying what is wrong with the zip, or that the name is taken; the
    registry is then unchanged.
    """
    settings.require_writable("import a model")
    archive, plan, name, root = _open(data, name, directory)
    with archive:
        registry.remove_stale_work(root)
        staging = Path(tempfile.mkdtemp(prefix=f".importing-{name}-", dir=root))
        try:
            folder = staging / name
            folder.mkdir()
            _unpack(archive, plan, folder)
            registry.load_model(name, staging)  # JSON and settings checks, then Keras safe_mode load
            try:
                os.rename(folder, root / name)
            except OSError as exc:
                raise RegistryError(f"A model named {name!r} appeared meanwhile; enter another name.") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return registry.inspect_model(root / name)
