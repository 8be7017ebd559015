"""Server settings (vae_core.settings): where they come from and what a bad one says; viewer mode
(every write refused in the engine, the CLI and the pages, the registry left byte for byte as it
was); the training queue with real training processes; the uploaders' limits.

The queue test runs real, tiny trainings (hidden layer of 32, 600 digits, 1 epoch) one after the
other, as a server with VAE_MAX_TRAININGS=1 does.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from app_fixtures import (FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, models_copy,  # noqa: F401
                          trained_models_dir)
from conftest import write_mnist_idx
from dashboard.presentation import VIEW_ONLY_NOTE
from fault_kit import assert_one_clear_line, open_app, run_cli, shown_errors, snapshot
from vae_core import archive, jobs, registry, settings
from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError, ReadOnlyError

SETTING_VARIABLES = (settings.CONFIG_ENV, settings.MODE_ENV, *(v[0] for v in settings._NUMBERS.values()))
PAGES = ("home", "train", "models", "latent", "decoder", "threshold", "compare", "elbo")
TIMEOUT = 300  # seconds: two shared CPU cores; a training process imports TensorFlow (~5-40 s under load)


@pytest.fixture(autouse=True)
def no_server_settings(monkeypatch):
    """Each test starts from the defaults: none of the settings' variables set, no VAE_CONFIG."""
    for variable in SETTING_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def config_file(tmp_path: Path, text: str, name: str = "server.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- where the settings come from ---------------------------------------------------------------

def test_defaults_without_environment_or_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no vae-explorer.toml here
    current = settings.current()
    assert current == settings.Settings()
    assert current.mode == "full" and not current.viewer
    assert (current.max_csv_mb, current.max_zip_mb) == (300, 256)
    assert current.max_trainings >= 1


def test_settings_from_the_environment(monkeypatch):
    for variable, value in (("VAE_MODE", " Viewer "), ("VAE_MAX_TRAININGS", "3"), ("VAE_MAX_CSV_MB", "12"),
                            ("VAE_MAX_ZIP_MB", "7"), ("VAE_MAX_SCORE_ROWS", "5000"), ("VAE_MAX_SESSIONS", "0")):
        monkeypatch.setenv(variable, value)
    current = settings.current()
    assert current.viewer and current.mode == "viewer"
    assert (current.max_trainings, current.max_csv_mb, current.max_zip_mb, current.max_score_rows,
            current.max_sessions) == (3, 12, 7, 5000, 0)


SERVER_TABLE = """
[server]
mode = "viewer"
max_trainings = 2
max_csv_mb = 40
max_zip_mb = 30
max_score_rows = 1000
max_sessions = 4
"""


def test_settings_from_the_file_named_by_VAE_CONFIG(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CONFIG", str(config_file(tmp_path, "[other]\nx = 1\n" + SERVER_TABLE)))
    current = settings.current()
    assert current.viewer
    assert (current.max_trainings, current.max_csv_mb, current.max_zip_mb, current.max_score_rows,
            current.max_sessions) == (2, 40, 30, 1000, 4)


def test_vae_explorer_toml_in_the_working_directory_is_read_without_VAE_CONFIG(tmp_path, monkeypatch):
    config_file(tmp_path, '[server]\nmode = "viewer"\nmax_zip_mb = 9\n', name=settings.CONFIG_FILE)
    monkeypatch.chdir(tmp_path)
    assert settings.config_path() == Path(settings.CONFIG_FILE)
    current = settings.current()
    assert current.viewer and current.max_zip_mb == 9 and current.max_csv_mb == 300  # the rest: defaults


def test_the_environment_wins_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CONFIG", str(config_file(tmp_path, SERVER_TABLE)))
    monkeypatch.setenv("VAE_MODE", "full")
    monkeypatch.setenv("VAE_MAX_TRAININGS", "5")
    current = settings.current()
    assert not current.viewer and current.max_trainings == 5
    assert current.max_csv_mb == 40  # not set in the environment: the file's


def test_a_changed_file_is_read_again(tmp_path, monkeypatch):
    path = config_file(tmp_path, '[server]\nmode = "viewer"\n')
    monkeypatch.setenv("VAE_CONFIG", str(path))
    assert settings.current().viewer
    path.write_text('[server]\nmode = "full"\nmax_trainings = 4\n')
    assert not settings.current().viewer and settings.current().max_trainings == 4


# (where the bad value is, the setting, its value) → the message must name the setting
BAD_VALUES = {
    "mode admin (env)": ("env", "VAE_MODE", "admin"),
    "mode admin (file)": ("file", "mode", '"admin"'),
    "mode empty (file)": ("file", "mode", '""'),
    "max_trainings 0 (env)": ("env", "VAE_MAX_TRAININGS", "0"),
    "max_trainings two (env)": ("env", "VAE_MAX_TRAININGS", "two"),
    "max_trainings 1.5 (env)": ("env", "VAE_MAX_TRAININGS", "1.5"),
    "max_trainings true (env)": ("env", "VAE_MAX_TRAININGS", "true"),
    "max_trainings -1 (env)": ("env", "VAE_MAX_TRAININGS", "-1"),
    "max_trainings 0 (file)": ("file", "max_trainings", "0"),
    "max_trainings two (file)": ("file", "max_trainings", '"two"'),
    "max_trainings 1.5 (file)": ("file", "max_trainings", "1.5"),
    "max_trainings true (file)": ("file", "max_trainings", "true"),
    "max_trainings list (file)": ("file", "max_trainings", "[1]"),
    "max_csv_mb over the ceiling (env)": ("env", "VAE_MAX_CSV_MB", "301"),
    "max_zip_mb 0 (env)": ("env", "VAE_MAX_ZIP_MB", "0"),
    "max_zip_mb over the ceiling (file)": ("file", "max_zip_mb", "1000"),
    "max_score_rows 0 (file)": ("file", "max_score_rows", "0"),
    "max_sessions -1 (env)": ("env", "VAE_MAX_SESSIONS", "-1"),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_value_is_a_config_error_naming_the_setting_and_its_source(case, tmp_path, monkeypatch):
    where, setting, value = BAD_VALUES[case]
    if where == "env":
        monkeypatch.setenv(setting, value)
    else:
        path = config_file(tmp_path, f"[server]\n{setting} = {value}\n")
        monkeypatch.setenv("VAE_CONFIG", str(path))
    with pytest.raises(ConfigError) as caught:
        settings.current()
    message = str(caught.value)
    assert setting in message, message
    if where == "file":
        assert str(path) in message, message  # where to fix it


def test_an_unknown_setting_in_the_file_is_named(tmp_path, monkeypatch):
    path = config_file(tmp_path, "[server]\nmax_training = 2\n")  # a typo of max_trainings
    monkeypatch.setenv("VAE_CONFIG", str(path))
    with pytest.raises(ConfigError, match="unknown setting") as caught:
        settings.current()
    assert "max_training" in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("text", ["[server\nmode = 'viewer'\n", "[server]\nmode = viewer\n", "server = 3\n"])
def test_a_file_that_is_not_a_server_table_of_toml_is_named(text, tmp_path, monkeypatch):
    path = config_file(tmp_path, text)
    monkeypatch.setenv("VAE_CONFIG", str(path))
    with pytest.raises(ConfigError) as caught:
        settings.current()
    assert str(path) in str(caught.value)


def test_VAE_CONFIG_naming_a_missing_file_is_named(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.toml"
    monkeypatch.setenv("VAE_CONFIG", str(missing))
    with pytest.raises(ConfigError) as caught:
        settings.current()
    assert "VAE_CONFIG" in str(caught.value) and str(missing) in str(caught.value)


@pytest.mark.parametrize("kind", ["a folder", "not UTF-8"])
def test_VAE_CONFIG_naming_a_folder_or_a_binary_file_is_a_config_error(kind, tmp_path, monkeypatch):
    path = tmp_path if kind == "a folder" else tmp_path / "binary.toml"
    if kind == "not UTF-8":
        path.write_bytes(b'[server]\nmode = "\xff"\n')
    monkeypatch.setenv("VAE_CONFIG", str(path))
    with pytest.raises(ConfigError) as caught:
        settings.current()
    assert str(path) in str(caught.value)


# --- viewer mode in the engine and the CLI --------------------------------------------------------

TINY = "tiny"


@pytest.fixture()
def viewer_registry(tmp_path, tiny_vae, monkeypatch) -> dict:
    """A registry holding one real model and a real export of it; then the server turns view-only."""
    models = tmp_path / "models"
    registry.save_model(tiny_vae, TINY, kind="mnist", metadata={"dataset": "mnist"}, directory=models)
    exported = archive.export_zip(TINY, models)
    monkeypatch.setenv("VAE_MODE", "viewer")
    return {"models": models, "zip": exported}


def _writes(models: Path, exported: bytes, tiny_vae) -> dict:
    spec = jobs.TrainingSpec.training("mnist", "never-trained", VAEConfig(hidden_units=(32,)), TrainConfig(epochs=1),
                                      {"choice": "auto"}, str(models))
    return {
        "delete": lambda: registry.delete_model(TINY, models),
        "rename": lambda: registry.rename_model(TINY, "renamed", models),
        "save": lambda: registry.save_model(tiny_vae, "another", kind="mnist", metadata={"dataset": "mnist"},
                                            directory=models),
        "replace json": lambda: registry.replace_json(TINY, registry.METADATA_FILE, {"dataset": "changed"}, models),
        "import zip": lambda: archive.import_zip(exported, "imported", models),
        "start training": lambda: jobs.start(spec),
    }


WRITES = ("delete", "rename", "save", "replace json", "import zip", "start training")


@pytest.mark.parametrize("write", WRITES)
def test_viewer_mode_refuses_each_write_and_leaves_the_registry_as_it_was(write, viewer_registry, tiny_vae):
    models = viewer_registry["models"]
    before = snapshot(models)
    with pytest.raises(ReadOnlyError) as caught:
        _writes(models, viewer_registry["zip"], tiny_vae)[write]()
    assert "view-only" in str(caught.value) and "VAE_MODE=viewer" in str(caught.value)
    assert snapshot(models) == before


def test_viewer_mode_still_reads(viewer_registry):
    models = viewer_registry["models"]
    assert [(i.name, i.valid) for i in registry.list_models(models)] == [(TINY, True)]
    assert archive.export_zip(TINY, models) == viewer_registry["zip"]


def test_full_mode_does_each_write(viewer_registry, tiny_vae, monkeypatch):
    """The same calls, with the mode back to full, change the registry (so the test above can fail)."""
    monkeypatch.setenv("VAE_MODE", "full")
    models = viewer_registry["models"]
    writes = _writes(models, viewer_registry["zip"], tiny_vae)
    writes["delete"] = lambda: registry.delete_model("renamed", models)  # after the rename
    for write in ("replace json", "save", "import zip", "rename", "delete"):
        before = snapshot(models)
        writes[write]()
        assert snapshot(models) != before, write
    assert sorted(i.name for i in registry.list_models(models)) == ["another", "imported"]


def test_cli_delete_in_viewer_mode_prints_one_clear_line_and_deletes_nothing(viewer_registry):
    models = viewer_registry["models"]
    before = snapshot(models)
    result = run_cli("delete", "--name", TINY, "--models-dir", models, env_extra={"VAE_MODE": "viewer"})
    assert_one_clear_line(result, "view-only")
    assert snapshot(models) == before


def test_cli_delete_with_a_broken_setting_names_it_and_deletes_nothing(viewer_registry):
    models = viewer_registry["models"]
    before = snapshot(models)
    result = run_cli("delete", "--name", TINY, "--models-dir", models,
                     env_extra={"VAE_MODE": "full", "VAE_MAX_TRAININGS": "0"})
    assert_one_clear_line(result, "VAE_MAX_TRAININGS")
    assert snapshot(models) == before


# --- the training queue, with real training processes ----------------------------------------------

@pytest.fixture()
def digits(tmp_path, bundled_digits) -> Path:
    """600 training and 100 test digits as the four MNIST IDX files."""
    return write_mnist_idx(tmp_path / "data" / "mnist", bundled_digits, 600, 100)


def _spec(name: str, models: Path, digits: Path) -> jobs.TrainingSpec:
    return jobs.TrainingSpec.training("mnist", name, VAEConfig(hidden_units=(32,)),
                                      TrainConfig(epochs=1, batch_size=64, early_stopping_patience=0),
                                      {"choice": "path", "path": str(digits)}, str(models))


def _wait(condition, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _active(job: jobs.TrainingJob) -> bool:
    """Holding a training process: a pid and status starting or running."""
    return job.snapshot().status in ("starting", "running") and job.pid is not None


class _Watcher(threading.Thread):
    """Samples every job many times a second: which hold a training process, and each one's queue
    positions as they change. A job counts as training at a moment when two passes in a row saw it
    so (one pass reads the jobs one after another, so a job that just finished may still look
    running in it while the next one starts)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.jobs: dict[str, jobs.TrainingJob] = {}
        self.stop = threading.Event()
        self.overlaps: list[set[str]] = []
        self.ever_active: set[str] = set()
        self.positions: dict[str, list[int]] = {}
        self.queued_with_pid: list[str] = []

    def add(self, **named: jobs.TrainingJob) -> None:
        self.jobs = {**self.jobs, **named}

    def run(self) -> None:
        previous: set[str] = set()
        while not self.stop.is_set():
            active = set()
            for name, job in self.jobs.items():
                snap, pid = job.snapshot(), job.pid
                if snap.status in ("starting", "running") and pid is not None:
                    active.add(name)
                if snap.status == "queued":
                    if pid is not None:
                        self.queued_with_pid.append(name)
                    seen = self.positions.setdefault(name, [])
                    if not seen or seen[-1] != snap.queue_position:
                        seen.append(snap.queue_position)
            both = active & previous
            if len(both) > 1:
                self.overlaps.append(both)
            self.ever_active |= both
            previous = active
            time.sleep(0.02)


def test_the_queue_runs_one_training_at_a_time_first_come_first_served(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MAX_TRAININGS", "1")
    assert not jobs._SLOTS.running and not jobs._SLOTS.waiting, "another test left a training in the queue"
    monkeypatch.setattr(jobs._SLOTS, "durations", [])  # no training has finished in this server yet
    models = tmp_path / "models"
    watcher = _Watcher()
    started: list[jobs.TrainingJob] = []

    def start(name: str, **options) -> jobs.TrainingJob:
        job = jobs.start(_spec(name, models, digits), **options)
        started.append(job)
        watcher.add(**{name: job})
        return job

    try:
        first, second, third = start("q-first"), start("q-second"), start("q-third")
        watcher.start()
        _wait(lambda: second.snapshot().status == third.snapshot().status == "queued", "two jobs are queued",
              timeout=30)
        assert _active(first) and not first.snapshot().finished
        assert (second.snapshot().queue_position, third.snapshot().queue_position) == (1, 2)
        assert second.pid is None and third.pid is None
        # Nothing has finished and the running job has not measured its pace: no estimate yet.
        assert math.isnan(second.snapshot().queue_eta_seconds)

        # Many more, quickly: each gets the next place in line, in the order they came.
        fillers = [start(f"q-filler-{i}") for i in range(8)]
        _wait(lambda: all(f.snapshot().status == "queued" for f in fillers), "the fillers are queued", timeout=30)
        assert [f.snapshot().queue_position for f in fillers] == list(range(3, 11))
        for filler in fillers:
            filler.cancel()

        # Cancel while queued: it ends at once, without a process, and saves nothing.
        third.cancel()
        assert third.join(timeout=10), "a queued job did not leave the queue on cancel"
        cancelled = third.snapshot()
        assert cancelled.status == "cancelled" and third.pid is None and cancelled.saved_to is None
        assert not cancelled.owner_left
        assert all(f.join(timeout=10) and f.snapshot().status == "cancelled" and f.pid is None for f in fillers)

        # An owner gone (a closed tab) leaves the queue once ABANDON_AFTER_SECONDS have passed.
        gone = start("q-gone", owner_alive=lambda: False)
        later = start("q-later")
        _wait(lambda: gone.snapshot().status == later.snapshot().status == "queued", "two more are queued", timeout=30)
        assert not first.snapshot().finished, "the first training finished too soon to watch the queue"
        assert (second.snapshot().queue_position, gone.snapshot().queue_position,
                later.snapshot().queue_position) == (1, 2, 3)
        assert gone.join(timeout=jobs.ABANDON_AFTER_SECONDS + 30), "a job whose owner left stayed in the queue"
        left = gone.snapshot()
        assert left.status == "cancelled" and left.owner_left and gone.pid is None and left.saved_to is None

        # The first finishes; the second takes its slot; the last in line moves up and gets an estimate.
        assert first.join(timeout=TIMEOUT), "the first training did not finish"
        assert first.snapshot().status == "done", first.snapshot().error
        _wait(lambda: second.pid is not None, "the second training gets a process", timeout=30)
        _wait(lambda: later.snapshot().queue_position == 1, "the last job moves to the front", timeout=30)
        _wait(lambda: math.isfinite(later.snapshot().queue_eta_seconds), "a queued job has a wait estimate",
              timeout=10)
        waiting = later.snapshot()
        assert waiting.status == "queued" and later.pid is None and 0 <= waiting.queue_eta_seconds < 3600

        later.cancel()
        assert later.join(timeout=10) and later.snapshot().status == "cancelled" and later.pid is None
        assert second.join(timeout=TIMEOUT), "the second training did not finish"
        assert second.snapshot().status == "done", second.snapshot().error
    finally:
        for job in started:
            job.cancel()
        for job in started:
            job.join(timeout=60)
        watcher.stop.set()
        watcher.join(timeout=5)

    for name in ("q-first", "q-second"):
        assert (models / name).is_dir() and registry.inspect_model(models / name).valid
    assert sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) == ["q-first", "q-second"]
    assert watcher.overlaps == [], f"two trainings ran at once: {watcher.overlaps[:5]}"
    assert {"q-first", "q-second"} <= watcher.ever_active  # the watcher saw each of them train
    assert watcher.queued_with_pid == []
    assert watcher.positions["q-second"] == [1] and watcher.positions["q-third"] == [2]
    moved = watcher.positions["q-later"]  # 3, then 2 when q-gone left, then 1 when q-first finished
    assert moved[0] == 3 and moved[-1] == 1 and moved == sorted(moved, reverse=True), moved


def test_queue_text_wording():
    from dashboard.presentation import queue_text

    assert queue_text(1, 42, 5) == ("Queued: number 1 in line for a training slot (it is next) · starts in about "
                                    "0:42 · waiting 0:05")
    third = queue_text(3, 125.4, 61)
    assert third.startswith("Queued: number 3 in line for a training slot (2 ahead of it) · ")
    assert "starts in about 2:05" in third and third.endswith("waiting 1:01")
    unknown = queue_text(2, math.nan, 0)
    assert "nan" not in unknown.lower() and "starts in" not in unknown
    assert "the wait shows once a training ahead has measured its pace" in unknown and "(1 ahead of it)" in unknown


# --- the pages --------------------------------------------------------------------------------------

def _keys(at, kind: str) -> set[str]:
    return {element.key for element in at.get(kind) if getattr(element, "key", None)}


def _sidebar_links(at) -> list[str]:
    return [link.proto.label for link in at.sidebar.get("page_link")]


def _badges(at) -> list[str]:
    return [m.value for m in at.sidebar.markdown if "View only" in m.value]


@pytest.mark.parametrize("mode", ["viewer", "full"])
def test_sidebar_hides_train_and_shows_the_badge_in_viewer_mode(mode, app_env, trained_models_dir, monkeypatch):
    app_env(trained_models_dir)
    monkeypatch.setenv("VAE_MODE", mode)
    at = open_app()
    assert not shown_errors(at)
    links = _sidebar_links(at)
    assert {"Home", "Models", "Latent space", "Fraud threshold"} <= set(links), links
    if mode == "viewer":
        assert "Train" not in links and len(_badges(at)) == 1
    else:
        assert "Train" in links and not _badges(at)


@pytest.mark.parametrize("mode", ["viewer", "full"])
def test_viewer_mode_has_no_train_page_to_open(mode, app_env, trained_models_dir, monkeypatch):
    """The router does not register the Train page at all (so its address opens nothing either)."""
    app_env(trained_models_dir)
    monkeypatch.setenv("VAE_MODE", mode)
    at = open_app()
    if mode == "viewer":
        with pytest.raises(ValueError, match="train.py"):  # AppTest: no such navigation page
            at.switch_page("dashboard/pages/train.py")
    else:
        at.switch_page("dashboard/pages/train.py").run()
        assert [t.value for t in at.title] == ["Train a model"] and "train_start" in _keys(at, "button")


@pytest.mark.parametrize("mode", ["viewer", "full"])
def test_models_page_drops_rename_delete_and_import_in_viewer_mode(mode, app_env, models_copy, monkeypatch):
    (models_copy / "junk").mkdir()  # an unreadable folder: offered for deletion in full mode
    app_env(models_copy)
    monkeypatch.setenv("VAE_MODE", mode)
    before = snapshot(models_copy)
    at = open_app(page="models")
    assert not shown_errors(at)
    buttons, inputs = _keys(at, "button"), _keys(at, "text_input")
    uploaders = _keys(at, "file_uploader")
    note = [c.value for c in at.caption if c.value == VIEW_ONLY_NOTE]
    write_buttons = {"models_delete", "models_rename", "models_delete_broken_junk"}
    assert {"models_make_active"} <= buttons and "models_download" in _keys(at, "download_button")
    if mode == "viewer":
        assert not buttons & (write_buttons | {"models_import"}), buttons
        assert not [k for k in inputs if k.startswith("models_rename") or k == "models_import_name"], inputs
        assert "models_upload" not in uploaders and len(note) == 1
    else:
        assert write_buttons <= buttons and f"models_rename_{MNIST_MODEL}" in inputs and not note
        at.file_uploader(key="models_upload").upload("m.zip", archive.export_zip(MNIST_MODEL, models_copy),
                                                     "application/zip").run()
        assert "models_import" in _keys(at, "button")
    assert snapshot(models_copy) == before


@pytest.mark.parametrize("mode", ["viewer", "full"])
def test_lesson_pages_offer_no_training_in_viewer_mode(mode, app_env, trained_models_dir, monkeypatch):
    app_env(trained_models_dir)
    monkeypatch.setenv("VAE_MODE", mode)
    compare = open_app(active=MNIST_MODEL, page="compare")
    assert not shown_errors(compare)
    twin_buttons = {k for k in _keys(compare, "button") if k.startswith("compare_train_")}
    elbo = open_app(active=MNIST_MODEL, page="elbo")
    assert not shown_errors(elbo)
    sweep = "elbo_sweep_start" in _keys(elbo, "button")
    if mode == "viewer":
        assert not twin_buttons and VIEW_ONLY_NOTE in [c.value for c in compare.caption]
        assert not sweep and any("view-only" in c.value for c in elbo.caption)
    else:
        assert twin_buttons == {"compare_train_ae"} and sweep


@pytest.mark.parametrize("page", PAGES)
def test_a_broken_setting_is_one_error_on_every_page(page, app_env, trained_models_dir, monkeypatch):
    app_env(trained_models_dir)
    monkeypatch.setenv("VAE_MAX_TRAININGS", "0")
    at = open_app(page=page)
    errors = shown_errors(at)
    assert len(errors) == 1 and "VAE_MAX_TRAININGS" in errors[0], errors
    assert not at.get("page_link") and not _keys(at, "button")


def test_uploaders_carry_the_server_limits(app_env, trained_models_dir, monkeypatch):
    app_env(trained_models_dir)
    monkeypatch.setenv("VAE_MAX_CSV_MB", "5")
    monkeypatch.setenv("VAE_MAX_ZIP_MB", "7")
    at = open_app(page="models")
    assert at.file_uploader(key="models_upload").proto.max_upload_size_mb == 7
    at = open_app(active=FRAUD_MODEL, page="threshold")
    at.radio(key="fraud_view_data").set_value("upload").run()
    assert at.file_uploader(key="fraud_view_upload").proto.max_upload_size_mb == 5
    at = open_app(page="train")
    at.segmented_control(key="train_dataset").set_value("fraud").run()
    at.radio(key="train_fraud_source").set_value("upload").run()
    assert at.file_uploader(key="train_fraud_upload").proto.max_upload_size_mb == 5
