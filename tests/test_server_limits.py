"""Limits a shared server sets (vae_core.settings): rows of an upload scored in the page, browser
sessions at once, and the optional login gate, as people meet them."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from testkit.browser import app_server
from testkit.stream import StreamSession
from fault_kit import explorer, open_app, open_link, shown_errors
from vae_core import sources
from vae_core.errors import DataError

TITLE = "VAE Latent Explorer"


@pytest.mark.parametrize("text, rows", [(b"a,b\n1,2\n3,4\n", 2), (b"a,b\n1,2\n3,4", 2), (b"a,b\n1,2\n", 1)])
def test_score_rows_are_counted_by_line_ends(monkeypatch, text, rows):
    monkeypatch.setenv("VAE_MAX_SCORE_ROWS", str(rows))
    sources.check_score_rows(text, "x.csv")  # exactly at the limit passes
    sources.check_score_rows(text + b"\n\n", "x.csv")  # blank last lines are no rows
    with pytest.raises(DataError, match=f"'x.csv' has {rows + 1} rows; this server scores at most {rows} rows"):
        sources.check_score_rows(text.rstrip(b"\n") + b"\n9,9\n", "x.csv")


def test_an_upload_over_the_row_limit_is_pointed_to_the_cli_and_one_at_it_is_scored(
        app_env, trained_models_dir, app_data_dir, monkeypatch):  # noqa: F811
    app_env(trained_models_dir)
    frame = pd.read_csv(app_data_dir / "creditcard" / "creditcard.csv").head(40)
    monkeypatch.setenv("VAE_MAX_SCORE_ROWS", "39")
    at = open_link("threshold")
    at.radio(key="fraud_view_data").set_value("upload").run()
    at.file_uploader(key="fraud_view_upload").upload("forty.csv", frame.to_csv(index=False).encode(), "text/csv").run()
    errors = " ".join(shown_errors(at))
    assert "'forty.csv' has 40 rows; this server scores at most 39 rows in the page" in errors
    assert "vae-explorer score" in errors and "max_score_rows" in errors

    monkeypatch.setenv("VAE_MAX_SCORE_ROWS", "40")
    at.file_uploader(key="fraud_view_upload").upload("forty.csv", frame.to_csv(index=False).encode() + b"\n",
                                                     "text/csv").run()
    assert not shown_errors(at)
    assert explorer(at)[0]["n"] == 40


def test_the_app_works_with_login_off_and_says_what_is_missing_with_it_on(app_env, trained_models_dir, monkeypatch):  # noqa: F811
    app_env(trained_models_dir)
    monkeypatch.delenv("VAE_LOGIN", raising=False)
    at = open_app()
    assert at.title[0].value == TITLE and not shown_errors(at)
    assert not [b for b in at.button if b.key == "login"]

    monkeypatch.setenv("VAE_LOGIN", "1")
    at = open_app()
    assert not at.title  # nothing of the app is shown
    assert any("[auth] section is missing" in e for e in shown_errors(at))

    at = open_app()
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "id", "client_secret": "secret",
                          "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    at.run()
    assert not at.title and not shown_errors(at)
    assert at.button(key="login").label == "Log in"
    assert "Log in to use this dashboard." in [i.value for i in at.info]


def test_a_bad_login_setting_names_itself(app_env, trained_models_dir, monkeypatch):  # noqa: F811
    app_env(trained_models_dir)
    monkeypatch.setenv("VAE_LOGIN", "maybe")
    at = open_app()
    assert shown_errors(at) == ["The server's settings are wrong: VAE_LOGIN is 'maybe'; use true or false."]


def test_sessions_over_the_limit_wait_and_get_in_when_someone_leaves(trained_models_dir, app_data_dir, tmp_path):  # noqa: F811
    async def visit(url: str) -> None:
        first = await StreamSession(url).open()
        assert TITLE in first.texts()
        second = await StreamSession(url).open()
        waiting = second.alerts("WARNING")
        assert waiting and "at its limit of 1 person at once" in waiting[0], second.texts()
        assert TITLE not in second.texts()  # nothing of the app while waiting
        await first.close()
        await second.wait_until(lambda s: TITLE in s.texts(), timeout=60, what="the waiting tab to get in")
        assert not second.alerts("WARNING")
        third = await StreamSession(url).open()  # the second holds the one place now
        assert third.alerts("WARNING") and TITLE not in third.texts()
        await asyncio.gather(second.close(), third.close())

    with app_server(trained_models_dir, data_dir=app_data_dir, log_dir=tmp_path,
                    extra_env={"VAE_MAX_SESSIONS": "1", "VAE_MODE": "viewer"}) as server:
        asyncio.run(visit(server.url))
        log = server.log_text()
    assert "Traceback" not in log, log[-3000:]
