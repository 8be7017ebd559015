"""Storage faults: damaged model folders, a save killed half-way (a real SIGKILL), and two processes
saving one name at once. Listing shows only intact models as valid and every broken one with the
reason; evaluating or scoring a broken model fails cleanly, in the CLI and in the dashboard; no
model is lost or silently replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app_fixtures import (CONDITIONAL_MODEL, FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env,  # noqa: F401
                          trained_models_dir)
from fault_kit import REPO_ROOT, assert_one_clear_line, open_app, run_cli, run_parallel, shown_errors, snapshot
from vae_core import registry
from vae_core.errors import RegistryError

INTACT = (CONDITIONAL_MODEL, MNIST_MODEL, FRAUD_MODEL)


def _rewrite(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


# name → (model it is copied from, damage, reason that listing and loading give)
DAMAGE = {
    "m-truncated-model": (MNIST_MODEL, lambda f: (f / "model.keras").write_bytes((f / "model.keras").read_bytes()[:700]),
                          "model.keras is not a valid Keras file"),
    "m-empty-model": (MNIST_MODEL, lambda f: (f / "model.keras").write_bytes(b""), "model.keras is not a valid Keras file"),
    "m-corrupt-weights": (MNIST_MODEL, lambda f: _corrupt_member(f / "model.keras", "model.weights.h5"),
                          "model.keras is damaged"),
    "m-corrupt-config": (MNIST_MODEL, lambda f: (f / "config.json").write_text("{not json"), "config.json is corrupt"),
    "m-missing-config": (MNIST_MODEL, lambda f: (f / "config.json").unlink(), "missing config.json"),
    "m-config-not-object": (MNIST_MODEL, lambda f: (f / "config.json").write_text("[1, 2]"),
                            "config.json does not hold a JSON object"),
    "m-corrupt-metadata": (MNIST_MODEL, lambda f: (f / "metadata.json").write_bytes(b"\xff\xfe\x00junk"),
                           "metadata.json is corrupt"),
    "m-missing-metadata": (MNIST_MODEL, lambda f: (f / "metadata.json").unlink(), "missing metadata.json"),
    "m-future-format": (MNIST_MODEL, lambda f: _rewrite(f / "config.json", lambda c: {**c, "format_version": 7}),
                        "unsupported format version 7"),
    "m-settings-disagree": (MNIST_MODEL, lambda f: _rewrite(f / "config.json", lambda c: {
        **c, "vae_config": {**c["vae_config"], "hidden_units": [64]}}), "does not match"),
    "m-half-copied": (MNIST_MODEL, lambda f: [(f / n).unlink() for n in ("config.json", "metadata.json")],
                      "missing config.json, metadata.json"),
    "m-empty-folder": (MNIST_MODEL, lambda f: [p.unlink() for p in f.iterdir()],
                       "missing model.keras, config.json, metadata.json"),
    "f-missing-fraud-json": (FRAUD_MODEL, lambda f: (f / "fraud.json").unlink(), "fraud.json is missing"),
}
# Damage only loading can see (the JSON is well-formed): listed as valid, refused when used.
DAMAGE_IN_USE = {
    "f-incomplete-fraud-json": (FRAUD_MODEL, lambda f: _rewrite(f / "fraud.json", lambda c: {
        k: v for k, v in c.items() if k != "preprocessor"}), "incomplete or invalid fraud.json"),
    "f-inconsistent-fraud-json": (FRAUD_MODEL, lambda f: _rewrite(f / "fraud.json", lambda c: {
        **c, "preprocessor": {**c["preprocessor"], "center": c["preprocessor"]["center"][:5]}}),
                                  "inconsistent fraud.json"),
}


def _corrupt_member(path: Path, member: str) -> None:
    """Flip bytes inside one member of a zip without touching its headers: its CRC no longer matches."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 100
    raw[start:start + 64] = bytes(64)
    path.write_bytes(bytes(raw))


@pytest.fixture(scope="module")
def damaged(trained_models_dir, tmp_path_factory) -> Path:
    """The trained registry plus a broken copy of a model for every kind of damage."""
    root = tmp_path_factory.mktemp("damaged") / "models"
    shutil.copytree(trained_models_dir, root)
    for name, (source, damage, _) in {**DAMAGE, **DAMAGE_IN_USE}.items():
        shutil.copytree(root / source, root / name)
        damage(root / name)
    return root


def test_listing_shows_intact_models_and_every_broken_one_with_the_reason(damaged):
    listed = {info.name: info for info in registry.list_models(damaged)}
    assert set(listed) == {*INTACT, *DAMAGE, *DAMAGE_IN_USE}
    for name in (*INTACT, *DAMAGE_IN_USE):
        assert listed[name].valid, (name, listed[name].error)
    for name, (_, _, reason) in DAMAGE.items():
        assert not listed[name].valid and reason in listed[name].error, (name, listed[name].error)


def test_cli_list_json_carries_valid_and_error(damaged):
    before = snapshot(damaged)
    result = run_cli("list", "--json", "--models-dir", damaged)
    assert result.returncode == 0, result.stderr
    entries = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert {name for name, entry in entries.items() if entry["valid"]} == {*INTACT, *DAMAGE_IN_USE}
    for name, (_, _, reason) in DAMAGE.items():
        assert entries[name]["valid"] is False and reason in entries[name]["error"]
    assert all("error" not in entries[name] for name in INTACT)
    plain = run_cli("list", "--models-dir", damaged)
    assert all(f"{name}: BROKEN" in plain.stdout for name in DAMAGE)
    assert snapshot(damaged) == before


@pytest.fixture(scope="module")
def broken_use_results(damaged, tmp_path_factory, app_data_dir):
    """`evaluate` and `score` with every broken model, a few processes at a time."""
    out = tmp_path_factory.mktemp("out")
    csv = app_data_dir / "creditcard" / "creditcard.csv"  # good transactions: only the model is at fault
    jobs = {}
    for name in (*DAMAGE, *DAMAGE_IN_USE):
        jobs[f"evaluate/{name}"] = (lambda n: lambda: run_cli("evaluate", "--name", n, "--models-dir", damaged))(name)
        if name.startswith("f-"):
            jobs[f"score/{name}"] = (lambda n: lambda: run_cli("score", "--name", n, "--input", csv, "--output",
                                                               out / f"{n}.csv", "--models-dir", damaged))(name)
    before = snapshot(damaged)
    results = run_parallel(jobs)
    return results, before, snapshot(damaged), out


@pytest.mark.parametrize("name", [*DAMAGE, *DAMAGE_IN_USE])
def test_cli_evaluate_and_score_fail_cleanly_with_a_broken_model(broken_use_results, name):
    results, before, after, out = broken_use_results
    reason = {**DAMAGE, **DAMAGE_IN_USE}[name][2]
    assert_one_clear_line(results[f"evaluate/{name}"], reason)
    if name.startswith("f-"):
        assert_one_clear_line(results[f"score/{name}"], reason)
    assert after == before and not any(out.iterdir())


def test_dashboard_lists_broken_models_and_refuses_to_use_them(app_env, damaged):
    app_env(damaged)
    at = open_app(page="models")
    assert not shown_errors(at)
    table = at.dataframe[0].value
    assert sorted(table["name"]) == sorted({*INTACT, *DAMAGE_IN_USE})  # the usable models, one row each
    unreadable = " ".join(m.value for m in at.markdown)
    for name, (_, _, reason) in DAMAGE.items():
        assert f"**{name}**: " in unreadable and reason in unreadable, name
    offered = {label.split(" — ")[0] for label in at.selectbox(key="models_inspect").options}
    assert offered == {*INTACT, *DAMAGE_IN_USE}

    # A broken model is never offered: a link naming one says so and falls back to a listed one.
    at = open_app(active="m-truncated-model", page="decoder")
    assert any("m-truncated-model" in w.value for w in at.warning)
    assert at.selectbox(key="_pick_mnist").value in offered

    # Fraud models whose fraud.json is well-formed but unusable: the page says why.
    for name, (_, _, reason) in DAMAGE_IN_USE.items():
        at = open_app(active=name, page="threshold")
        assert any(reason in e for e in shown_errors(at)), (name, shown_errors(at))


def test_a_model_damaged_in_place_is_noticed_and_can_be_deleted(app_env, trained_models_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(trained_models_dir, models)
    app_env(models)
    at = open_app(active=MNIST_MODEL, page="decoder")
    assert not shown_errors(at)
    model_file = models / MNIST_MODEL / "model.keras"
    model_file.write_bytes(model_file.read_bytes()[:1000])  # damaged in place: the folder itself is unchanged
    at.run()  # the listing is re-read, the damaged model is no longer offered
    assert not at.exception and at.session_state["active_models"]["mnist"] != MNIST_MODEL
    assert MNIST_MODEL not in at.selectbox(key="_pick_mnist").options

    # The Models page says why, offers to delete the broken folder, and deletes nothing else.
    intact = {name: snapshot(models / name) for name in (CONDITIONAL_MODEL, FRAUD_MODEL)}
    at.switch_page("dashboard/pages/models.py").run()
    assert any(MNIST_MODEL in m.value and "not a valid Keras file" in m.value for m in at.markdown)
    at.button(key=f"models_delete_broken_{MNIST_MODEL}").click().run()
    assert (models / MNIST_MODEL).exists()  # the first click only asks
    at.button(key=f"models_delete_broken_yes_{MNIST_MODEL}").click().run()
    assert not shown_errors(at)
    assert not (models / MNIST_MODEL).exists()
    assert {name: snapshot(models / name) for name in intact} == intact
    assert sorted(p.name for p in models.iterdir()) == sorted(intact)


# --- processes that die or race ---------------------------------------------------------------------

_SLOW_SAVE = """
import sys, time
from vae_core import registry
from vae_core.config import VAEConfig
from vae_core.model import VAE

write_json = registry._write_json

def slow_write(path, payload):
    if path.name == "metadata.json":  # model.keras and config.json are written by now
        print("HALF-WRITTEN", flush=True)
        time.sleep(600)
    write_json(path, payload)

registry._write_json = slow_write
registry.save_model(VAE(VAEConfig(latent_dim=2, hidden_units=(8,))), "victim", kind="mnist",
                    metadata={"dataset": "mnist"}, directory=sys.argv[1])
"""

_RACER = """
import sys, time
from pathlib import Path
from vae_core import registry
from vae_core.config import VAEConfig
from vae_core.errors import RegistryError
from vae_core.model import VAE

root, tag, signals, rounds = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
vae = VAE(VAEConfig(latent_dim=2, hidden_units=(8,)))
registry.save_model(vae, f"warm-{tag}", kind="mnist", metadata={}, directory=signals / tag)  # first save is slow
print("READY", flush=True)
for i in range(rounds):
    while not (signals / f"go-{i}").exists():
        time.sleep(0.0005)
    try:
        registry.save_model(vae, f"race-{i}", kind="mnist", metadata={"tag": tag}, directory=root)
        print(f"{i} SAVED", flush=True)
    except RegistryError as exc:
        print(f"{i} REFUSED {exc}", flush=True)
"""


def _python(code: str, *args) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=REPO_ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _read_line(process: subprocess.Popen, timeout: float = 180) -> str:
    """The child's next stdout line (fails if it exits or stays silent)."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the child process stayed silent")
    line = process.stdout.readline()
    assert line, process.stderr.read()
    return line.strip()


def test_a_save_killed_half_way_leaves_no_model_and_blocks_nothing(trained_models_dir, tmp_path, tiny_vae):
    models = tmp_path / "models"
    shutil.copytree(trained_models_dir, models)
    intact = snapshot(models)
    child = _python(_SLOW_SAVE, models)
    try:
        assert _read_line(child) == "HALF-WRITTEN"
    finally:
        child.send_signal(signal.SIGKILL)  # mid-save, as a crash or an OOM kill would
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    [leftover] = [p for p in models.iterdir() if p.name.startswith(".saving-victim-")]
    assert sorted(p.name for p in leftover.iterdir()) == ["config.json", "model.keras"]  # really half-written
    assert sorted(info.name for info in registry.list_models(models)) == sorted(INTACT)
    listed = json.loads(run_cli("list", "--json", "--models-dir", models).stdout)
    assert sorted((m["name"], m["valid"]) for m in listed) == sorted((name, True) for name in INTACT)
    with pytest.raises(RegistryError, match="No model named"):
        registry.load_model("victim", models)
    assert {k: v for k, v in snapshot(models).items() if not k.startswith(".saving-")} == intact

    # The name is free, and the leftover is swept once it is stale.
    registry.save_model(tiny_vae, "victim", kind="mnist", metadata={}, directory=models)
    assert registry.inspect_model(models / "victim").valid and leftover.exists()
    old = time.time() - 2 * registry.STALE_WORK_SECONDS
    os.utime(leftover, (old, old))
    registry.save_model(tiny_vae, "another", kind="mnist", metadata={}, directory=models)
    assert not leftover.exists()


def test_two_processes_saving_one_name_keep_exactly_one(tmp_path):
    models, signals, rounds = tmp_path / "models", tmp_path / "signals", 5
    signals.mkdir()
    racers = {tag: _python(_RACER, models, tag, signals, rounds) for tag in ("a", "b")}
    try:
        for racer in racers.values():
            assert _read_line(racer) == "READY"
        for i in range(rounds):
            (signals / f"go-{i}").touch()  # both are spinning on this file: they save at the same moment
            outcomes = {tag: _read_line(racer) for tag, racer in racers.items()}
            saved = [tag for tag, line in outcomes.items() if line == f"{i} SAVED"]
            assert len(saved) == 1, outcomes
            [refusal] = [line for line in outcomes.values() if "REFUSED" in line]
            assert "already exists" in refusal or "saved by someone else meanwhile" in refusal
            info = registry.inspect_model(models / f"race-{i}")
            assert info.valid and info.metadata["tag"] == saved[0]  # the winner's model, whole
    finally:
        for racer in racers.values():
            racer.kill()
            racer.wait(timeout=30)
    assert sorted(p.name for p in models.iterdir()) == [f"race-{i}" for i in range(rounds)]  # no leftovers
