"""The install resolves on every desktop a data scientist uses: a resolver run for each platform's
wheel tags and environment markers finds binary wheels for every dependency (ours and theirs) at each
supported Python version. Needs PyPI; skipped, saying so, when it is unreachable.

The resolver is uv's (`uv pip compile --python-platform`), which resolves for another platform
natively in about a second of CPU; pip needs its marker environment patched for that and took ~18 s
of CPU per platform and version.
"""

from __future__ import annotations

import subprocess
import tomllib
import urllib.request

import pytest
from uv import find_uv_bin

from conftest import REPO_ROOT

# uv's target triples: manylinux_2_28 accepts wheels tagged manylinux_2_28 or older (manylinux2014 too).
PLATFORMS = {"Linux x86-64": "x86_64-manylinux_2_28", "Linux aarch64": "aarch64-manylinux_2_28",
             "macOS Apple silicon": "aarch64-apple-darwin", "macOS Intel": "x86_64-apple-darwin",
             "Windows x86-64": "x86_64-pc-windows-msvc"}
PYTHONS = ("3.11", "3.12", "3.13")
# TensorFlow publishes no wheels for Intel Macs after 2.16.2, and 2.16.2 needs protobuf < 5, which
# Streamlit 1.67 does not accept: the app cannot be installed there with these pins.
UNSUPPORTED = {"macOS Intel": "TensorFlow >= 2.17 has no Intel-Mac wheels; 2.16.2's protobuf < 5 conflicts "
                              "with Streamlit 1.67"}
PYPI = "https://pypi.org/simple"


def requirements() -> list[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"]


@pytest.fixture(scope="module")
def pypi() -> None:
    try:
        urllib.request.urlopen(f"{PYPI}/pip/", timeout=10).close()
    except OSError as exc:
        pytest.skip(f"PyPI is unreachable here ({exc}); the platform check needs it")


def _resolve(platform: str, python: str, folder, cache) -> subprocess.Popen:
    """The resolver for `platform` and `python`, started (it writes folder/pinned.txt). It needs no
    interpreter of that version: without --no-python-downloads uv spends ~10 s failing to fetch one."""
    (folder / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    return subprocess.Popen(
        [find_uv_bin(), "pip", "compile", "--no-config", "--quiet", "--no-python-downloads", "--index-url", PYPI, "--cache-dir", str(cache),
         "--python-platform", PLATFORMS[platform], "--python-version", python, "--only-binary", ":all:",
         "--no-header", "--no-annotate", str(folder / "requirements.txt"), "--output-file", str(folder / "pinned.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def resolutions(pypi, tmp_path_factory) -> dict[tuple[str, str], tuple[int, str, object]]:
    """(platform, python) → (the resolver's exit status, its stderr, its output folder), every
    supported platform and Python resolved at once (the resolver mostly waits on the index)."""
    cache = tmp_path_factory.mktemp("uv-cache")
    started = {}
    for platform in PLATFORMS:
        for python in PYTHONS:
            if platform not in UNSUPPORTED:
                folder = tmp_path_factory.mktemp("resolve")
                started[platform, python] = (_resolve(platform, python, folder, cache), folder)
    results = {}
    for key, (process, folder) in started.items():
        _, stderr = process.communicate(timeout=600)
        results[key] = (process.returncode, stderr, folder)
    return results


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_the_install_resolves(resolutions, platform, python):
    if platform in UNSUPPORTED:
        pytest.xfail(UNSUPPORTED[platform])
    returncode, stderr, folder = resolutions[platform, python]
    assert returncode == 0, f"{platform}, Python {python}:\n{stderr[-3000:]}"
    chosen = dict(line.split("==") for line in (folder / "pinned.txt").read_text().splitlines() if "==" in line)
    tensorflow = chosen.get("tensorflow-cpu") or chosen.get("tensorflow")
    assert tensorflow and chosen["keras"] == "3.15.1" and chosen["streamlit"] == "1.67.0", chosen


def test_requires_python_is_the_oldest_version_that_resolves():
    """pip refuses the install on an older Python instead of failing to resolve its dependencies."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={min(PYTHONS, key=lambda v: tuple(map(int, v.split('.'))))}"
