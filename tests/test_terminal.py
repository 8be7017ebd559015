"""`streamlit run app.py` as the README starts it, with the project's .streamlit/config.toml: it
watches no files (a virtual environment inside the project is thousands of folders; Streamlit's
default watcher watched app.py's folder recursively and printed "Inotify queue overflowed"), and
its terminal shows Streamlit's address and nothing else, TensorFlow's start-up lines included."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from app_fixtures import MNIST_MODEL, app_data_dir, trained_models_dir  # noqa: F401
from testkit.stream import StreamSession
from testkit.browser import free_port
from fault_kit import REPO_ROOT


def inotify_watches(pid: int) -> int:
    """How many inotify watches process `pid` holds (Linux /proc)."""
    count = 0
    for fdinfo in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            count += fdinfo.read_text().count("inotify wd:")
        except OSError:
            continue
    return count


def test_the_server_watches_no_files_and_its_terminal_stays_quiet(trained_models_dir, app_data_dir, tmp_path):
    project = tmp_path / "project"  # the project as a person has it, with a virtual environment inside
    project.mkdir()
    shutil.copy(REPO_ROOT / "app.py", project)
    shutil.copytree(REPO_ROOT / ".streamlit", project / ".streamlit")
    shutil.copytree(REPO_ROOT / "dashboard", project / "dashboard", ignore=shutil.ignore_patterns("__pycache__"))
    for index in range(300):
        (project / ".venv" / "lib" / f"package{index}").mkdir(parents=True)
    port = free_port()
    env = {**os.environ, "VAE_MODELS_DIR": str(trained_models_dir), "VAE_DATA_DIR": str(app_data_dir),
           "VAE_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    log = tmp_path / "terminal.txt"
    with open(log, "w") as terminal:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                                   "--server.port", str(port)], cwd=project, env=env, stdout=terminal,
                                  stderr=subprocess.STDOUT)
    try:
        url = f"http://localhost:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        errors, watches = asyncio.run(_watched_while_open(url, project, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert errors == []
    assert watches == 0
    shown = [line.strip() for line in log.read_text().splitlines() if line.strip()]
    streamlit_lines = ("Uvicorn server started on", "You can now view your Streamlit app", "URL:", "Stopping...",
                       "default model(s) loaded in")  # the last: the dashboard's one line once it is warm
    assert shown and all(any(ok in line for ok in streamlit_lines) for line in shown), "\n".join(shown)


async def _watched_while_open(url: str, project: Path, pid: int) -> tuple[list[str], int]:
    """Open a model page (TensorFlow is imported) and, while the session is open (Streamlit watches
    files per session), write files into the virtual environment as pip or Python's byte-compiling
    would; (the page's errors, the server's inotify watches)."""
    async with StreamSession(url) as session:
        await session.open("decoder", f"model={MNIST_MODEL}")
        assert session.images(), "the decoder drew nothing"
        for index in range(300):
            for k in range(20):
                (project / ".venv" / "lib" / f"package{index}" / f"module{k}.pyc").write_bytes(b"x")
        await asyncio.sleep(2)
        return session.errors(), inotify_watches(pid)
