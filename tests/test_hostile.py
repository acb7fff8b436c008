"""A hostile client against the real class server (issue 15), over loopback only.

One server (``coupling_lab.serve``, the ``make serve`` configuration, with a
cap of 3 places and short timeouts) for the module. The client is plain
HTTP and websockets (tornado), never a browser: what a script, or the
browser's developer console, can send. Every loop is bounded and every wait
has a timeout. Each finding of issue 15 is replayed as an attack; after each,
a second, well-behaved page must keep answering (landing page and a kernel
round trip, each within ``RESPONSIVE_S``) and the server's memory must stay
under ``SERVER_RSS_MB``.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest
from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from coupling_lab import serve
from coupling_lab.serve import HIDDEN_ERROR, KERNEL_STOPPED, V1_PROTOCOL, BackgroundServer, parse_v1_frame

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
LESSON = "00-start-here.ipynb"   # the lightest lesson page
CAP = 3
CONNECT_TIMEOUT = 6
#: A well-behaved page must get the landing page and a kernel reply within this (2 busy cores).
RESPONSIVE_S = 3.0
#: The server process's resident memory must stay under this throughout (it idles near 200 MB).
SERVER_RSS_MB = 600
KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]{36})"')
PYTHON_TEXT = ("Traceback", "UserWarning", "Warning:", "self.pack", "No such comm", "Unhandled message",
               "site-packages", "{'type'", str(REPO))

pytestmark = pytest.mark.timeout(240)


# --------------------------------------------------------------------------- client
def v1_frame(msg_type, content, channel="shell", session="hostile"):
    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session, "username": "x",
              "version": "5.3", "date": datetime.now(timezone.utc).isoformat()}
    parts = [json.dumps(part).encode() for part in (header, {}, {}, content)]
    return serialize_msg_to_ws_v1(parts, channel), header["msg_id"]


class Page:
    """A kernel websocket as a script holds it: send frames, read every message (bounded)."""

    def __init__(self, base_url, kernel_id):
        self.base_url, self.kernel_id = base_url, kernel_id
        self.ws, self.seen = None, []

    async def open(self):
        url = self.base_url.replace("http", "ws", 1) + f"api/kernels/{self.kernel_id}/channels?session_id={uuid.uuid4().hex}"
        self.ws = await websocket_connect(HTTPRequest(url, connect_timeout=15, request_timeout=15),
                                          subprotocols=[V1_PROTOCOL], max_message_size=64 << 20)
        return self

    async def send(self, msg_type, content, channel="shell"):
        frame, msg_id = v1_frame(msg_type, content, channel)
        await self.ws.write_message(frame, binary=True)
        return msg_id

    async def until(self, predicate, timeout=15.0):
        """The first message (header, parent, content, buffers) for which ``predicate`` holds, or None."""
        deadline = time.monotonic() + timeout
        for msg in self.seen:
            if predicate(msg):
                return msg
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                return None
            if raw is None:
                return None
            channel, parts = parse_v1_frame(raw)
            msg = {"channel": channel, "header": json.loads(parts[0]), "parent": json.loads(parts[1]),
                   "content": json.loads(parts[3]), "buffers": parts[4:]}
            self.seen.append(msg)
            if predicate(msg):
                return msg
        return None

    async def reply_to(self, msg_id, timeout=15.0):
        return await self.until(lambda m: m["parent"].get("msg_id") == msg_id and m["channel"] == "shell", timeout)

    async def round_trip(self, timeout=15.0):
        """Seconds for a kernel_info request to come back."""
        start = time.monotonic()
        msg_id = await self.send("kernel_info_request", {})
        assert await self.reply_to(msg_id, timeout) is not None, "no kernel_info_reply"
        return time.monotonic() - start

    async def widgets(self):
        """{comm_id: state} of every widget of the page."""
        msg_id = await self.send("comm_info_request", {"target_name": "jupyter.widget"})
        reply = await self.reply_to(msg_id)
        comms = list(reply["content"]["comms"])
        for comm_id in comms:
            await self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})
        states = {}
        for _ in range(len(comms)):
            msg = await self.until(lambda m: m["header"]["msg_type"] == "comm_msg"
                                   and m["content"]["data"].get("method") == "update"
                                   and m["content"]["comm_id"] not in states)
            assert msg is not None, "a widget did not send its state"
            states[msg["content"]["comm_id"]] = msg["content"]["data"]["state"]
        return states

    def texts(self, since=0):
        """Every stream text and error value the page received (from message ``since`` on)."""
        out = []
        for m in self.seen[since:]:
            c = m["content"]
            out += [c.get("text", ""), c.get("evalue", "") or "", " ".join(c.get("traceback") or [])]
        return "\n".join(t for t in out if t)

    def close(self):
        if self.ws is not None:
            self.ws.close()


async def fetch(url, timeout=150):
    try:
        response = await AsyncHTTPClient().fetch(HTTPRequest(url, request_timeout=timeout))
        return response.code, response.body.decode(errors="replace")
    except HTTPClientError as exc:
        body = exc.response.body.decode(errors="replace") if exc.response is not None else ""
        return exc.code, body


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(max_kernels=CAP, connect_timeout=CONNECT_TIMEOUT, cull_idle_timeout=60, cull_interval=5,
                          log_path=ARTIFACTS / f"voila-hostile-{os.getpid()}.log") as srv:
        yield srv


def _cmdline(p):
    try:
        return " ".join(p.cmdline())
    except psutil.Error:  # exited, or a zombie not yet reaped
        return ""


def kernel_processes(server):
    return [p for p in psutil.Process(server.pid).children() if "ipykernel" in _cmdline(p)]


def kernel_process(server, kernel_id):
    found = [p for p in kernel_processes(server) if kernel_id in _cmdline(p)]
    assert found, f"no process for kernel {kernel_id}"
    return found[0]


def log_since(server, size):
    time.sleep(0.5)
    with open(server.log_path, "rb") as log:
        log.seek(size)
        return log.read().decode(errors="replace")


def server_rss_mb(server):
    return psutil.Process(server.pid).memory_info().rss / 2**20


async def open_page(server):
    code, body = await fetch(f"{server.url}voila/render/{LESSON}")
    assert code == 200, code
    return await Page(server.url, KERNEL_ID.search(body).group(1)).open()


@pytest.fixture(scope="module")
def pages(loop, server):
    """Two pages that connected as a browser does: a well-behaved one and the attacker's own."""
    good, bad = loop.run_until_complete(asyncio.gather(open_page(server), open_page(server)))
    yield good, bad
    good.close()
    bad.close()


@pytest.fixture
def responsive(loop, server, pages):
    """Call it after an attack: the good page still answers in time, the server's memory is bounded."""
    good, _ = pages
    timings = []

    def check(label):
        async def both():
            start = time.monotonic()
            code, _ = await fetch(server.url, timeout=30)
            landing_s = time.monotonic() - start
            return code, landing_s, await good.round_trip(timeout=30)

        code, landing_s, kernel_s = loop.run_until_complete(both())
        timings.append((label, landing_s, kernel_s))
        assert code == 200
        assert landing_s < RESPONSIVE_S, f"after {label}: landing page took {landing_s:.2f} s"
        assert kernel_s < RESPONSIVE_S, f"after {label}: kernel round trip took {kernel_s:.2f} s"
        assert server_rss_mb(server) < SERVER_RSS_MB, f"after {label}: server at {server_rss_mb(server):.0f} MB"
        return landing_s, kernel_s

    yield check
    print("\nresponsiveness:", [(label, round(a, 3), round(b, 3)) for label, a, b in timings])


# --------------------------------------------------------------------------- findings 8 and 5 (first: needs every place free)
def test_cap_counts_places_exactly_and_unconnected_kernels_are_culled(loop, server):
    """8: 2 x CAP simultaneous loads fill exactly CAP places; the rest get the styled class-full page.
    5: plain GETs that never open a websocket hold their places only ``connect_timeout`` s."""
    async def burst():
        return await asyncio.gather(*(fetch(f"{server.url}voila/render/{LESSON}") for _ in range(2 * CAP)))

    results = loop.run_until_complete(burst())
    codes = sorted(code for code, _ in results)
    assert codes == [200] * CAP + [503] * CAP, codes
    refused = next(body for code, body in results if code == 503)
    assert serve.class_full_message(CAP) in refused and "Back to the lessons" in refused
    assert "Traceback" not in refused
    started = time.monotonic()
    deadline = started + CONNECT_TIMEOUT + 40
    while kernel_processes(server) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not kernel_processes(server), "kernels of pages that never connected were not shut down"
    held = time.monotonic() - started
    assert held < CONNECT_TIMEOUT + 40
    code, _ = loop.run_until_complete(fetch(f"{server.url}voila/render/{LESSON}"))
    assert code == 200, "no place came back"
    print(f"\nplaces held by GETs without a websocket: {held:.1f} s after the burst")


# --------------------------------------------------------------------------- finding 1
def test_websocket_without_the_v1_protocol_is_refused(loop, server, pages, responsive):
    good, bad = pages
    url = server.url.replace("http", "ws", 1) + f"api/kernels/{bad.kernel_id}/channels?session_id=legacy"

    async def legacy():
        with pytest.raises(HTTPClientError) as refused:
            await websocket_connect(HTTPRequest(url, connect_timeout=15, request_timeout=15))
        return refused.value.code

    size = server.log_path.stat().st_size
    for _ in range(5):
        assert loop.run_until_complete(legacy()) == 400
    logged = log_since(server, size)
    assert "Traceback" not in logged and len(logged) < 5 * 400, logged[:500]
    # the page's own draw request (the message that hung the server on the legacy path) is fine over v1
    states = loop.run_until_complete(bad.widgets())
    canvas = next(cid for cid, st in states.items() if st.get("_model_name") == "MPLCanvasModel")
    before = len(bad.seen)
    loop.run_until_complete(bad.send("comm_msg", {"comm_id": canvas, "data": {"method": "custom",
                                                                              "content": {"type": "draw"}}}))
    image = loop.run_until_complete(bad.until(lambda m: m["buffers"] and m["content"].get("comm_id") == canvas))
    assert image is not None and len(bad.seen) > before
    responsive("legacy websocket + draw")


# --------------------------------------------------------------------------- finding 2
@pytest.mark.parametrize("count", [16_000_000, 10**17])
def test_frame_with_a_huge_offset_count_is_dropped(loop, server, pages, responsive, count):
    _, bad = pages
    frame = count.to_bytes(8, "little") + (24).to_bytes(8, "little")
    start = time.monotonic()
    loop.run_until_complete(bad.ws.write_message(frame, binary=True))
    landing_s, kernel_s = responsive(f"offset count {count}")
    assert loop.run_until_complete(bad.round_trip()) < RESPONSIVE_S, "the attacker's own socket stopped working"
    assert time.monotonic() - start < 2 * RESPONSIVE_S + 5


# --------------------------------------------------------------------------- findings 3 and 7
def test_stderr_and_python_text_reach_the_page_as_one_line_and_output_keeps_flowing(loop, server, pages, responsive):
    """3: after a stderr line the page still receives everything; 7: no Python text reaches it."""
    _, bad = pages
    states = loop.run_until_complete(bad.widgets())
    main = next(cid for cid, st in states.items() if "cl-main-control" in (st.get("_dom_classes") or []))
    since = len(bad.seen)
    attacks = [
        ("comm_msg", {"comm_id": "no-such-comm", "data": {"method": "update", "state": {}}}),         # No such comm
        ("comm_open", {"comm_id": uuid.uuid4().hex, "target_name": "nope", "data": {}}),              # no such target
        ("comm_msg", {"comm_id": main, "data": {"method": "update", "state": {"value": "x" * 100}}}),  # rejected value
    ]
    for msg_type, content in attacks:
        loop.run_until_complete(bad.send(msg_type, content))
        assert loop.run_until_complete(bad.round_trip()) < RESPONSIVE_S  # 3: replies still arrive
    # a NaN value: JSON cannot carry it, Python's json writes the token; the echo fails to serialize
    frame, _ = v1_frame("comm_msg", {"comm_id": main, "data": {"method": "update", "state": {"value": 0.5}}})
    frame = frame.replace(b'"value": 0.5', b'"value": NaN')
    _, parts = parse_v1_frame(frame)
    loop.run_until_complete(bad.ws.write_message(serialize_msg_to_ws_v1(parts, "shell"), binary=True))
    # an unknown canvas message (was echoed back with its content)
    canvas = next(cid for cid, st in states.items() if st.get("_model_name") == "MPLCanvasModel")
    loop.run_until_complete(bad.send("comm_msg", {"comm_id": canvas, "data": {"method": "custom",
                                                                              "content": {"type": "nope"}}}))
    loop.run_until_complete(bad.until(lambda m: False, timeout=3))  # collect what the kernel says
    assert loop.run_until_complete(bad.round_trip()) < RESPONSIVE_S
    text = bad.texts(since)
    assert HIDDEN_ERROR in text, "no one-line message for the refused messages"
    for marker in PYTHON_TEXT:
        assert marker not in text, f"{marker!r} reached the page: {text[:300]!r}"
    streams = [m["content"]["text"] for m in bad.seen[since:] if m["header"]["msg_type"] == "stream"]
    assert streams and all(s == HIDDEN_ERROR + "\n" for s in streams), streams[:3]
    responsive("stderr, NaN, unknown canvas message")


def test_minor_leaks_are_closed(loop, server, pages, responsive):
    _, bad = pages
    size = server.log_path.stat().st_size
    for path in ("voila/api/contents", "voila/api/contents/", "voila/templates/x", "voila/templates/lab/nope/x",
                 "logout", "login", "api/kernels/00000000-0000-0000-0000-000000000000/channels", "voila/static/nope",
                 "voila/render/nope.ipynb"):
        code, body = loop.run_until_complete(fetch(server.url + path, timeout=30))
        assert code in (400, 403, 404), (path, code)
        assert "writable" not in body and ".ipynb" not in body and "Traceback" not in body
    assert "Traceback" not in log_since(server, size), "an error page logged a traceback"
    msg_id = loop.run_until_complete(bad.send("kernel_info_request", {}))
    info = loop.run_until_complete(bad.reply_to(msg_id))["content"]
    assert info["protocol_version"]
    assert "banner" not in info and "implementation_version" not in info
    assert "version" not in info.get("language_info", {})
    responsive("contents, templates, logout, kernel_info")


# --------------------------------------------------------------------------- finding 4
def test_canvas_size_and_pixel_ratio_are_bounded(loop, server, pages, responsive):
    _, bad = pages
    states = loop.run_until_complete(bad.widgets())
    canvas = next(cid for cid, st in states.items() if st.get("_model_name") == "MPLCanvasModel")
    kernel = kernel_process(server, bad.kernel_id)
    before = kernel.memory_info().rss / 2**20
    since = len(bad.seen)
    for content in ({"type": "set_device_pixel_ratio", "device_pixel_ratio": 40},
                    {"type": "resize", "width": 65000, "height": 65000}, {"type": "draw"},
                    {"type": "toolbar_button", "name": "save_figure"}):
        loop.run_until_complete(bad.send("comm_msg", {"comm_id": canvas, "data": {"method": "custom",
                                                                                  "content": content}}))
    image = loop.run_until_complete(bad.until(lambda m: m["buffers"] and m["content"].get("comm_id") == canvas
                                              and len(bad.seen) > since, 30))
    assert image is not None, "no image after the bounded resize"
    assert loop.run_until_complete(bad.round_trip(timeout=60)) < 30
    assert bad.ws.close_code is None, "the attacker's socket was closed"
    peak = kernel.memory_info().rss / 2**20
    # 65000 x 65000 px at ratio 40 would be terabytes; bounded it is at most 2.4 Mpx x 2^2
    assert peak - before < 250, f"kernel grew from {before:.0f} to {peak:.0f} MB"
    limits = Path(f"/proc/{kernel.pid}/limits").read_text()
    line = next(ln for ln in limits.splitlines() if ln.startswith("Max address space"))
    assert str(serve.ClassSettings().kernel_memory_mb * 2**20) in line, line
    print(f"\nkernel RSS {before:.0f} -> {peak:.0f} MB after the canvas attack; {line}")
    responsive("resize 65000 px, pixel ratio 40")


# --------------------------------------------------------------------------- finding 6
def test_client_text_in_the_log_is_truncated(loop, server, pages, responsive):
    _, bad = pages
    states = loop.run_until_complete(bad.widgets())
    main = next(cid for cid, st in states.items() if "cl-main-control" in (st.get("_dom_classes") or []))
    log = server.log_path
    size = log.stat().st_size
    big = "y" * 900_000
    for _ in range(3):
        loop.run_until_complete(bad.send("comm_msg", {"comm_id": main, "data": {"method": "update",
                                                                                "state": {"value": big}}}))
        loop.run_until_complete(bad.send(big[:200_000], {}))   # a huge message type
    assert loop.run_until_complete(bad.round_trip(timeout=60)) < 30
    time.sleep(1)
    grown = log.stat().st_size - size
    assert grown < 60_000, f"3 x 1.1 MB of client text added {grown} bytes to the server log"
    # a frame over the server's 1 MiB limit closes that socket, nothing more
    async def oversized():
        page = await Page(server.url, bad.kernel_id).open()
        await page.ws.write_message(b"z" * (serve.MAX_FRAME_BYTES + 10), binary=True)
        closed = await page.until(lambda m: False, timeout=10)
        return closed, page.ws.close_code

    closed, code = loop.run_until_complete(oversized())
    assert closed is None and code is not None
    print(f"\nserver log grew {grown} bytes for 3.3 MB of hostile text")
    responsive("log amplification, oversized frame")


def test_a_flood_is_cut_to_what_a_page_may_send(loop, server, pages, responsive):
    """Frames past the page budget (serve.IN_MESSAGES, serve.IN_BYTES) are dropped before they queue
    in the server's memory in front of the kernel; the socket works again once the flood stops."""
    _, bad = pages
    rss_before = server_rss_mb(server)

    async def flood():
        frames = [v1_frame("kernel_info_request", {}) for _ in range(3000)]  # far past the burst of 1000
        frames += [v1_frame("comm_msg", {"comm_id": "x", "data": {"method": "update", "state": {"v": "z" * 900_000}}})
                   for _ in range(12)]                                      # 10.8 MB, far past the 4 MB burst
        ids = {msg_id for _, msg_id in frames}
        started = time.monotonic()
        await asyncio.gather(*(bad.ws.write_message(frame, binary=True) for frame, _ in frames))
        print(f"\nflood sent in {time.monotonic() - started:.2f} s")
        await bad.until(lambda m: False, timeout=5)
        return sum(1 for m in bad.seen if m["parent"].get("msg_id") in ids and m["channel"] == "shell")

    answered = loop.run_until_complete(flood())
    assert answered < 2000, f"{answered} of 3000 flood messages reached the kernel"
    time.sleep(1.5)
    assert loop.run_until_complete(bad.round_trip()) < RESPONSIVE_S
    assert server_rss_mb(server) - rss_before < 150
    print(f"\nflood: {answered} of 3000 requests answered")
    responsive("flood of 3000 messages and 10.8 MB")


# --------------------------------------------------------------------------- the memory ceiling's page message
def test_a_kernel_that_dies_is_reported_to_its_page_and_frees_its_place(loop, server, pages, responsive):
    _, bad = pages
    since = len(bad.seen)
    kernel_process(server, bad.kernel_id).send_signal(signal.SIGKILL)  # as the kernel ceiling's OOM would
    dead = loop.run_until_complete(bad.until(
        lambda m: m["header"]["msg_type"] == "status" and m["content"].get("execution_state") == "dead", 30))
    assert dead is not None, "the page was not told its kernel died"
    assert KERNEL_STOPPED in bad.texts(since)
    deadline = time.monotonic() + 20
    while any(bad.kernel_id in _cmdline(p) for p in kernel_processes(server)) and time.monotonic() < deadline:
        time.sleep(0.5)
    code, _ = loop.run_until_complete(fetch(f"{server.url}api/kernels/{bad.kernel_id}", timeout=30))
    assert code == 404, "the dead kernel is still listed (not restarted, place freed)"
    responsive("kernel killed")


def test_a_page_whose_kernel_dies_shows_one_line(server, pages):
    """In the browser: the lesson page shows KERNEL_STOPPED once its kernel is gone."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 1600})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1")
                       else route.abort())
            before = {p.pid for p in kernel_processes(server)}
            page.goto(f"{server.url}voila/render/{LESSON}", timeout=150_000)
            page.wait_for_selector(".cl-main-control .noUi-handle", state="visible", timeout=150_000)
            assert page.locator("#cl-kernel-stopped").count() == 0
            mine = [p for p in kernel_processes(server) if p.pid not in before]
            assert len(mine) == 1
            mine[0].send_signal(signal.SIGKILL)
            page.wait_for_selector("#cl-kernel-stopped", state="visible", timeout=30_000)
            assert page.inner_text("#cl-kernel-stopped") == KERNEL_STOPPED
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "kernel-stopped.png"))
        finally:
            chromium.close()
