"""registry.rename_model: one atomic rename of the model's folder, never over another model."""

import pytest

from vae_core import registry
from vae_core.errors import RegistryError


@pytest.fixture
def saved(tiny_vae, tmp_path):
    for name in ("good", "other"):
        registry.save_model(tiny_vae, name, kind="mnist", metadata={"dataset": "mnist"}, directory=tmp_path)
    return tmp_path


def files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_renamed_model_loads_under_its_new_name_only(saved):
    before = files(saved / "good")
    assert registry.rename_model("good", "better", saved) == saved / "better"
    assert [i.name for i in registry.list_models(saved)] == ["better", "other"]
    assert all(i.valid for i in registry.list_models(saved))
    assert files(saved / "better") == before
    assert registry.load_model("better", saved).name == "better"
    with pytest.raises(RegistryError, match="No model named 'good'"):
        registry.load_model("good", saved)


@pytest.mark.parametrize("new_name, reason", [("other", "A model named 'other' already exists"),
                                               ("../escape", "Invalid model name"), ("", "Invalid model name"),
                                               ("sp ace", "Invalid model name")])
def test_a_taken_or_invalid_name_is_refused_and_nothing_moves(saved, new_name, reason):
    before = {name: files(saved / name) for name in ("good", "other")}
    with pytest.raises(RegistryError, match=reason):
        registry.rename_model("good", new_name, saved)
    assert sorted(p.name for p in saved.iterdir()) == ["good", "other"]
    assert {name: files(saved / name) for name in ("good", "other")} == before


def test_a_name_taken_between_the_check_and_the_rename_is_refused(saved, monkeypatch):
    monkeypatch.setattr(registry, "check_new_name", lambda name, directory=None: None)
    with pytest.raises(RegistryError, match="saved by someone else meanwhile"):
        registry.rename_model("good", "other", saved)
    assert registry.list_models(saved)[0].valid and (saved / "good").is_dir()


def test_renaming_a_missing_model_says_so(saved):
    with pytest.raises(RegistryError, match="No model named 'gone'"):
        registry.rename_model("gone", "new", saved)


def test_renaming_the_declared_default_keeps_it_the_default(saved):
    import json

    (saved / registry.DEFAULTS_FILE).write_text(json.dumps({"mnist": "good", "fraud": "elsewhere"}))
    registry.rename_model("good", "better", saved)
    assert json.loads((saved / registry.DEFAULTS_FILE).read_text()) == {"mnist": "better", "fraud": "elsewhere"}
    assert registry.default_models(registry.list_models(saved), saved)["mnist"] == "better"
    untouched = (saved / registry.DEFAULTS_FILE).read_bytes()
    registry.rename_model("other", "another", saved)  # not a default: the file is left as it was
    assert (saved / registry.DEFAULTS_FILE).read_bytes() == untouched
    assert not [p.name for p in saved.iterdir() if p.name.endswith(".partial")]
