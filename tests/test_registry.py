"""The on-disk registry: atomic saves, no silent replacement, broken folders reported, delete."""

import json
import threading

import pytest

from vae_core import registry
from vae_core.errors import RegistryError


@pytest.fixture
def saved(tiny_vae, tmp_path):
    registry.save_model(tiny_vae, "good", kind="mnist", metadata={"dataset": "mnist", "epochs_run": 2},
                        extra_files={"threshold.json": {"value": 1.5}}, directory=tmp_path)
    return tmp_path


def test_save_writes_config_metadata_and_versions(saved):
    folder = saved / "good"
    config = json.loads((folder / "config.json").read_text())
    metadata = json.loads((folder / "metadata.json").read_text())
    assert config["kind"] == "mnist" and config["vae_config"]["latent_dim"] == 2
    assert metadata["name"] == "good" and "keras" in metadata["library_versions"] and metadata["created"]
    assert registry.load_model("good", saved).extras == {"threshold.json": {"value": 1.5}}
    assert [p.name for p in saved.iterdir()] == ["good"]  # no staging folder left behind


@pytest.mark.parametrize("name", ["../x", "", "a/b", ".hidden", "x" * 65, "spa ce", "nul\0"])
def test_invalid_names_are_refused(tiny_vae, tmp_path, name):
    with pytest.raises(RegistryError, match="Invalid model name"):
        registry.save_model(tiny_vae, name, kind="mnist", metadata={}, directory=tmp_path)
    assert not any(tmp_path.iterdir())


def test_existing_model_is_never_replaced(saved, tiny_vae):
    before = (saved / "good" / "model.keras").read_bytes()
    with pytest.raises(RegistryError, match="already exists"):
        registry.save_model(tiny_vae, "good", kind="mnist", metadata={}, directory=saved)
    assert (saved / "good" / "model.keras").read_bytes() == before


def test_concurrent_saves_of_one_name_keep_exactly_one(tiny_vae, tmp_path):
    outcomes = []

    def save(tag):
        try:
            registry.save_model(tiny_vae, "race", kind="mnist", metadata={"tag": tag}, directory=tmp_path)
            outcomes.append(("ok", tag))
        except RegistryError as exc:
            outcomes.append(("refused", str(exc)))

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(kind == "ok" for kind, _ in outcomes) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["race"]
    assert registry.load_model("race", tmp_path).metadata["tag"] in range(4)


@pytest.mark.parametrize("damage, reason", [
    (lambda f: (f / "metadata.json").unlink(), "missing metadata.json"),
    (lambda f: (f / "config.json").write_text("{not json"), "config.json is corrupt"),
    (lambda f: (f / "model.keras").write_bytes((f / "model.keras").read_bytes()[:500]), "model.keras"),
    (lambda f: (f / "threshold.json").write_text("[1, 2]"), "threshold.json"),
    (lambda f: (f / "config.json").write_text(json.dumps({"format_version": 99, "kind": "mnist",
                                                          "vae_config": {}})), "format version 99"),
])
def test_broken_folders_are_listed_with_the_reason_and_refuse_to_load(saved, damage, reason):
    damage(saved / "good")
    [info] = registry.list_models(saved)
    assert not info.valid and reason in info.error
    assert info.to_dict()["valid"] is False and reason in info.to_dict()["error"]
    with pytest.raises(RegistryError, match="broken"):
        registry.load_model("good", saved)


def test_half_written_staging_folders_are_invisible(saved):
    (saved / ".saving-ghost-123").mkdir()
    (saved / ".saving-ghost-123" / "model.keras").write_bytes(b"partial")
    assert [info.name for info in registry.list_models(saved)] == ["good"]


def test_delete_and_unknown_names(saved):
    registry.delete_model("good", saved)
    assert registry.list_models(saved) == []
    with pytest.raises(RegistryError, match="No model named"):
        registry.load_model("good", saved)
    with pytest.raises(RegistryError, match="No model named"):
        registry.delete_model("good", saved)


def test_models_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_MODELS_DIR", str(tmp_path / "env"))
    assert registry.models_dir() == tmp_path / "env"
    assert registry.models_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("VAE_MODELS_DIR")
    assert registry.models_dir() == registry.DEFAULT_MODELS_DIR
