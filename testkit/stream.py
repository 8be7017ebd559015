"""A browser tab without the browser: one Streamlit session spoken to over its websocket.

The load and fault tests (tests/test_concurrency.py, tests/test_server_faults.py) and
bench/bench_load.py drive many sessions of a real `streamlit run app.py` at once. A Chromium tab per
session would spend this machine's two cores on drawing; a `StreamSession` speaks the same protocol
the page does (protobuf `BackMsg` up, `ForwardMsg` down on /_stcore/stream), so to the server it is
one more tab: it connects, asks for a page, sends widget values and button triggers (inside their
fragment, as the page does), follows page links, uploads files through the upload endpoint, runs a
fragment's `run_every` timer, and fetches every image the page shows. What the page would show is
kept as the tree of elements of the latest run, readable by widget key or element kind.

Widget values are sent the way the page sends them: one `WidgetState` per changed widget (the
server keeps the others' values), the URL's query string as the app last wrote it, and the
fragment of the widget that changed. An interaction's latency is from sending it to the end of the
rerun (the server's "script finished" and "not running"), plus fetching the images that changed.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileUploaderState, UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

XSRF_COOKIE = "_streamlit_xsrf"
_FINISHED = ForwardMsg.ScriptFinishedStatus
_WIDGETS = ("slider", "number_input", "text_input", "radio", "selectbox", "button", "button_group",
            "file_uploader", "checkbox", "download_button", "multiselect", "text_area", "plotly_chart", "dataframe",
            "component_instance")


def _user_key(element_id: str) -> str:
    """The `key=` inside an element id "$$ID-<hash>-<key>" ('' when the element has none)."""
    parts = element_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "$$ID" else ""


class PageError(AssertionError):
    """The page did not get to where a step expected (a timeout, a missing widget or link)."""


@dataclass
class Shown:
    """One element of the page: its kind (the Element oneof, e.g. "slider", "imgs", "alert"), its
    proto, the fragment it was drawn in ('' outside fragments) and the run that drew it."""

    kind: str
    proto: Any
    fragment_id: str
    run: str


@dataclass
class Interaction:
    """What one step cost: `seconds` from sending to the rerun's end and the changed images fetched."""

    what: str
    seconds: float
    images_fetched: int = 0
    errors: list[str] = field(default_factory=list)
    started: float = 0.0  # time.perf_counter() when it was sent


class StreamSession:
    """One session of the app at `base_url` (http://host:port), driven from asyncio."""

    def __init__(self, base_url: str, *, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session_id = ""
        self.query_string = ""
        self.page_hash = ""
        self.pages: dict[str, str] = {}  # url path ("" for the default page) → page script hash
        self.elements: dict[tuple[int, ...], Shown] = {}
        self.media: dict[str, bytes] = {}  # image URL → its bytes, as fetched
        self.closed = False
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._timers: dict[str, asyncio.Task] = {}  # fragment id → its run_every timer
        self._run = ""  # the id of the run whose deltas are arriving
        self._runs: list[tuple[str, tuple[str, ...]]] = []  # (run id, fragments it reran) in start order
        self._ended: dict[str, int] = {}  # run id → its ScriptFinishedStatus
        self._running = False
        self._changed = asyncio.Event()
        self._replies: dict[str, asyncio.Future] = {}
        self._cookies = http.cookiejar.CookieJar()
        self._http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies))
        self._send_lock = asyncio.Lock()
        self._sent: dict[str, int] = {}  # component key → values sent (the frame's sequence number)

    # --- connecting -------------------------------------------------------------------------------

    async def open(self, path: str = "", query: str = "") -> StreamSession:
        """Connect (as a new tab on /path?query) and wait for the first run to end."""
        import websockets

        await asyncio.to_thread(self._get, "/_stcore/health")  # sets the XSRF cookie uploads need
        token = next((c.value for c in self._cookies if c.name == XSRF_COOKIE), "")
        url = "ws" + self.base_url.removeprefix("http") + "/_stcore/stream"
        self._ws = await websockets.connect(url, subprotocols=["streamlit", token] if token else ["streamlit"],
                                            max_size=None, open_timeout=self.timeout, ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        self.query_string = query
        await self._rerun(page_name=path.strip("/"), what=f"open /{path}")
        return self

    async def close(self) -> None:
        """Close the tab: the websocket goes, as when a person closes it."""
        self.closed = True
        for timer in self._timers.values():
            timer.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self) -> StreamSession:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # --- reading the page -----------------------------------------------------------------------------

    def shown(self, kind: str | None = None) -> list[Shown]:
        """Elements in page order (main area first, then the sidebar), optionally of one kind."""
        return [e for _, e in sorted(self.elements.items()) if kind is None or e.kind == kind]

    def find(self, key: str) -> Shown | None:
        """The widget (or keyed chart) whose `key=` is `key`."""
        return next((e for e in self.shown() if e.kind in _WIDGETS and _user_key(e.proto.id) == key), None)

    def widget(self, key: str) -> Shown:
        found = self.find(key)
        if found is None:
            raise PageError(f"no widget with key {key!r} on /{self.page}; widgets: {self.widget_keys()}; "
                            f"errors: {self.errors()}; texts: {self.texts()[:6]}")
        return found

    def widget_keys(self) -> list[str]:
        return [_user_key(e.proto.id) for e in self.shown() if e.kind in _WIDGETS and e.proto.id]

    def alerts(self, level: str) -> list[str]:
        """Bodies of st.error / st.warning / st.info / st.success boxes ("ERROR", "WARNING", …)."""
        from streamlit.proto.Alert_pb2 import Alert

        wanted = Alert.Format.Value(level)
        return [e.proto.body for e in self.shown("alert") if e.proto.format == wanted]

    def errors(self) -> list[str]:
        """Every error a person would see: error boxes and exception boxes."""
        return self.alerts("ERROR") + [f"{e.proto.type}: {e.proto.message}" for e in self.shown("exception")]

    def metrics(self) -> dict[str, str]:
        return {e.proto.label: e.proto.body for e in self.shown("metric")}

    def images(self) -> list[tuple[str, str]]:
        """(caption, URL) of every image."""
        return [(image.caption, image.url) for e in self.shown("imgs") for image in e.proto.imgs]

    def image(self, caption: str) -> bytes:
        """The fetched bytes of the image whose caption contains `caption`."""
        for text, url in self.images():
            if caption in text:
                return self.media[url]
        raise PageError(f"no image captioned {caption!r}; images: {[c for c, _ in self.images()]}")

    def chart(self, key: str) -> dict:
        """The Plotly figure (as JSON) of the chart with `key=`."""
        return json.loads(self.widget(key).proto.spec)

    def table(self, key: str) -> list[dict]:
        """The rows of the st.dataframe with `key=`, as dicts."""
        import pyarrow as pa

        proto = self.widget(key).proto
        raw = proto.arrow_data.data or proto.lazy_data.initial_chunk.data
        return pa.ipc.open_stream(raw).read_all().to_pylist()

    def texts(self) -> list[str]:
        """Markdown, captions, headings and progress texts, in page order."""
        out = []
        for e in self.shown():
            if e.kind in ("markdown", "heading"):
                out.append(e.proto.body)
            elif e.kind == "progress":
                out.append(e.proto.text)
        return out

    def links(self) -> dict[str, Any]:
        """Page links by label."""
        return {e.proto.label: e.proto for e in self.shown("page_link")}

    @property
    def page(self) -> str:
        """The current page's url path ('' for the default page)."""
        return next((path for path, h in self.pages.items() if h == self.page_hash), "")

    # --- acting ---------------------------------------------------------------------------------------

    async def set(self, key: str, value: Any) -> Interaction:
        """Give the widget `key` a new value (as a person would by dragging, typing, choosing)."""
        element = self.widget(key)
        state = WidgetState(id=element.proto.id)
        kind, proto = element.kind, element.proto
        if kind == "slider" and proto.type == proto.SELECT_SLIDER:
            state.string_array_value.data.append(self._option(proto.options, value))
        elif kind == "slider":
            state.double_array_value.data.append(float(value))
        elif kind == "number_input":
            if proto.data_type == proto.INT:
                state.int_value = int(value)
            else:
                state.double_value = float(value)
        elif kind in ("text_input", "text_area"):
            state.string_value = str(value)
        elif kind in ("radio", "selectbox"):
            state.string_value = self._option(proto.options, value)
        elif kind == "button_group":
            state.string_array_value.data.append(self._option([o.content for o in proto.options], value))
        elif kind == "checkbox":
            state.bool_value = bool(value)
        else:
            raise PageError(f"cannot set a {kind} ({key!r})")
        return await self._rerun(widget=state, fragment_id=element.fragment_id, what=f"set {key}={value}")

    async def select(self, key: str, points: list[dict]) -> Interaction:
        """Click points of the Plotly chart `key` (each point a dict such as {"customdata": row})."""
        element = self.widget(key)
        selection = {"selection": {"points": points, "point_indices": list(range(len(points))), "box": [], "lasso": []}}
        state = WidgetState(id=element.proto.id, string_value=json.dumps(selection))
        return await self._rerun(widget=state, fragment_id=element.fragment_id, what=f"select {key}")

    def component_args(self, key: str) -> tuple[dict, dict[str, bytes]]:
        """The custom component `key`'s JSON arguments and its binary ones (name → bytes)."""
        proto = self.widget(key).proto
        return json.loads(proto.json_args or "{}"), {a.key: a.bytes for a in proto.special_args if a.bytes}

    async def send(self, key: str, value: dict) -> Interaction:
        """What the custom component `key`'s frame sends on a person's action (Streamlit.setComponentValue)."""
        element = self.widget(key)
        self._sent[key] = self._sent.get(key, 0) + 1
        state = WidgetState(id=element.proto.id, json_value=json.dumps({**value, "seq": self._sent[key]}))
        return await self._rerun(widget=state, fragment_id=element.fragment_id, what=f"send {key} {value}")

    async def click(self, key: str) -> Interaction:
        element = self.widget(key)
        if element.proto.disabled:
            raise PageError(f"button {key!r} is disabled")
        return await self._rerun(widget=WidgetState(id=element.proto.id, trigger_value=True),
                                 fragment_id=element.fragment_id, what=f"click {key}")

    async def follow(self, label: str) -> Interaction:
        """Click the page link labelled `label` (the target page with the link's query string)."""
        link = self.links().get(label)
        if link is None:
            raise PageError(f"no link {label!r}; links: {list(self.links())}")
        self.query_string = link.query_string
        return await self._rerun(page_hash=link.page_script_hash, what=f"follow {label}")

    async def goto(self, path: str, query: str = "") -> Interaction:
        """Type /path?query into the address bar of this tab (a reload keeps the session)."""
        self.query_string = query
        return await self._rerun(page_name=path.strip("/"), what=f"goto /{path}")

    async def upload(self, key: str, name: str, data: bytes) -> Interaction:
        """Choose a file in the uploader `key`: ask for an upload URL, PUT the file, send its info."""
        element = self.widget(key)
        start = time.perf_counter()
        state = WidgetState(id=element.proto.id)
        info = await self.put_file(name, data)
        state.file_uploader_state_value.CopyFrom(FileUploaderState(uploaded_file_info=[info]))
        done = await self._rerun(widget=state, fragment_id=element.fragment_id, what=f"upload {name}")
        done.seconds = time.perf_counter() - start
        return done

    async def put_file(self, name: str, data: bytes) -> UploadedFileInfo:
        """What the page does before an uploader's value changes: ask for an upload URL, PUT the file;
        the info to send in a file_uploader WidgetState (`upload`, or a hand-made one for `forge`)."""
        request_id = uuid.uuid4().hex
        reply = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        message = BackMsg()
        message.file_urls_request.request_id = request_id
        message.file_urls_request.session_id = self.session_id
        message.file_urls_request.file_names.append(name)
        await self._send(message)
        urls = (await asyncio.wait_for(reply, self.timeout)).file_urls[0]
        await asyncio.to_thread(self._put_file, urls.upload_url, name, data)
        return UploadedFileInfo(name=name, size=len(data), file_id=urls.file_id, file_urls=urls)

    async def forge(self, states: Sequence[WidgetState], *, page_hash: str | None = None,
                    page_name: str | None = None, what: str = "forged") -> Interaction:
        """Send a rerun carrying exactly `states`, as a hand-made client could: widget ids need not be
        on this page (e.g. ids recorded on another server), on `page_hash` or `page_name` (default:
        the current page); waits for the rerun to end like any step."""
        return await self._rerun(widget=list(states), page_hash=page_hash, page_name=page_name, what=what)

    async def wait_until(self, predicate, timeout: float | None = None, what: str = "") -> None:
        """Until `predicate(self)` holds, re-checked after every message (runs keep arriving on their
        own from `run_every` timers)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not predicate(self):
            if self.closed or (self._reader is not None and self._reader.done()):
                raise PageError(f"the connection closed while waiting for {what or predicate}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise PageError(f"timed out waiting for {what or predicate}; page errors: {self.errors()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except asyncio.TimeoutError:
                pass

    # --- protocol ---------------------------------------------------------------------------------------

    @staticmethod
    def _option(options: Sequence[str], value: Any) -> str:
        """The option text the page sends for `value` (its formatted label, or the value's own text)."""
        options = list(options)
        for candidate in (value, str(value), f"{value:.6g}" if isinstance(value, float) else None):
            if candidate in options:
                return candidate
        raise PageError(f"{value!r} is not one of the options {options[:12]}…")

    async def _send(self, message: BackMsg) -> None:
        async with self._send_lock:
            await self._ws.send(message.SerializeToString())

    async def _rerun(self, *, widget: WidgetState | Sequence[WidgetState] | None = None, fragment_id: str = "",
                     page_name: str | None = None, page_hash: str | None = None, auto: bool = False,
                     what: str = "") -> Interaction:
        message = BackMsg()
        client = message.rerun_script
        client.query_string = self.query_string
        client.page_script_hash = self.page_hash if page_hash is None and page_name is None else (page_hash or "")
        if page_name is not None:
            client.page_name = page_name
        if fragment_id:
            client.fragment_id = fragment_id
        client.is_auto_rerun = auto
        client.context_info.timezone = "UTC"
        client.context_info.locale = "en-US"
        if widget is not None:
            client.widget_states.widgets.extend([widget] if isinstance(widget, WidgetState) else widget)
        before = {url for _, url in self.images()}
        start = time.perf_counter()
        mark = len(self._runs)
        await self._send(message)
        if auto:
            return Interaction(what, 0.0)
        await self.wait_until(lambda s: s._settled(mark, fragment_id), what=what or "the rerun")
        fresh = [url for _, url in self.images() if url not in before and url not in self.media]
        await asyncio.gather(*(self._fetch(url) for url in fresh))
        return Interaction(what, time.perf_counter() - start, len(fresh), self.errors(), start)

    def _settled(self, mark: int, fragment_id: str) -> bool:
        """True once a run asked for after the `mark`-th run started (a full run, or one rerunning
        `fragment_id`) has ended, every run since has ended, and nothing runs."""
        since = self._runs[mark:]
        if self._running or not since or any(run not in self._ended for run, _ in since):
            return False
        return any(self._ended[run] != _FINISHED.FINISHED_EARLY_FOR_RERUN and (not fragments or fragment_id in fragments)
                   for run, fragments in since)

    async def _fetch(self, url: str) -> None:
        self.media[url] = await asyncio.to_thread(self._get, url)

    def _get(self, path: str) -> bytes:
        with self._http.open(self.base_url + path if path.startswith("/") else path, timeout=self.timeout) as response:
            return response.read()

    def _put_file(self, upload_url: str, name: str, data: bytes) -> None:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        token = next((c.value for c in self._cookies if c.name == XSRF_COOKIE), "")
        url = upload_url if upload_url.startswith("http") else self.base_url + upload_url
        request = urllib.request.Request(url, data=body, method="PUT", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": token})
        with self._http.open(request, timeout=self.timeout) as response:
            if response.status not in (200, 204):
                raise PageError(f"upload of {name} answered HTTP {response.status}")

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                message = ForwardMsg()
                message.ParseFromString(raw)
                self._receive(message)
                self._changed.set()
        except Exception:  # noqa: BLE001 - a dropped connection ends the session; waits report it
            pass
        finally:
            self._changed.set()

    def _receive(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session":
            new = message.new_session
            if new.initialize.session_id:
                self.session_id = new.initialize.session_id
            self.page_hash = new.page_script_hash
            for page in new.app_pages:
                self.pages[page.url_pathname] = page.page_script_hash
            run = message.metadata.run
            self._run = run.script_run_id
            self._runs.append((run.script_run_id, tuple(run.fragment_ids)))
            if not run.fragment_ids:  # a full run sets its fragments' timers afresh
                for timer in self._timers.values():
                    timer.cancel()
                self._timers.clear()
        elif kind == "navigation":
            for page in message.navigation.app_pages:
                self.pages[page.url_pathname] = page.page_script_hash
            self.page_hash = message.navigation.page_script_hash or self.page_hash
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "session_status_changed":
            self._running = message.session_status_changed.script_is_running
        elif kind == "delta":
            self._delta(message)
        elif kind == "script_finished":
            status = message.script_finished
            run = message.metadata.run
            self._ended[run.script_run_id or self._run] = status
            if status == _FINISHED.FINISHED_SUCCESSFULLY:  # what this run did not draw is gone
                self.elements = {p: e for p, e in self.elements.items() if e.run == self._run}
            elif status == _FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                rerun = set(run.fragment_ids)
                self.elements = {p: e for p, e in self.elements.items()
                                 if e.run == self._run or e.fragment_id not in rerun}
        elif kind == "auto_rerun":
            fragment = message.auto_rerun.fragment_id
            if fragment in self._timers:
                self._timers[fragment].cancel()
            self._timers[fragment] = asyncio.get_running_loop().create_task(
                self._auto(message.auto_rerun.interval, fragment))
        elif kind == "file_urls_response":
            reply = self._replies.pop(message.file_urls_response.response_id, None)
            if reply is not None and not reply.done():
                reply.set_result(message.file_urls_response)

    def _delta(self, message: ForwardMsg) -> None:
        path = tuple(message.metadata.delta_path)
        delta = message.delta
        which = delta.WhichOneof("type")
        if which == "new_element":
            element = delta.new_element
            element_kind = element.WhichOneof("type")
            proto = getattr(element, element_kind) if element_kind else element
            self.elements[path] = Shown(element_kind or "", proto, delta.fragment_id, self._run)
        elif which == "add_block":
            self.elements[path] = Shown("block", delta.add_block, delta.fragment_id, self._run)

    async def _auto(self, interval: float, fragment_id: str) -> None:
        while not self.closed:
            await asyncio.sleep(interval)
            if not self._running:
                await self._rerun(fragment_id=fragment_id, auto=True, what="run_every")
