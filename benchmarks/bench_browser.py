"""Keyboard step of each lesson's main slider -> the canvas changing, in headless chromium.

One Voila server (``coupling_lab.serve.BackgroundServer``, the configuration ``make serve``
uses), one Debian chromium (playwright), one page per lesson, opened one after the other.
On each page the main control (``.cl-main-control``) gets ``--steps`` keyboard steps
(ArrowRight, or ArrowLeft where the slider has less room to the right); each step waits
until the figure has settled (no new frame for ``--quiet`` seconds) before the next.

The clock runs in the page: from the ``keydown`` on the slider handle
(``performance.now()``) to the *last* ``drawImage`` onto an ipympl canvas on the page that changed
its pixels
(ipympl paints a received PNG frame onto its view canvas with ``drawImage``), so it holds the
widget sync, the kernel's callback, ipympl's frames and the browser decoding and painting them.
*idle f/s* counts frames ipympl paints per second while nobody touches the page (should be 0).
A step that paints no frame within ``--timeout`` seconds counts as a failure (printed).

Run:  .venv/bin/python benchmarks/bench_browser.py [--only 00,02b] [--steps 10] [--json out.json]
Target (issue 14, item 4): median < 150 ms and worst of ten < 300 ms on a quiet machine.

Before/after on a shared machine: ``--against DIR`` serves a second copy of the repository (e.g.
``git archive <commit> | tar -x -C /tmp/before``) from a second server whose kernels import its
``coupling_lab`` (``PYTHONPATH``), and opens each lesson ``--repeats`` times in each copy, in
alternating order (A B, B A, ...), so both see the same load; each page also reports the CPU time
its kernel used during the steps (psutil; it includes the waits between steps).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from coupling_lab.serve import BackgroundServer  # noqa: E402

NOTEBOOKS = REPO / "notebooks"
LESSONS = ["00", "01", "02", "02b", "03", "04", "05", "06", "07", "08"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 4400}
MAIN_HANDLE = ".cl-main-control .noUi-handle"
CANVAS = ".jupyter-matplotlib-canvas-div canvas"
PREDICTION = ".cl-prediction"

# Time stamps of keydowns and of frames painted onto a visible ipympl canvas that changed its
# pixels (a cheap checksum of every fourth pixel): a repainted identical frame is not a change.
_HOOK = """
(() => {
  window.__cl = {keys: [], draws: [], changes: []};
  const last = new Map();
  document.addEventListener('keydown', () => window.__cl.keys.push(performance.now()), true);
  const orig = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const out = orig.apply(this, args);
    const c = this.canvas;
    if (c && c.isConnected && c.closest && c.closest('.jupyter-matplotlib-canvas-div')) {
      const t = performance.now();
      window.__cl.draws.push(t);
      const d = this.getImageData(0, 0, c.width, c.height).data;
      let h = c.width * 7919 + c.height;
      for (let i = 0; i < d.length; i += 16) h = (Math.imul(h, 31) + d[i] + (d[i + 1] << 8) + (d[i + 2] << 16)) | 0;
      if (last.get(c) !== h) { last.set(c, h); window.__cl.changes.push(t); }
    }
    return out;
  };
})();
"""


def _offline(route):
    if route.request.url.startswith("http://127.0.0.1"):
        route.continue_()
    else:
        route.abort()


def load_average():
    return os.getloadavg()[0]


def open_lesson(browser, server, notebook, timeout_ms=180_000):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(timeout_ms)
    page.route("**/*", _offline)
    page.add_init_script(_HOOK)
    started = time.monotonic()
    page.goto(f"{server.url}voila/render/{notebook.name}", wait_until="domcontentloaded")
    page.wait_for_selector(MAIN_HANDLE, state="attached")
    if page.eval_on_selector_all(MAIN_HANDLE, "hs => hs.every(h => h.closest('.cl-revealed') !== null)"):
        # every app waits for a prediction (lesson 07): commit to an answer first, as a learner does
        page.wait_for_selector(PREDICTION, state="visible")
        questions = page.locator(PREDICTION)
        for i in range(questions.count()):
            questions.nth(i).locator(".widget-radio-box label, .widget-toggle-button").first.click()
            questions.nth(i).get_by_role("button", name="Check").click()
    page.wait_for_selector(MAIN_HANDLE, state="visible")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{CANVAS}')].some(c => c.width > 10 && c.height > 10)")
    return page, time.monotonic() - started


def settle(page, quiet, timeout):
    """Wait until no changed frame has been painted for ``quiet`` seconds; return the page clock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate("() => [performance.now(), window.__cl.changes.at(-1) ?? -1e9]")
        if state[0] - state[1] > quiet * 1000:
            return state[0]
        page.wait_for_timeout(50)
    return None


def step_latencies(page, steps, quiet, timeout):
    handle = page.locator(MAIN_HANDLE).first
    handle.scroll_into_view_if_needed()
    aria = handle.evaluate("h => [h.getAttribute('aria-valuenow'), h.getAttribute('aria-valuemin'), "
                           "h.getAttribute('aria-valuemax')]")
    now, lo, hi = (float(x) for x in aria)
    key = "ArrowRight" if hi - now >= now - lo else "ArrowLeft"
    handle.focus()
    settle(page, quiet, 30)
    t0, n0 = page.evaluate("() => [performance.now(), window.__cl.draws.length]")
    page.wait_for_timeout(2000)
    t1, n1 = page.evaluate("() => [performance.now(), window.__cl.draws.length]")
    idle_fps = (n1 - n0) / ((t1 - t0) / 1000)
    out, failed = [], 0
    for _ in range(steps):
        n_changes = page.evaluate("() => window.__cl.changes.length")
        handle.press(key)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and page.evaluate("() => window.__cl.changes.length") == n_changes:
            page.wait_for_timeout(10)
        if page.evaluate("() => window.__cl.changes.length") == n_changes:
            failed += 1
            continue
        settle(page, quiet, timeout)
        t_key, t_draw = page.evaluate("() => [window.__cl.keys.at(-1), window.__cl.changes.at(-1)]")
        out.append((t_draw - t_key) / 1000)
        value = float(handle.get_attribute("aria-valuenow"))
        if value in (lo, hi):  # at an end: come back
            key = "ArrowLeft" if key == "ArrowRight" else "ArrowRight"
    return out, failed, idle_fps


def _kernels_cpu(server):
    """CPU seconds used so far by each of the server's kernels, by process id (empty without psutil)."""
    try:
        import psutil
    except ImportError:
        return {}
    out = {}
    for proc in psutil.Process(server.pid).children(recursive=True):
        try:
            if "ipykernel" in " ".join(proc.cmdline()):
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def _cpu_used(before, after):
    """CPU seconds the kernels alive at both readings used in between (a culled kernel drops out)."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def _start(tree, n_kernels, log):
    """A server for the lessons of the repository copy ``tree``, its kernels importing its package."""
    saved = os.environ.get("PYTHONPATH")
    if tree != REPO:
        os.environ["PYTHONPATH"] = str(tree)
    try:
        return BackgroundServer(root=tree / "notebooks", max_kernels=n_kernels, cull_idle_timeout=60, cull_interval=10,
                                log_path=log).start()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(LESSONS), help="comma-separated lesson numbers")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--quiet", type=float, default=0.6, help="seconds without a new frame = settled")
    ap.add_argument("--timeout", type=float, default=15.0)
    ap.add_argument("--against", default=None, help="another copy of the repository to compare with (before)")
    ap.add_argument("--repeats", type=int, default=1, help="pages per lesson (and per copy)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    wanted = args.only.split(",")
    trees = {"this": REPO} if args.against is None else {"before": Path(args.against).resolve(), "after": REPO}
    n_kernels = len(wanted) * args.repeats + 2
    rows, servers = [], {}
    try:
        for name, tree in trees.items():
            log = REPO / "test-artifacts" / f"voila-bench-browser-{os.getpid()}-{name}.log"
            servers[name] = _start(tree, n_kernels, log)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"{'lesson':<28}{'copy':>7}{'open s':>7}{'median ms':>11}{'worst ms':>10}{'n':>4}{'fail':>5}"
                  f"{'idle f/s':>9}{'load':>7}{'kernel cpu s':>13}")
            for rep in range(args.repeats):
                for i, num in enumerate(wanted):
                    order = list(trees) if (rep + i) % 2 == 0 else list(trees)[::-1]
                    for name in order:
                        server, tree = servers[name], trees[name]
                        nb = {p.name.split("-")[0]: p for p in sorted((tree / "notebooks").glob("[0-9]*.ipynb"))}[num]
                        load0 = load_average()
                        page, opened = open_lesson(browser, server, nb)
                        cpu0 = _kernels_cpu(server)
                        lat, failed, idle_fps = step_latencies(page, args.steps, args.quiet, args.timeout)
                        cpu = _cpu_used(cpu0, _kernels_cpu(server))
                        page.close()
                        load = (load0 + load_average()) / 2
                        med = 1000 * statistics.median(lat) if lat else float("nan")
                        worst = 1000 * max(lat) if lat else float("nan")
                        rows.append(dict(lesson=nb.stem, copy=name, open_s=opened, median_ms=med, worst_ms=worst,
                                         n=len(lat), failed=failed, idle_frames_per_s=idle_fps, load=load,
                                         kernel_cpu_s=cpu, steps_ms=[1000 * x for x in lat]))
                        print(f"{nb.stem[:27]:<28}{name:>7}{opened:7.1f}{med:11.0f}{worst:10.0f}{len(lat):4d}{failed:5d}"
                              f"{idle_fps:9.1f}{load:7.2f}{cpu:13.2f}", flush=True)
            browser.close()
    finally:
        for server in servers.values():
            server.stop()
    if args.repeats > 1 or len(trees) > 1:
        print("\nper lesson and copy: median of all steps; per page: median, worst of ten, load")
        for num in wanted:
            for name in trees:
                mine = [r for r in rows if r["lesson"].split("-")[0] == num and r["copy"] == name]
                steps = [x for r in mine for x in r["steps_ms"]]
                if steps:
                    pages = ", ".join(f"{r['median_ms']:.0f}/{r['worst_ms']:.0f}@{r['load']:.1f}" for r in mine)
                    print(f"{mine[0]['lesson'][:27]:<28}{name:>7}{statistics.median(steps):7.0f}   {pages}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
