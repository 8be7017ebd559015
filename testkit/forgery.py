"""Forged widget messages against a view-only server (tests/test_shared_server.py, short form;
bench/bench_shared_server.py, long form).

A hand-made client can send any widget id, shown or not. The ids of the write controls are recorded
on a full-mode server, as a browser tab would reveal them, then replayed elsewhere: on a full server
the replay of delete does delete (the forgeries are real clicks), on a view-only one nothing may change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.Common_pb2 import FileUploaderState
from streamlit.proto.WidgetStates_pb2 import WidgetState

from testkit.stream import StreamSession

ZIP_NAME = "forged.zip"
# The lessons' trainings: the AE vs VAE page's twin and the ELBO page's β sweep.
LESSON_TRAININGS = ("twin training", "β sweep")


@dataclass
class WriteWidgets:
    """Widget key → id of each write control, page url path → script hash, and the model whose
    rename box the Models page showed."""
    ids: dict[str, str]
    pages: dict[str, str]
    shown: str


@dataclass
class Forgery:
    what: str
    states: list[WidgetState]
    where: dict[str, str] = field(default_factory=dict)  # page_hash= or page_name= of StreamSession.forge


@dataclass
class Seen:
    """What the page showed after one forged request, and the seconds to the rerun's end."""
    what: str
    texts: list[str]
    errors: list[str]
    seconds: float


def snapshot(root: Path) -> dict[str, str | None]:
    """Every path under `root`, hidden ones too → SHA-256 of its bytes (None for a folder)."""
    if not root.exists():
        return {}
    return {str(path.relative_to(root)): None if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*"))}


async def record_write_widgets(url: str, zip_bytes: bytes, lessons: bool = False) -> WriteWidgets:
    """On a full-mode server: the ids of the Models page's delete, confirm, rename and import controls
    and of the Train page's Train button; with `lessons`, also the AE vs VAE page's twin training and
    the ELBO page's β sweep (the registry needs a VAE without an autoencoder twin)."""
    async with StreamSession(url) as models_tab, StreamSession(url) as train_tab:
        await models_tab.open("models")
        shown = next(key.removeprefix("models_rename_") for key in models_tab.widget_keys()
                     if key.startswith("models_rename_"))
        ids = {"models_delete": models_tab.widget("models_delete").proto.id}
        await models_tab.upload("models_upload", ZIP_NAME, zip_bytes)  # the Import button shows once a zip is chosen
        await models_tab.click("models_delete")  # the confirmation's button shows after the first click
        keys = ["models_delete_yes", f"models_rename_{shown}", "models_rename", "models_upload", "models_import_name",
                "models_import"]
        ids |= {key: models_tab.widget(key).proto.id for key in keys}
        await train_tab.open("train")
        await train_tab.set("train_name", "forged-train")
        assert not train_tab.widget("train_start").proto.disabled
        ids |= {key: train_tab.widget(key).proto.id for key in ("train_name", "train_start")}
        if lessons:
            await train_tab.open("compare")
            ids["compare_train_ae"] = train_tab.widget("compare_train_ae").proto.id
            await train_tab.open("elbo")
            ids["elbo_sweep_start"] = train_tab.widget("elbo_sweep_start").proto.id
        return WriteWidgets(ids, dict(train_tab.pages), shown)


def forgeries(recorded: WriteWidgets) -> list[Forgery]:
    """Each forged request, in the order a person would click (the import's uploader state gets its
    file in `forge_from_tab`); the lessons' trainings when they were recorded."""
    ids, pages, shown = recorded.ids, recorded.pages, recorded.shown

    def click(key: str) -> WidgetState:
        return WidgetState(id=ids[key], trigger_value=True)

    def text(key: str, value: str) -> WidgetState:
        return WidgetState(id=ids[key], string_value=value)

    on_models = {"page_hash": pages["models"]}
    train = [text("train_name", "forged-train"), click("train_start")]
    found = [Forgery("delete", [click("models_delete")], on_models),
             Forgery("confirm delete", [click("models_delete_yes")], on_models),
             Forgery("rename", [text(f"models_rename_{shown}", "forged-rename"), click("models_rename")], on_models),
             Forgery("import", [WidgetState(id=ids["models_upload"]), text("models_import_name", "forged-import"),
                                click("models_import")], on_models),
             Forgery("train by page hash", train, {"page_hash": pages["train"]}),
             Forgery("train by page name", train, {"page_name": "train"})]
    if "compare_train_ae" in ids:
        found += [Forgery(LESSON_TRAININGS[0], [click("compare_train_ae")], {"page_hash": pages["compare"]}),
                  Forgery(LESSON_TRAININGS[1], [click("elbo_sweep_start")], {"page_hash": pages["elbo"]})]
    return found


async def forge_from_tab(url: str, requests: list[Forgery], zip_bytes: bytes | None, repeats: int = 1) -> list[Seen]:
    """Send each forged request (all of them `repeats` times over) from one fresh tab on the Models
    page, and what the page showed after each. With `zip_bytes`, this tab uploads the import's file to the server first, as
    a hand-made client could."""
    steps = []
    async with StreamSession(url) as tab:
        await tab.open("models")
        upload = None if zip_bytes is None else await tab.put_file(ZIP_NAME, zip_bytes)
        for request in requests * repeats:
            states = list(request.states)
            if request.what == "import" and upload is not None:
                states[0] = WidgetState(id=states[0].id, file_uploader_state_value=FileUploaderState(
                    uploaded_file_info=[upload]))
            step = await tab.forge(states, what=request.what, **request.where)
            steps.append(Seen(request.what, tab.texts(), tab.errors(), step.seconds))
    return steps
