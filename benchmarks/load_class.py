"""A class on one server: N learners against one Voila server, on loopback only.

    .venv/bin/python benchmarks/load_class.py                 # every scenario (about 10-15 min)
    .venv/bin/python benchmarks/load_class.py --only arrival  # 30 learners over 60 s
    .venv/bin/python benchmarks/load_class.py --only burst --burst 10 30
    .venv/bin/python benchmarks/load_class.py --only exhaustion
    .venv/bin/python benchmarks/load_class.py --only hostile --attack-seconds 60

Each scenario starts its own server with ``coupling_lab.serve`` (the settings
``make serve`` uses, with short cull timeouts so the run stays bounded), on a
free port of 127.0.0.1, and stops it (and its kernels) at the end. Counts and
times are bounded: at most ``--max-learners`` learners, each page given
``--page-timeout`` seconds, and every scenario gives up after a fixed time.

How learners are driven (both on this machine, so they cost CPU too):

* ``browser`` -- headless Debian chromium pages in one browser (playwright).
  First interactive render = from ``goto`` until the main control's slider
  handle is visible and the ipympl canvas has been drawn.
* ``http`` -- plain HTTP + websocket clients (tornado), far cheaper than a
  browser: GET the lesson (Voila runs every cell before the page completes),
  open the kernel's websocket as the page does, ask for the widgets
  (``comm_info_request``) and their state (``request_state``) and wait for
  all of it. First render = until the last widget state arrived. It does not
  run the page's JavaScript, so it is a lower bound on what a browser sees.

Memory: resident (RSS) and proportional (PSS: shared library pages split
between the processes that map them) memory of the server and of every
kernel, read with psutil. After the learners leave (pages closed,
websockets closed), the culler should shut their kernels down: the run waits
for it and records memory again.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from jupyter_server.services.kernels.connection.base import serialize_msg_to_ws_v1  # noqa: E402

from coupling_lab.serve import (  # noqa: E402
    V1_PROTOCOL, BackgroundServer, ClassSettings, class_full_message, memory_bound_mb, parse_v1_frame,
    typical_memory_mb)

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]{36})"')


# --------------------------------------------------------------------------- memory
def memory(server_pid):
    """MB of the server and its kernels: {'server_rss', 'kernels', 'kernel_rss': [...], 'kernel_pss': [...]}"""
    server = psutil.Process(server_pid)
    kernels = [p for p in server.children() if "ipykernel" in " ".join(_cmdline(p))]
    rss, pss = [], []
    for p in kernels:
        try:
            info = p.memory_full_info()
            rss.append(info.rss / 2**20)
            pss.append(info.pss / 2**20)
        except psutil.Error:
            pass
    s = server.memory_full_info()
    return {"server_rss": s.rss / 2**20, "server_pss": s.pss / 2**20, "kernels": len(rss),
            "kernel_rss": rss, "kernel_pss": pss,
            "total_rss": s.rss / 2**20 + sum(rss), "total_pss": s.pss / 2**20 + sum(pss)}


def _cmdline(p):
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def wait_for_culling(server, timeout):
    """Seconds until the server has no kernel left (None if it still has some after ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if memory(server.pid)["kernels"] == 0:
            return time.monotonic() - start
        time.sleep(2)
    return None


# --------------------------------------------------------------------------- learners
class HttpLearner:
    """One learner as plain HTTP + websocket: load the page, then fetch the widgets' state."""

    def __init__(self, base_url, lesson, page_timeout):
        self.base_url, self.lesson, self.page_timeout = base_url, lesson, page_timeout
        self.ws = None
        self.outcome, self.seconds, self.detail = None, None, ""

    async def visit(self):
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        start = time.monotonic()
        client = AsyncHTTPClient()
        try:
            response = await client.fetch(HTTPRequest(f"{self.base_url}voila/render/{self.lesson}",
                                                      request_timeout=self.page_timeout))
        except HTTPClientError as exc:
            body = exc.response.body.decode(errors="replace") if exc.response is not None else ""
            self.outcome = "full" if exc.code == 503 and "class is full" in body else "failed"
            self.detail = f"HTTP {exc.code}"
            return self
        except Exception as exc:  # timeouts, refused connections
            self.outcome, self.detail = "failed", type(exc).__name__
            return self
        page = response.body.decode(errors="replace")
        match = KERNEL_ID.search(page)
        if not match or "There was an error when executing cell" in page:
            self.outcome, self.detail = "failed", "no kernel id or a cell error in the page"
            return self
        try:
            await asyncio.wait_for(self._widgets(match.group(1)), self.page_timeout - (time.monotonic() - start))
        except Exception as exc:
            self.outcome, self.detail = "failed", f"widgets: {type(exc).__name__}"
            return self
        self.outcome, self.seconds = "ok", time.monotonic() - start
        return self

    async def _widgets(self, kernel_id):
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        session = uuid.uuid4().hex
        url = self.base_url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels?session_id={session}"
        # the v1 protocol, as a lesson page speaks it (the server refuses any other)
        self.ws = await websocket_connect(HTTPRequest(url, connect_timeout=60, request_timeout=60),
                                          subprotocols=[V1_PROTOCOL], max_message_size=64 << 20)
        self.session = session
        await self.send("comm_info_request", {"target_name": "jupyter.widget"})
        comms = None
        while comms is None:
            msg = await self.receive()
            if msg is None:
                raise ConnectionError("websocket closed")
            if msg["header"]["msg_type"] == "comm_info_reply":
                comms = list(msg["content"]["comms"])
        for comm_id in comms:
            await self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})
        waiting = set(comms)
        while waiting:
            msg = await self.receive()
            if msg is None:
                raise ConnectionError("websocket closed")
            if msg["header"]["msg_type"] == "comm_msg" and msg["content"].get("data", {}).get("method") == "update":
                waiting.discard(msg["content"]["comm_id"])

    async def send(self, msg_type, content, channel="shell"):
        """Send one v1 message; returns its msg_id."""
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": self.session,
                  "username": "learner", "version": "5.3", "date": ""}
        parts = [json.dumps(part).encode() for part in (header, {}, {}, content)]
        await self.ws.write_message(serialize_msg_to_ws_v1(parts, channel), binary=True)
        return header["msg_id"]

    async def receive(self):
        """The next message as a dict (header, parent, content, buffers), or None if the socket closed."""
        raw = await self.ws.read_message()
        if raw is None:
            return None
        _, parts = parse_v1_frame(raw)
        return {"header": json.loads(parts[0]), "parent": json.loads(parts[1]), "content": json.loads(parts[3]),
                "buffers": parts[4:]}

    async def leave(self):
        if self.ws is not None:
            self.ws.close()


async def _browser_learners(base_url, lesson, delays, page_timeout, hold):
    """Learners as pages of one headless chromium; returns (outcome, seconds, detail) per learner."""
    from playwright.async_api import async_playwright

    results = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pages = []

        async def one(delay):
            await asyncio.sleep(delay)
            page = await browser.new_page(viewport={"width": 1280, "height": 1600})
            pages.append(page)
            await page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                "http://127.0.0.1") else route.abort())
            start = time.monotonic()
            try:
                response = await page.goto(f"{base_url}voila/render/{lesson}", timeout=page_timeout * 1000,
                                           wait_until="commit")
                if response is not None and response.status == 503:
                    return ("full", None, "HTTP 503")
                await page.wait_for_selector(".cl-main-control .noUi-handle", state="visible",
                                             timeout=page_timeout * 1000)
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('.jupyter-matplotlib-canvas-div canvas')]"
                    ".some(c => c.width > 10)", timeout=page_timeout * 1000)
                return ("ok", time.monotonic() - start, "")
            except Exception as exc:
                return ("failed", None, type(exc).__name__)

        results = await asyncio.gather(*(one(d) for d in delays))
        await asyncio.sleep(hold)
        for page in pages:
            await page.close()
        await browser.close()
    return results


# --------------------------------------------------------------------------- scenarios
def summarize(label, driver, results, wall, mem_peak, mem_after, cull_seconds):
    ok = sorted(r[1] for r in results if r[0] == "ok")
    row = {
        "scenario": label, "driver": driver, "learners": len(results), "ok": len(ok),
        "failed": sum(r[0] == "failed" for r in results), "full": sum(r[0] == "full" for r in results),
        "median_s": statistics.median(ok) if ok else None,
        "p95_s": ok[min(len(ok) - 1, int(round(0.95 * (len(ok) - 1))))] if ok else None,
        "max_s": ok[-1] if ok else None, "wall_s": wall,
        "kernels_peak": mem_peak["kernels"],
        "kernel_rss_mb_median": statistics.median(mem_peak["kernel_rss"]) if mem_peak["kernel_rss"] else None,
        "kernel_pss_mb_median": statistics.median(mem_peak["kernel_pss"]) if mem_peak["kernel_pss"] else None,
        "server_rss_mb": mem_peak["server_rss"], "total_rss_mb": mem_peak["total_rss"],
        "total_pss_mb": mem_peak["total_pss"],
        "kernels_after_cull": mem_after["kernels"], "total_rss_mb_after_cull": mem_after["total_rss"],
        "cull_seconds": cull_seconds,
        "failures": sorted({r[2] for r in results if r[0] == "failed"}),
    }
    print(json.dumps(row), flush=True)
    return row


def run_wave(args, label, n, spread, driver, cap=None):
    """n learners arriving uniformly over ``spread`` seconds; they stay ``--hold`` s, then leave."""
    delays = [spread * i / max(n - 1, 1) for i in range(n)] if spread else [0.0] * n
    with BackgroundServer(max_kernels=cap or max(n, 1) + 5, cull_idle_timeout=args.cull, cull_interval=5,
                          log_path=ARTIFACTS / f"load-{label}.log") as server:
        time.sleep(2)
        base = memory(server.pid)
        start = time.monotonic()
        if driver == "browser":
            peak = {}

            async def go():
                task = asyncio.ensure_future(_browser_learners(server.url, args.lesson, delays, args.page_timeout,
                                                               hold=5))
                # sample memory while every page is open (they are held 5 s after the last render)
                while not task.done():
                    await asyncio.sleep(2)
                    m = memory(server.pid)
                    if m["kernels"] >= peak.get("kernels", -1):
                        peak.update(m)
                return await task

            results = asyncio.run(go())
            wall = time.monotonic() - start
            mem_peak = peak or memory(server.pid)
        else:
            from tornado.httpclient import AsyncHTTPClient

            async def go():
                AsyncHTTPClient.configure(None, max_clients=1000)
                learners = [HttpLearner(server.url, args.lesson, args.page_timeout) for _ in range(n)]

                async def one(learner, delay):
                    await asyncio.sleep(delay)
                    return await learner.visit()

                done = await asyncio.gather(*(one(lr, d) for lr, d in zip(learners, delays)))
                elapsed = time.monotonic() - start
                await asyncio.sleep(3)
                peak = memory(server.pid)
                for learner in learners:
                    await learner.leave()
                return done, elapsed, peak

            done, wall, mem_peak = asyncio.run(go())
            results = [(lr.outcome, lr.seconds, lr.detail) for lr in done]
        cull_seconds = wait_for_culling(server, args.cull + 60)
        mem_after = memory(server.pid)
        row = summarize(label, driver, results, wall, mem_peak, mem_after, cull_seconds)
        row["server_rss_mb_idle_before"] = base["server_rss"]
        return row


def run_exhaustion(args):
    """Open 3x the cap without closing anything; check the server, memory, the message and recovery."""
    cap = args.cap
    bound = memory_bound_mb(ClassSettings(max_kernels=cap))
    typical = typical_memory_mb(ClassSettings(max_kernels=cap))
    from tornado.httpclient import AsyncHTTPClient

    with BackgroundServer(max_kernels=cap, cull_idle_timeout=20, cull_connected_timeout=45, cull_interval=5,
                          log_path=ARTIFACTS / "load-exhaustion.log") as server:
        time.sleep(2)

        async def go():
            AsyncHTTPClient.configure(None, max_clients=1000)
            learners = [HttpLearner(server.url, args.lesson, args.page_timeout) for _ in range(3 * cap)]
            done = await asyncio.gather(*(lr.visit() for lr in learners))
            peak = memory(server.pid)
            return learners, done, peak

        start = time.monotonic()
        learners, done, peak = asyncio.run(go())
        outcomes = [lr.outcome for lr in done]
        # the refused pages carry the class-full line, not a traceback
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(f"{server.url}voila/render/{args.lesson}", timeout=60)
            refused_page = ""
        except urllib.error.HTTPError as exc:
            refused_page = exc.read().decode(errors="replace")
        alive = server.proc.poll() is None and urllib.request.urlopen(server.url, timeout=30).status == 200
        # the pages stay open (websockets held); culling must still bring capacity back
        cull_seconds = wait_for_culling(server, 120)
        after = memory(server.pid)
        with urllib.request.urlopen(f"{server.url}voila/render/{args.lesson}", timeout=args.page_timeout) as r:
            reopened = r.status
        row = {
            "scenario": f"exhaustion cap={cap}, {3 * cap} pages held open", "driver": "http",
            "ok": outcomes.count("ok"), "full": outcomes.count("full"), "failed": outcomes.count("failed"),
            "server_alive": alive, "class_full_page": class_full_message(cap) in refused_page,
            "traceback_in_refusal": "Traceback" in refused_page,
            "kernels_peak": peak["kernels"], "total_rss_mb_peak": peak["total_rss"],
            "documented_bound_mb": bound, "under_bound": peak["total_rss"] <= bound,
            "typical_mb": typical, "under_typical": peak["total_rss"] <= typical,
            "seconds_until_culled": cull_seconds, "kernels_after_cull": after["kernels"],
            "new_page_after_cull": reopened, "wall_s": time.monotonic() - start,
        }
        print(json.dumps(row), flush=True)
        # what issue 7 asks of a server under exhaustion
        problems = [k for k, good in [
            ("every place used", row["ok"] == cap), ("the rest told the class is full", row["full"] == 2 * cap),
            ("no failed page", row["failed"] == 0), ("server alive", alive),
            ("class-full message", row["class_full_page"]), ("no traceback", not row["traceback_in_refusal"]),
            ("memory under the documented bound", row["under_bound"]),
            ("kernels culled", row["kernels_after_cull"] == 0), ("capacity back", reopened == 200)] if not good]
        if problems:
            raise SystemExit(f"exhaustion check failed: {problems}")
        return row


def run_hostile(args):
    """One attacker script cycling every issue-15 attack for ``--attack-seconds`` against a server
    with learners on it; a well-behaved page measures landing-page and kernel round-trip times."""
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    cap = args.cap
    with BackgroundServer(max_kernels=cap, connect_timeout=30, cull_interval=5,
                          log_path=ARTIFACTS / "load-hostile.log") as server:
        time.sleep(2)

        async def go():
            AsyncHTTPClient.configure(None, max_clients=100)
            client = AsyncHTTPClient()
            good = await HttpLearner(server.url, args.lesson, args.page_timeout).visit()
            bad = await HttpLearner(server.url, args.lesson, args.page_timeout).visit()
            assert good.outcome == bad.outcome == "ok", (good.detail, bad.detail)
            await bad.send("comm_info_request", {"target_name": "jupyter.widget"})
            comms = []
            while not comms:
                msg = await asyncio.wait_for(bad.receive(), 30)
                if msg["header"]["msg_type"] == "comm_info_reply":
                    comms = list(msg["content"]["comms"])
            kernel_id = KERNEL_ID.search((await client.fetch(f"{server.url}voila/render/{args.lesson}",
                                                             request_timeout=args.page_timeout)).body.decode()).group(1)
            landing, kernel, peak_server, peak_kernel = [], [], 0.0, 0.0
            log_before = server.log_path.stat().st_size
            stop = time.monotonic() + args.attack_seconds
            attacks = 0

            async def attacker():
                nonlocal attacks
                ws_url = server.url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels?session_id=x"
                kinds = set(args.attacks)
                while time.monotonic() < stop and attacks < 2000:
                    attacks += 1
                    if "frame" in kinds:
                        await bad.ws.write_message((16_000_000).to_bytes(8, "little") + bytes(8), binary=True)
                    if "legacy" in kinds:
                        try:
                            await websocket_connect(HTTPRequest(ws_url, connect_timeout=10, request_timeout=10))
                        except (HTTPClientError, OSError):
                            pass
                    for comm in comms:
                        if "canvas" in kinds:
                            for content in ({"type": "set_device_pixel_ratio", "device_pixel_ratio": 40},
                                            {"type": "resize", "width": 65000, "height": 65000}, {"type": "draw"},
                                            {"type": "nope"}):
                                await bad.send("comm_msg", {"comm_id": comm, "data": {"method": "custom",
                                                                                      "content": content}})
                        if "value" in kinds:
                            await bad.send("comm_msg", {"comm_id": comm, "data": {"method": "update",
                                                                                  "state": {"value": "y" * 300_000}}})
                    if "comm" in kinds:
                        await bad.send("comm_msg", {"comm_id": "no-such-comm", "data": {}})
                    await asyncio.sleep(0.2)

            async def drain():
                while time.monotonic() < stop + 5:
                    try:
                        if await asyncio.wait_for(bad.receive(), 1) is None:
                            return
                    except asyncio.TimeoutError:
                        pass

            async def measure():
                nonlocal peak_server, peak_kernel
                while time.monotonic() < stop:
                    t = time.monotonic()
                    await client.fetch(server.url, request_timeout=60)
                    landing.append(time.monotonic() - t)
                    t = time.monotonic()
                    msg_id = await good.send("kernel_info_request", {})
                    while True:
                        msg = await asyncio.wait_for(good.receive(), 60)
                        if msg["parent"].get("msg_id") == msg_id and msg["header"]["msg_type"] == "kernel_info_reply":
                            break
                    kernel.append(time.monotonic() - t)
                    m = memory(server.pid)
                    peak_server = max(peak_server, m["server_rss"])
                    peak_kernel = max([peak_kernel, *m["kernel_rss"]])
                    await asyncio.sleep(0.5)

            await asyncio.gather(attacker(), drain(), measure())
            return landing, kernel, peak_server, peak_kernel, attacks, server.log_path.stat().st_size - log_before

        landing, kernel, peak_server, peak_kernel, attacks, log_growth = asyncio.run(go())
        row = {
            "scenario": f"hostile script for {args.attack_seconds} s, cap {cap}", "attacks": args.attacks,
            "attack_cycles": attacks,
            "landing_median_s": statistics.median(landing), "landing_max_s": max(landing),
            "kernel_round_trip_median_s": statistics.median(kernel), "kernel_round_trip_max_s": max(kernel),
            "samples": len(kernel), "server_rss_peak_mb": peak_server, "kernel_rss_peak_mb": peak_kernel,
            "kernel_ceiling_mb": ClassSettings().kernel_memory_mb, "log_growth_bytes": log_growth,
            "server_alive": server.proc.poll() is None,
        }
        print(json.dumps(row), flush=True)
        return row


def per_lesson_memory(args):
    """One page per lesson, one after the other: RSS/PSS of each lesson's kernel after its render."""
    rows = []
    lessons = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    with BackgroundServer(max_kernels=len(lessons) + 2, log_path=ARTIFACTS / "load-lessons.log") as server:
        from tornado.httpclient import AsyncHTTPClient

        async def go():
            AsyncHTTPClient.configure(None, max_clients=100)
            for name in lessons:
                before = {p.pid for p in psutil.Process(server.pid).children()}
                learner = await HttpLearner(server.url, name, args.page_timeout).visit()
                await asyncio.sleep(2)
                new = [p for p in psutil.Process(server.pid).children() if p.pid not in before]
                info = new[0].memory_full_info() if new else None
                row = {"lesson": name, "outcome": learner.outcome, "render_s": learner.seconds,
                       "kernel_rss_mb": info.rss / 2**20 if info else None,
                       "kernel_pss_mb": info.pss / 2**20 if info else None}
                print(json.dumps(row), flush=True)
                rows.append(row)
                await learner.leave()

        asyncio.run(go())
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=["lessons", "arrival", "burst", "exhaustion", "hostile"], nargs="*")
    p.add_argument("--attack-seconds", type=int, default=60, help="how long the hostile script runs")
    p.add_argument("--attacks", nargs="*", default=["frame", "legacy", "canvas", "value", "comm"],
                   choices=["frame", "legacy", "canvas", "value", "comm"], help="which attacks the script loops over")
    p.add_argument("--lesson", default="00-start-here.ipynb", help="the page every learner opens")
    p.add_argument("--burst", type=int, nargs="*", default=[30, 60, 100], help="N http learners at once")
    p.add_argument("--arrival-drivers", nargs="*", default=["http", "browser"], choices=["http", "browser"])
    p.add_argument("--browser-burst", type=int, nargs="*", default=[10], help="N browser pages at once")
    p.add_argument("--max-learners", type=int, default=120, help="hard bound on any wave")
    p.add_argument("--page-timeout", type=int, default=240, help="seconds a learner waits for a page")
    p.add_argument("--cull", type=int, default=60, help="cull_idle_timeout for the run (s); under load a page can "
                   "take tens of seconds to connect after its kernel ran, so keep it well above that")
    p.add_argument("--cap", type=int, default=10, help="kernel cap of the exhaustion check")
    p.add_argument("--json", type=Path, help="also write every row here")
    args = p.parse_args(argv)
    only = set(args.only or ["lessons", "arrival", "burst", "exhaustion", "hostile"])
    rows = []
    if "lessons" in only:
        rows += per_lesson_memory(args)
    if "arrival" in only:
        for driver in args.arrival_drivers:
            rows.append(run_wave(args, f"arrival-30-over-60s-{driver}", 30, 60, driver))
    if "burst" in only:
        for n in args.browser_burst:
            rows.append(run_wave(args, f"burst-{n}-browser", min(n, args.max_learners), 0, "browser"))
        for n in args.burst:
            rows.append(run_wave(args, f"burst-{n}-http", min(n, args.max_learners), 0, "http"))
    if "exhaustion" in only:
        rows.append(run_exhaustion(args))
    if "hostile" in only:
        rows.append(run_hostile(args))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
