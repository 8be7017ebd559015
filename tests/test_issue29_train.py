"""The Train form refuses settings the engine would refuse: Train is off, with the engine's reason on
screen, while any box holds an out-of-range number or unreadable hidden layer sizes."""

from __future__ import annotations

import pytest

from app_fixtures import app_data_dir, app_env  # noqa: F401
from fault_kit import open_link, shown_errors

BAD_NUMBERS = [
    ("train_latent_mnist", 0, "Latent dim must be an integer from 1 to 512, got 0."),
    ("train_batch_mnist", 100_000, "Batch size must be an integer from 1 to 65536, got 100000."),
    ("train_epochs_mnist", 0, "Epochs must be an integer from 1 to 10000, got 0."),
    ("train_lr_mnist", 0.0, "Learning rate must be in (0, 1), got 0.0."),
    ("train_beta_mnist", -1.0, "Beta must be between 0 and 1000, got -1.0."),
    ("train_warmup_mnist", -2, "KL warm-up epochs cannot be negative."),
]


@pytest.fixture()
def form(app_env, tmp_path):
    app_env(tmp_path / "models")
    at = open_link("train")
    at.text_input(key="train_name").input("checked").run()
    assert not at.button(key="train_start").disabled and not shown_errors(at)
    return at


def test_each_out_of_range_number_turns_train_off_and_says_why(form):
    at = form
    for key, bad, reason in BAD_NUMBERS:
        good = at.number_input(key=key).value
        at.number_input(key=key).set_value(bad).run()
        button = at.button(key="train_start")
        assert button.disabled, key
        assert [f"{reason} Train stays off until this is fixed."] == shown_errors(at), key
        assert reason in button.help
        at.number_input(key=key).set_value(good).run()
        assert not at.button(key="train_start").disabled and not shown_errors(at), key


def test_hidden_layers_are_checked_as_they_are_typed(form):
    at = form
    at.text_input(key="train_hidden_mnist").input("abc").run()
    assert at.button(key="train_start").disabled
    assert any("Hidden layer sizes must be whole numbers separated by commas" in e for e in shown_errors(at))
    at.selectbox(key="train_arch_mnist").select("conv").run()  # the box is off for conv, so not held against it
    assert not at.button(key="train_start").disabled and not shown_errors(at)
    at.selectbox(key="train_arch_mnist").select("dense").run()
    at.text_input(key="train_hidden_mnist").input("64,0").run()
    assert at.button(key="train_start").disabled
    assert any("Give at least one positive hidden layer size" in e for e in shown_errors(at))
    at.text_input(key="train_hidden_mnist").input("64, 32").run()
    assert not at.button(key="train_start").disabled and not shown_errors(at)


def test_the_fraud_form_is_checked_by_the_same_rules(form):
    at = form
    at.segmented_control(key="train_dataset").set_value("fraud").run()
    assert not at.button(key="train_start").disabled  # latent dim empty: chosen by the table's shape
    at.number_input(key="train_epochs_fraud").set_value(0).run()
    assert at.button(key="train_start").disabled
    assert any("Epochs must be an integer from 1 to 10000, got 0." in e for e in shown_errors(at))


def test_the_seed_has_one_rule_for_the_engine_the_cli_and_the_form(form, tmp_path, capsys):
    import numpy as np

    from vae_core.cli import main
    from vae_core.config import MAX_SEED, TrainConfig
    from vae_core.errors import ConfigError

    assert TrainConfig(seed=np.int64(7)).seed == 7 and TrainConfig(seed=MAX_SEED).seed == MAX_SEED
    for bad in (-1, MAX_SEED + 1, 1.5, True):
        with pytest.raises(ConfigError, match=f"The seed must be a whole number from 0 to {MAX_SEED}, got "):
            TrainConfig(seed=bad)
    assert main(["train", "--dataset", "mnist", "--name", "seedless", "--seed", str(MAX_SEED + 1),
                 "--models-dir", str(tmp_path / "models")]) != 0
    assert f"The seed must be a whole number from 0 to {MAX_SEED}, got {MAX_SEED + 1}." in capsys.readouterr().err
    assert not (tmp_path / "models" / "seedless").exists()
    assert form.number_input(key="train_seed_mnist").max == MAX_SEED
