"""The Models page reads for people: named metrics (an autoencoder's loss named as what it is), the
registry folder actually in use, and Rename."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, models_copy, trained_models_dir  # noqa: F401
from fault_kit import APP, open_link, shown_errors


def metric_names(at: AppTest) -> list[str]:
    """The first column of the model's metrics table (the table after the registry's)."""
    return list(at.dataframe[1].value["metric"])


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_shipped_models_show_named_metrics_and_the_default_folder(app_env, monkeypatch):
    monkeypatch.delenv("VAE_MODELS_DIR", raising=False)
    at = open_link("models")
    assert "Registry folder `models/` (set VAE_MODELS_DIR to use another)." in captions(at)
    at.selectbox(key="models_inspect").set_value("mnist-dense-2d").run()
    names = metric_names(at)
    assert {"Test −log p(x) (IWAE, nats)", "Test −ELBO (nats)", "IWAE draws per image", "Test KL (nats)",
            "Test images"} <= set(names)
    assert not [n for n in names if "_" in n or n in ("test iw nll", "test neg elbo", "iw samples")]
    at.selectbox(key="models_inspect").set_value("mnist-dense-2d-ae").run()
    names = metric_names(at)
    assert "Test reconstruction loss (nats)" in names
    assert not [n for n in names if "ELBO" in n or "KL" in n]
    table = at.dataframe(key="models_table").value.set_index("name")
    assert table.loc["mnist-dense-2d-ae", "result"].startswith("test reconstruction loss ")
    assert table.loc["mnist-dense-2d", "result"].startswith("test −ELBO ")


def test_the_folder_in_use_is_named_without_the_machines_path(app_env, models_copy):
    app_env(models_copy)
    shown = f"`…/{models_copy.parent.name}/models/` (VAE_MODELS_DIR)"
    home = AppTest.from_file(str(APP), default_timeout=120).run()
    assert f"model(s) in the registry folder {shown}." in captions(home)
    models = open_link("models")
    assert f"Registry folder {shown}." in captions(models)
    assert str(models_copy) not in captions(home) + captions(models)


def test_rename_refuses_taken_and_invalid_names_then_renames_the_active_model(app_env, models_copy):
    app_env(models_copy)
    at = open_link("models")
    assert at.selectbox(key="models_inspect").value == MNIST_MODEL
    box = f"models_rename_{MNIST_MODEL}"
    assert at.button(key="models_rename").disabled and not shown_errors(at)
    at.text_input(key=box).input(FRAUD_MODEL).run()
    assert at.button(key="models_rename").disabled
    assert [f"A model named {FRAUD_MODEL!r} already exists; choose another name or delete that model first."] \
        == shown_errors(at)
    at.text_input(key=box).input("no spaces").run()
    assert at.button(key="models_rename").disabled
    assert any(e.startswith("Invalid model name 'no spaces'") for e in shown_errors(at))
    at.text_input(key=box).input("renamed-digits").run()
    assert not at.button(key="models_rename").disabled and not shown_errors(at)
    at.button(key="models_rename").click().run()
    assert [s.value for s in at.success] == [f"Renamed **{MNIST_MODEL}** to **renamed-digits**."]
    table = at.dataframe(key="models_table").value.set_index("name")
    assert MNIST_MODEL not in table.index and table.loc["renamed-digits", "active"] == "✓"
    assert at.selectbox(key="models_inspect").value == "renamed-digits"
    assert (models_copy / "renamed-digits").is_dir() and not (models_copy / MNIST_MODEL).exists()
