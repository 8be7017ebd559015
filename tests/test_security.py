"""Security: hostile model zips (engine, Models page, `import`), Keras safe_mode, no pickle anywhere,
names, upload limits and a server that listens on localhost only.

Every refused zip must leave the registry exactly as it was: every file's bytes are compared before
and after, hidden work folders included.
"""

from __future__ import annotations

import ast
import re
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from fault_kit import (REPO_ROOT, assert_one_clear_line, encrypted_flag_zip, keras_file_with_config, members_of,
                       open_app, run_cli, run_cli_cases, shown_errors, snapshot, with_declared_sizes, with_json,
                       zip_bomb, zip_of)
from vae_core import archive, registry, sources
from vae_core import settings as server_settings
from vae_core.errors import RegistryError

SOURCES = [*(REPO_ROOT / "vae_core").rglob("*.py"), *(REPO_ROOT / "dashboard").rglob("*.py"), REPO_ROOT / "app.py"]


# --- hostile zips ---------------------------------------------------------------------------------

def _keras_bytes(tmp_path: Path, build) -> bytes:
    import keras

    path = tmp_path / "other.keras"
    build(keras).save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def zip_cases(trained_models_dir, tmp_path_factory) -> dict[str, tuple[bytes, str | None, str]]:
    """case → (zip bytes, name typed for the import or None, what the error must say)."""
    tmp = tmp_path_factory.mktemp("zips")
    exported = members_of(archive.export_zip(MNIST_MODEL, trained_models_dir))
    files = {f"imported/{path.split('/', 1)[1]}": data for path, data in exported.items()}
    top_level = {path.split("/", 1)[1]: data for path, data in files.items()}
    model = "imported/model.keras"
    config = "imported/config.json"
    lambda_model = _keras_bytes(tmp, lambda keras: keras.Sequential(
        [keras.Input((784,)), keras.layers.Lambda(lambda x: x * 2.0)]))
    dense_model = _keras_bytes(tmp, lambda keras: keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))

    def latent(value):
        return lambda c: {**c, "vae_config": {**c["vae_config"], "latent_dim": value}}

    def inner_latent(value):
        return lambda c: {**c, "config": {**c["config"], "vae_config": {**c["config"]["vae_config"], "latent_dim": value}}}

    many = {**files, **{f"imported/extra_{i}.json": b"{}" for i in range(70)}}
    return {
        "not a zip": (b"this is not a zip", None, "not a zip archive"),
        "empty zip": (zip_of({}), None, "The zip is empty"),
        "zip bomb (600 MiB of zeros)": (zip_bomb("imported/model.keras", 600), None, "would unpack to 600 MiB"),
        "bomb on paper (declared 3 x 200 MiB)": (
            with_declared_sizes(zip_of({**files, "imported/a_a.json": b"{}", "imported/b_b.json": b"{}"}),
                                {"imported/a_a.json": 200 * 2**20, "imported/b_b.json": 200 * 2**20,
                                 model: 200 * 2**20}), None, "more than 512 MiB"),
        "oversize member (declared 300 MiB)": (with_declared_sizes(zip_of(files), {config: 300 * 2**20}), None,
                                               "more than the 256 MiB"),
        "hidden bomb (size under-declared)": (with_declared_sizes(zip_of(files), {model: 1000}), None, "is damaged"),
        "absolute path": (zip_of({**files, "/etc/cron.d/evil.json": b"{}"}), None, "unsafe path"),
        "parent path": (zip_of({**files, "imported/../../evil.json": b"{}"}), None, "unsafe path"),
        "backslash parent path": (zip_of({**files, "imported\\..\\..\\evil.json": b"{}"}), None, "unsafe path"),
        "drive path": (zip_of({"C:/imported/model.keras": files[model]}), None, "unsafe path"),
        "missing metadata.json": (zip_of({k: v for k, v in files.items() if not k.endswith("metadata.json")}),
                                  None, "lacks metadata.json"),
        "missing model.keras": (zip_of({k: v for k, v in files.items() if k != model}), None, "lacks model.keras"),
        "Lambda layer": (zip_of({**files, model: lambda_model}), None, "Lambda layer"),
        "another Keras model": (zip_of({**files, model: dense_model}), None, "holds a Keras Sequential"),
        "truncated model.keras": (zip_of({**files, model: files[model][:2000]}), None, "not a valid Keras file"),
        "unknown format version": (zip_of(with_json(files, config, lambda c: {**c, "format_version": 2})), None,
                                   "unsupported format version 2"),
        "no format version": (zip_of(with_json(files, config, lambda c: {k: v for k, v in c.items()
                                                                         if k != "format_version"})), None,
                              "no format_version"),
        "unknown kind": (zip_of(with_json(files, config, lambda c: {**c, "kind": "cifar"})), None,
                         "unknown model kind"),
        "deeply nested metadata": (zip_of({**files, "imported/metadata.json": b"[" * 100_000}), None,
                                   "metadata.json is corrupt"),
        "extra files not a list": (zip_of(with_json(files, config, lambda c: {**c, "extra_files": 5})), None,
                                   "invalid 'extra_files'"),
        "latent dim 0": (zip_of(with_json(files, config, latent(0))), None, "Latent dim must be"),
        "latent dim text": (zip_of(with_json(files, config, latent("two"))), None, "Latent dim must be"),
        "latent dim huge": (zip_of(with_json(files, config, latent(10**6))), None, "Latent dim must be"),
        "config disagrees with model": (zip_of(with_json(files, config, latent(3))), None, "does not match"),
        "model.keras settings invalid": (zip_of({**files, model: keras_file_with_config(files[model], inner_latent(-1))}),
                                         None, "model.keras has invalid VAE settings"),
        "name ../x": (zip_of(files), "../x", "Invalid model name"),
        "name .hidden": (zip_of(files), ".hidden", "Invalid model name"),
        "name too long": (zip_of(files), "x" * 65, "Invalid model name"),
        "no name, no folder": (zip_of(top_level), None, "no model folder name"),
        "folder name invalid": (zip_of({f"bad name!/{k}": v for k, v in top_level.items()}), None,
                                "Invalid model name"),
        "name taken": (zip_of(files), MNIST_MODEL, "already exists"),
        "two folders": (zip_of({**files, "other/model.keras": files[model]}), None, "one model folder"),
        "nested folder": (zip_of({**files, "imported/sub/x.json": b"{}"}), None, "one model folder"),
        "foreign file": (zip_of({**files, "imported/run.sh": b"rm -rf ~"}), None, "a model folder never has"),
        "duplicated member": (_duplicated(files, config), None, "more than once"),
        "encrypted": (encrypted_flag_zip(files), None, "is encrypted"),
        "too many files": (zip_of(many), None, "holds 73 files"),
        "nameless member": (zip_of({**files, "NAMELESS-MEMBER!": b"{}"}).replace(b"NAMELESS-MEMBER!", bytes(16)),
                            None, "without a name"),  # the name's bytes zeroed in both headers
    }


def _duplicated(files: dict[str, bytes], name: str) -> bytes:
    import io
    import warnings

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name, which is the point
        with zipfile.ZipFile(buffer, "w") as handle:
            for path, data in files.items():
                handle.writestr(path, data)
            handle.writestr(name, b'{"format_version": 1}')
    return buffer.getvalue()


ZIP_CASE_NAMES = [
    "not a zip", "empty zip", "zip bomb (600 MiB of zeros)", "bomb on paper (declared 3 x 200 MiB)",
    "oversize member (declared 300 MiB)", "hidden bomb (size under-declared)", "absolute path", "parent path",
    "backslash parent path", "drive path", "missing metadata.json", "missing model.keras", "Lambda layer",
    "another Keras model", "truncated model.keras", "unknown format version", "no format version", "unknown kind",
    "deeply nested metadata", "extra files not a list", "latent dim 0", "latent dim text", "latent dim huge",
    "config disagrees with model", "model.keras settings invalid", "name ../x", "name .hidden", "name too long", "no name, no folder",
    "folder name invalid", "name taken", "two folders", "nested folder", "foreign file", "duplicated member",
    "encrypted", "too many files", "nameless member",
]


@pytest.fixture()
def registry_copy(tmp_path, trained_models_dir) -> Path:
    import shutil

    shutil.copytree(trained_models_dir, tmp_path / "models")
    return tmp_path / "models"


def test_every_zip_case_is_listed(zip_cases):
    assert sorted(ZIP_CASE_NAMES) == sorted(zip_cases) and len(zip_cases) >= 30


@pytest.mark.parametrize("case", ZIP_CASE_NAMES)
def test_engine_refuses_hostile_zip(zip_cases, registry_copy, case):
    data, name, fragment = zip_cases[case]
    before = snapshot(registry_copy)
    with pytest.raises(RegistryError) as caught:
        archive.import_zip(data, name, registry_copy)
    assert fragment in str(caught.value)
    assert snapshot(registry_copy) == before


def test_engine_refuses_an_oversize_zip(monkeypatch, zip_cases, registry_copy):
    monkeypatch.setenv("VAE_MAX_ZIP_MB", "1")
    data = archive.export_zip(MNIST_MODEL, registry_copy)
    oversize = bytes(2**20 + 1 - len(data)) + data  # just over 1 MiB; importable but for its size (zip allows a prefix)
    before = snapshot(registry_copy)
    with pytest.raises(RegistryError, match="a model zip is at most 1 MiB"):
        archive.import_zip(oversize, "fresh-name", registry_copy)
    assert snapshot(registry_copy) == before


def test_models_page_shows_each_refused_zip(app_env, zip_cases, registry_copy):
    app_env(registry_copy)
    before = snapshot(registry_copy)
    at = open_app(page="models")
    missed = {}
    for case in ZIP_CASE_NAMES:
        data, name, fragment = zip_cases[case]
        at.file_uploader(key="models_upload").upload(f"{case}.zip", data, "application/zip").run()
        at.text_input(key="models_import_name").input(name or "").run()
        at.button(key="models_import").click().run()
        errors = shown_errors(at)
        if not any(e.startswith("Import failed") and fragment in e for e in errors):
            missed[case] = errors
        assert snapshot(registry_copy) == before, case
    assert not missed, missed


@pytest.fixture(scope="module")
def zip_cli_results(zip_cases, trained_models_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("zip_cli")
    cases = {}
    for case in ZIP_CASE_NAMES:
        data, name, _ = zip_cases[case]
        path = root / f"{len(cases)}.zip"
        path.write_bytes(data)
        cases[case] = (lambda p, n: lambda m, s: ["import", "--zip", p, "--models-dir", m,
                                                  *(["--name", n] if n is not None else [])])(path, name)
    cases["a folder as the zip"] = lambda m, s: ["import", "--zip", s, "--models-dir", m]
    return run_cli_cases(cases, trained_models_dir, root / "runs")


@pytest.mark.parametrize("case", [*ZIP_CASE_NAMES, "a folder as the zip"])
def test_cli_import_refuses_hostile_zip(zip_cli_results, zip_cases, case):
    fragment = {"a folder as the zip": "is a folder"}.get(case)
    result, before, after = zip_cli_results[case]
    assert_one_clear_line(result, fragment or zip_cases[case][2])
    assert after == before


def test_cli_import_refuses_an_oversize_zip(registry_copy, tmp_path):
    oversize = tmp_path / "oversize.zip"
    with open(oversize, "wb") as handle:
        handle.truncate(2**20 + 1)  # just over the 1 MiB set below (sparse: costs no disk)
    before = snapshot(registry_copy)
    result = run_cli("import", "--zip", oversize, "--models-dir", registry_copy, env_extra={"VAE_MAX_ZIP_MB": "1"})
    assert_one_clear_line(result, "a model zip is at most 1 MiB")
    assert snapshot(registry_copy) == before


_PARTS = st.sampled_from(["imported", "model.keras", "config.json", "metadata.json", "fraud.json", "..", ".",
                          "", "/", "\\", "C:", "__MACOSX", ".DS_Store", "x" * 70, "ünï", "a b"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=st.dictionaries(st.lists(_PARTS, min_size=1, max_size=4).map("/".join),
                               st.binary(max_size=64), max_size=6),
       name=st.one_of(st.none(), st.sampled_from(["", "../x", "ok-name", "a/b", "x" * 65])))
def test_property_any_zip_is_refused_cleanly_and_writes_nothing_anywhere(registry_copy, members, name):
    """Arbitrary member names (absolute, '..', drive letters, NUL, hidden) and contents: always a
    RegistryError (no model can come of random bytes), never another exception, never a file written."""
    before = snapshot(registry_copy.parent)
    with pytest.raises(RegistryError):
        archive.import_zip(zip_of(members), name, registry_copy)
    assert snapshot(registry_copy.parent) == before


def test_cli_export_then_import_round_trips(registry_copy, tmp_path):
    from fault_kit import run_cli

    target = tmp_path / "digits.zip"
    assert run_cli("export", "--name", MNIST_MODEL, "--output", target, "--models-dir", registry_copy).returncode == 0
    imported = run_cli("import", "--zip", target, "--name", "digits-again", "--models-dir", registry_copy)
    assert imported.returncode == 0, imported.stderr
    assert registry.inspect_model(registry_copy / "digits-again").valid
    assert (registry_copy / "digits-again" / "model.keras").read_bytes() == \
        (registry_copy / MNIST_MODEL / "model.keras").read_bytes()


# --- safe loading -----------------------------------------------------------------------------------

def test_keras_safe_mode_refuses_a_lambda_layer(tmp_path, trained_models_dir):
    """The registry's Keras loader runs with safe_mode=True: a Lambda layer's Python code is refused
    with a message for people, where an unsafe load would have run it."""
    import keras

    path = tmp_path / "lambda.keras"
    path.write_bytes(_keras_bytes(tmp_path, lambda k: k.Sequential([k.Input((3,)), k.layers.Lambda(lambda x: x + 1.0)])))
    with pytest.raises(RegistryError) as caught:
        registry.load_keras_file(path, "lambda")
    message = str(caught.value)
    assert "Lambda layer" in message and "safe_mode" in message and "safe_mode=False" not in message
    assert keras.saving.load_model(path, safe_mode=False) is not None  # what safe_mode prevented


def test_a_lambda_model_folder_is_listed_as_broken_and_never_loaded(registry_copy, tmp_path):
    folder = registry_copy / MNIST_MODEL
    folder.joinpath("model.keras").write_bytes(_keras_bytes(
        tmp_path, lambda k: k.Sequential([k.Input((784,)), k.layers.Lambda(lambda x: x * 2.0)])))
    info = registry.inspect_model(folder)
    assert not info.valid and "Lambda layer" in info.error
    with pytest.raises(RegistryError, match="Lambda layer"):
        registry.load_model(MNIST_MODEL, registry_copy)


def _calls(tree: ast.AST, name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                yield node


def _keyword(call: ast.Call, name: str):
    return next((k.value.value for k in call.keywords if k.arg == name and isinstance(k.value, ast.Constant)), None)


def test_no_pickle_anywhere_in_the_source():
    """No module loads pickled data: no pickle/dill/joblib/shelve/marshal, no allow_pickle=True, no
    unsafe Keras loading. (multiprocessing pickles the training spec and progress messages between
    the server and its own spawned child: trusted data that never comes from a file or a user.)"""
    forbidden = re.compile(r"^\s*(import|from)\s+(c?pickle|_pickle|dill|cloudpickle|joblib|shelve|marshal)\b"
                           r"|allow_pickle\s*=\s*True|read_pickle|to_pickle|torch\.load|safe_mode\s*=\s*False"
                           r"|enable_unsafe_deserialization|yaml\.load\(|\beval\(|\bexec\(", re.MULTILINE)
    offenders = {str(path.relative_to(REPO_ROOT)): forbidden.findall(path.read_text()) for path in SOURCES}
    assert len(SOURCES) > 20
    assert not {path: found for path, found in offenders.items() if found}


def test_every_load_is_a_safe_load():
    """Every keras load passes safe_mode=True and every np.load passes allow_pickle=False."""
    keras_loads = numpy_loads = 0
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for call in _calls(tree, "load_model"):
            if isinstance(call.func, ast.Attribute) and "keras" in ast.unparse(call.func):
                keras_loads += 1
                assert _keyword(call, "safe_mode") is True, f"{path}: {ast.unparse(call)}"
        for call in _calls(tree, "load"):
            if isinstance(call.func, ast.Attribute) and ast.unparse(call.func.value) in ("np", "numpy"):
                numpy_loads += 1
                assert _keyword(call, "allow_pickle") is False, f"{path}: {ast.unparse(call)}"
    assert keras_loads >= 1 and numpy_loads >= 1


# --- names ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "", "a/b", "..", ".", ".hidden", "x" * 65, "spa ce", "nul\0", "C:x",
                                  "-leading", "../../etc/passwd", "name\n"])
def test_every_registry_entry_point_refuses_unsafe_names(registry_copy, name):
    before = snapshot(registry_copy.parent)  # the registry and what lies beside it
    for call in (lambda: registry.load_model(name, registry_copy), lambda: registry.delete_model(name, registry_copy),
                 lambda: archive.export_zip(name, registry_copy), lambda: registry.validate_name(name)):
        with pytest.raises(RegistryError, match="Invalid model name"):
            call()
    assert snapshot(registry_copy.parent) == before


# --- server settings ----------------------------------------------------------------------------------

def _config() -> dict:
    return tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())


def test_config_keeps_the_server_local_with_upload_limits():
    config = _config()
    assert config["server"]["address"] == "localhost"
    ceiling = server_settings.UPLOAD_CEILING_MB
    assert config["server"]["maxUploadSize"] == ceiling == sources.MAX_UPLOAD_MB
    # Neither upload setting can be set above what the server itself lets through, nor defaults above it.
    assert all(server_settings._NUMBERS[name][3] == ceiling for name in ("max_csv_mb", "max_zip_mb"))
    defaults = server_settings.Settings()
    assert defaults.max_zip_mb <= ceiling and defaults.max_csv_mb <= ceiling
    assert config["server"].get("enableXsrfProtection", True) and config["server"].get("enableCORS", True)
    assert config["client"]["showErrorDetails"] == "none"  # no stack traces in the browser
    readme = (REPO_ROOT / "README.md").read_text()
    assert "localhost" in readme and "--server.address 0.0.0.0" in readme  # how to expose it, deliberately


def test_uploaders_carry_the_limits(app_env, trained_models_dir, monkeypatch):
    app_env(trained_models_dir)
    monkeypatch.setenv("VAE_MAX_ZIP_MB", "3")
    monkeypatch.setenv("VAE_MAX_CSV_MB", "4")
    at = open_app(page="models")
    assert at.file_uploader(key="models_upload").proto.max_upload_size_mb == 3
    at = open_app(active=FRAUD_MODEL, page="threshold")
    at.radio(key="fraud_view_data").set_value("upload").run()
    assert at.file_uploader(key="fraud_view_upload").proto.max_upload_size_mb == 4


def _listening(port: int) -> set[str]:
    """Local addresses of sockets listening on `port` (hex, as /proc/net/tcp{,6} write them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, state = fields[1], fields[3]
            if state == "0A" and int(address.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                found.add(address.rsplit(":", 1)[0])
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the socket table from /proc (Linux)")
def test_server_listens_on_loopback_only(tmp_path):
    """`streamlit run app.py` with the project's config binds 127.0.0.1 / ::1 and nothing else.

    (The upload size limit is enforced by the server per config.toml and by each uploader's
    max_upload_size, tested above; the engine repeats it for callers outside Streamlit.)"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"VAE_MODELS_DIR": str(tmp_path), "VAE_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.headless", "true"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.3)
        addresses = _listening(port)
        loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
        assert addresses and addresses <= loopback, addresses
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:  # and it serves there
            conn.sendall(b"GET /_stcore/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        server.terminate()
        server.wait(timeout=30)
