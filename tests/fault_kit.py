"""Shared tools for the reliability, security and concurrency tests: registry snapshots, CLI runs,
hostile zips and CSVs. Plain functions; the fixtures they need come from app_fixtures.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from testkit.forgery import snapshot  # noqa: F401  (the fault tests' registry before and after)

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- the command line ------------------------------------------------------------------------------

def run_cli(*args, timeout: float = 300, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAE_OFFLINE": "1", **(env_extra or {})}
    env.pop("VAE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "vae_core", *map(str, args)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_cli_cases(cases: dict, template: Path, root: Path) -> dict:
    """{key: args(models, scratch) → list} → {key: (CompletedProcess, snapshot before, snapshot after)}.

    Each case runs against its own copy of the registry `template` (so before/after compares only
    what that case did), with a scratch folder for files; a few cases run at a time.
    """
    def job(index, key, make_args):
        def run():
            folder = root / f"{index:03d}-{''.join(c if c.isalnum() else '_' for c in key)}"
            shutil.copytree(template, folder / "models")
            (folder / "scratch").mkdir()
            before = snapshot(folder / "models")
            result = run_cli(*make_args(folder / "models", folder / "scratch"))
            return result, before, snapshot(folder / "models")
        return run

    return run_parallel({key: job(index, key, make_args) for index, (key, make_args) in enumerate(cases.items())})


def assert_one_clear_line(result: subprocess.CompletedProcess, fragment: str) -> None:
    """Failed with a single `error:` line that contains `fragment`, and no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert fragment in errors[0], errors[0]


# --- zips --------------------------------------------------------------------------------------------

def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def with_json(files: dict[str, bytes], name: str, change) -> dict[str, bytes]:
    """`files` with the JSON member `name` passed through `change(dict) -> dict`."""
    return {**files, name: json.dumps(change(json.loads(files[name]))).encode()}


def keras_file_with_config(model_keras: bytes, change) -> bytes:
    """A model.keras whose inner config.json went through `change(dict) -> dict` (weights unchanged)."""
    inner = members_of(model_keras)
    inner["config.json"] = json.dumps(change(json.loads(inner["config.json"]))).encode()
    return zip_of(inner, zipfile.ZIP_STORED)


def with_declared_sizes(data: bytes, sizes: dict[str, int]) -> bytes:
    """The zip `data` with the unpacked sizes its headers declare for some members changed (the
    bytes stay as they are): sizes beyond the real ones make a bomb on paper, smaller ones hide one."""
    raw = bytearray(data)
    position = 0
    while (position := raw.find(b"PK\x01\x02", position)) != -1:  # central directory entries
        name_length = int.from_bytes(raw[position + 28:position + 30], "little")
        name = raw[position + 46:position + 46 + name_length].decode()
        if name in sizes:
            size = sizes[name].to_bytes(4, "little")
            raw[position + 24:position + 28] = size
            local = int.from_bytes(raw[position + 42:position + 46], "little")
            raw[local + 22:local + 26] = size
        position += 46 + name_length
    return bytes(raw)


def encrypted_flag_zip(files: dict[str, bytes]) -> bytes:
    """A zip whose members claim to be encrypted (general-purpose flag bit 0)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    raw = bytearray(buffer.getvalue())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            raw[start + offset] |= 0x01
            start += 4
    return bytes(raw)


def zip_bomb(name: str = "bomb/model.keras", unpacked_mib: int = 600) -> bytes:
    """A real deflate bomb: `unpacked_mib` MiB of zeros in well under 1 MiB of zip."""
    buffer = io.BytesIO()
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", compresslevel=9) as archive:
        with archive.open(info, "w", force_zip64=True) as member:
            block = bytes(2**20)
            for _ in range(unpacked_mib):
                member.write(block)
    return buffer.getvalue()


# --- CSVs --------------------------------------------------------------------------------------------

HEADER = "a,b,Amount,Class"


def rows(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def bad_csvs() -> dict[str, tuple[bytes, str]]:
    """Bad transaction files → (bytes, a fragment every interface must show)."""
    good = [f"{i % 7}.5,{i % 3}.25,{i}.0,{int(i % 10 == 0)}" for i in range(60)]
    no_b = [f"{i % 7}.5,,{i}.0,{int(i % 10 == 0)}" for i in range(60)]
    return {
        "empty": (b"", "empty"),
        "binary junk": (bytes(range(256)) * 8, "binary data"),
        "gzip of junk": (gzip.compress(os.urandom(2000)), "gzip-compressed"),
        "xlsx (zip)": (zip_of({"xl/workbook.xml": b"<x/>"}), "ZIP archive"),
        "header only": (rows(HEADER), "header but no data rows"),
        "one row": (rows(HEADER, "1,2,3,0"), "both normal and positive rows"),
        "all-NaN column": (rows(HEADER, *no_b), "Column 'b'"),
        "+inf": (rows(HEADER, "1,inf,3,0", *good), "infinite"),
        "-inf": (rows(HEADER, "1,-inf,3,0", *good), "infinite"),
        "text in a numeric column": (rows(HEADER, *good, "1,abc,3,0"), "should hold numbers"),
        "three label values": (rows(HEADER, *good, "1,2,3,2"), "should hold two values"),
        "only frauds": (rows(HEADER, "1,2,3,1", "2,3,4,1"), "labelled positive"),
        "duplicated columns": (rows("a,a,Amount,Class", *good), "duplicated column names"),
        "enormous header": ((",".join(f"c{i}" for i in range(100_000)) + ",Class\n1,0\n").encode(),
                            "columns; a transactions table has at most"),
        "giant column name": (("x" * 300_000 + ",Class\n1,0\n").encode(), "KiB long in its first rows"),
        "not UTF-8": (rows(HEADER, *good, "1,2,3,0").replace(b"a,b", "\u00e9,b".encode("latin-1")), "not UTF-8"),
        "semicolons": (rows("a;b;Amount;Class", "1;2;3;0"), "separator is not a comma"),
        "no label column": (rows("a,b,Amount", "1,2,3"), "missing the column(s) 'Class'"),
        "negative amount": (rows(HEADER, *good, "1,2,-3,0"), "negative amounts"),
    }


# --- the dashboard -------------------------------------------------------------------------------------

APP = REPO_ROOT / "app.py"


def open_app(active: str | None = None, page: str | None = None):
    """A fresh AppTest session on app.py (optionally with an active model, on `page`)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    if active:
        at.query_params["model"] = active  # as a link naming the model would
    at.run()
    return at.switch_page(f"dashboard/pages/{page}.py").run() if page else at


def open_link(page: str, **params: str):
    """A new session opening a link to `page` with these query parameters, as a browser does."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=180)
    at.query_params.update(params)
    at.run()
    return at.switch_page(f"dashboard/pages/{page}.py").run()


def metric(at, label: str) -> str:
    """The value an st.metric with this label shows."""
    return next(m.value for m in at.metric if m.label == label)


def links(at, label: str) -> list:
    """The st.page_link elements on the page with this label (sidebar and page alike)."""
    return [link for link in at.get("page_link") if link.proto.label == label]


def follow(at, label: str, index: int = -1):
    """Click a page link as a browser does: open its page with its query string (AppTest cannot click
    links). `index` picks among links with the same label (default: the last, the page's own)."""
    from urllib.parse import parse_qsl

    link = links(at, label)[index]
    at.query_params.clear()
    at.query_params.update(dict(parse_qsl(link.proto.query_string)))
    page = link.proto.page or "home"
    return at.switch_page(f"dashboard/pages/{page}.py").run()


def shown_errors(at) -> list[str]:
    """The st.error texts on the page; fails on an uncaught exception (a traceback on screen)."""
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.error]


def run_parallel(jobs: dict, workers: int = 3) -> dict:
    """{key: callable} → {key: result}, run on a few threads (the CLI cases are mostly process start-up)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def explorer(at) -> tuple[dict, dict]:
    """The Fraud threshold explorer's JSON arguments and its unpacked arrays ("stops", "alerts", …)."""
    from dashboard.components.threshold_explorer import unpack

    element = next(e for e in at.get("component_instance") if "threshold_explorer" in e.proto.component_name)
    args = json.loads(element.proto.json_args)
    data = next(s.bytes for s in element.proto.special_args if s.key == "data")
    return args, unpack(data, args["layout"])


def explorer_stop(at, fraction: float) -> float:
    """The explorer's threshold stop `fraction` (0..1) of the way along its stops."""
    stops = explorer(at)[1]["stops"]
    return float(stops[int(fraction * (len(stops) - 1))])


def values(array) -> np.ndarray:
    """A Plotly figure array as NumPy (plain lists, or Plotly's base64 typed-array encoding)."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)
