"""The install resolves on every desktop a data scientist uses: pip's resolver, run for each
platform's wheel tags and environment markers, finds binary wheels for every dependency (ours and
theirs) at each supported Python version. Needs PyPI; skipped, saying so, when it is unreachable.

pip evaluates environment markers against the machine it runs on even with --platform, so the
resolver runs with the target's marker environment (the platform and Python named below).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import urllib.request

import pytest

from conftest import REPO_ROOT

_LINUX = ("manylinux_2_28_{arch}", "manylinux_2_27_{arch}", "manylinux_2_17_{arch}", "manylinux2014_{arch}")
PLATFORMS = {
    "Linux x86-64": ([t.format(arch="x86_64") for t in _LINUX], {"sys_platform": "linux", "platform_system": "Linux",
                                               "platform_machine": "x86_64", "os_name": "posix"}),
    "Linux aarch64": ([t.format(arch="aarch64") for t in _LINUX], {"sys_platform": "linux", "platform_system": "Linux",
                                                 "platform_machine": "aarch64", "os_name": "posix"}),
    "macOS Apple silicon": (["macosx_14_0_arm64"], {"sys_platform": "darwin", "platform_system": "Darwin",
                                                  "platform_machine": "arm64", "os_name": "posix"}),
    "macOS Intel": (["macosx_14_0_x86_64"], {"sys_platform": "darwin", "platform_system": "Darwin",
                                           "platform_machine": "x86_64", "os_name": "posix"}),
    "Windows x86-64": (["win_amd64"], {"sys_platform": "win32", "platform_system": "Windows",
                                     "platform_machine": "AMD64", "os_name": "nt"}),
}
PYTHONS = ("3.11", "3.12", "3.13")
# TensorFlow publishes no wheels for Intel Macs after 2.16.2, and 2.16.2 needs protobuf < 5, which
# Streamlit 1.67 does not accept: the app cannot be installed there with these pins.
UNSUPPORTED = {"macOS Intel": "TensorFlow >= 2.17 has no Intel-Mac wheels; 2.16.2's protobuf < 5 conflicts "
                              "with Streamlit 1.67"}
PYPI = "https://pypi.org/simple"

_RESOLVE = """
import json, sys
import pip._vendor.packaging.markers as markers

target = json.loads(sys.argv[1])
here = markers.default_environment
markers.default_environment = lambda: {**here(), **target}
from pip._internal.cli.main import main

sys.exit(main(sys.argv[2:]))
"""


def requirements() -> list[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"]


@pytest.fixture(scope="module")
def pypi() -> None:
    try:
        urllib.request.urlopen(f"{PYPI}/pip/", timeout=10).close()
    except OSError as exc:
        pytest.skip(f"PyPI is unreachable here ({exc}); the platform check needs it")


def _resolve(platform: str, python: str, folder) -> subprocess.Popen:
    """pip's resolver for `platform` and `python`, started (it writes folder/report.json)."""
    tags, markers = PLATFORMS[platform]
    environment = {**markers, "python_version": python, "python_full_version": f"{python}.0",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    return subprocess.Popen(
        [sys.executable, "-c", _RESOLVE, json.dumps(environment), "install", "--isolated", "--index-url", PYPI,
         "--dry-run", "--ignore-installed", "--target", str(folder / "target"), "--only-binary=:all:",
         *[f"--platform={tag}" for tag in tags], "--python-version", python, "--implementation", "cp",
         "--abi", f"cp{python.replace('.', '')}", "--quiet", "--report", str(folder / "report.json"),
         *requirements()],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def resolutions(pypi, tmp_path_factory) -> dict[tuple[str, str], tuple[int, str, object]]:
    """(platform, python) → (pip's exit status, its stderr, its report folder), every supported
    platform resolved at once (the resolver mostly waits on the index)."""
    started = {}
    for platform in PLATFORMS:
        for python in PYTHONS:
            if platform not in UNSUPPORTED:
                folder = tmp_path_factory.mktemp("resolve")
                started[platform, python] = (_resolve(platform, python, folder), folder)
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
    chosen = {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
              for item in json.loads((folder / "report.json").read_text())["install"]}
    tensorflow = chosen.get("tensorflow-cpu") or chosen.get("tensorflow")
    assert tensorflow and chosen["keras"] == "3.15.1" and chosen["streamlit"] == "1.67.0", chosen


def test_requires_python_is_the_oldest_version_that_resolves():
    """pip refuses the install on an older Python instead of failing to resolve its dependencies."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={min(PYTHONS, key=lambda v: tuple(map(int, v.split('.'))))}"
