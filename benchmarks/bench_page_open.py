"""A lesson page's first render in headless chromium: from ``goto`` to the page shown and painted.

*open s* is the time from the request to the main control visible and ipympl's first picture
painted into a canvas (``bench_browser.open_lesson``: Voila runs every cell before it sends the
page, so a cell that waits -- lesson 02's sweep of 504 runs, before this branch -- delays it).
*sweep s* (lesson 02 only) is the time from the request to the sweep's table on the page.

Before/after on a shared machine, as ``bench_browser.py`` does: ``--against DIR`` serves a second
copy of the repository (``git archive <commit> | tar -x -C DIR``; run ``python -m coupling_lab.cache``
in it once with ``PYTHONPATH=DIR`` so its kernels find the compiled loop cached) and opens the
lesson ``--repeats`` times in each copy, alternating (A B, B A, ...), after one warm-up page each.

Run:  .venv/bin/python benchmarks/bench_page_open.py [--only 02] [--repeats 5] [--against DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from bench_browser import CHROMIUM, CHROMIUM_ARGS, REPO, _start, load_average, open_lesson



def _notebook(tree, num):
    return {p.name.split("-")[0]: p for p in sorted((tree / "notebooks").glob("[0-9]*.ipynb"))}[num]


def one_page(browser, server, notebook, timeout_s=120.0):
    started = time.monotonic()
    page, opened = open_lesson(browser, server, notebook)
    sweep = float("nan")
    if notebook.name.startswith("02-"):
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if "Means over" in page.inner_text("body"):
                sweep = time.monotonic() - started
                break
            page.wait_for_timeout(50)
    page.close()
    return opened, sweep


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="02", help="comma-separated lesson numbers")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--against", default=None, help="another copy of the repository to compare with (before)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    wanted = args.only.split(",")
    trees = {"this": REPO} if args.against is None else {"before": Path(args.against).resolve(), "after": REPO}
    rows, servers = [], {}
    try:
        for name, tree in trees.items():
            log = REPO / "test-artifacts" / f"voila-bench-open-{os.getpid()}-{name}.log"
            servers[name] = _start(tree, len(wanted) * (args.repeats + 1) + 2, log)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for num in wanted:  # warm-up: the first page of a server imports everything
                for name in trees:
                    one_page(browser, servers[name], _notebook(trees[name], num))
            print(f"{'lesson':<28}{'copy':>7}{'open s':>8}{'sweep s':>9}{'load':>7}")
            for rep in range(args.repeats):
                for i, num in enumerate(wanted):
                    for name in (list(trees) if (rep + i) % 2 == 0 else list(trees)[::-1]):
                        nb = _notebook(trees[name], num)
                        load0 = load_average()
                        opened, sweep = one_page(browser, servers[name], nb)
                        load = (load0 + load_average()) / 2
                        rows.append(dict(lesson=nb.stem, copy=name, open_s=opened, sweep_s=sweep, load=load))
                        print(f"{nb.stem[:27]:<28}{name:>7}{opened:8.2f}{sweep:9.2f}{load:7.2f}", flush=True)
            browser.close()
    finally:
        for server in servers.values():
            server.stop()
    print("\nmedians")
    for num in wanted:
        for name in trees:
            mine = [r for r in rows if r["lesson"].split("-")[0] == num and r["copy"] == name]
            if mine:
                print(f"{mine[0]['lesson'][:27]:<28}{name:>7}{statistics.median(r['open_s'] for r in mine):8.2f}"
                      f"{statistics.median(r['sweep_s'] for r in mine):9.2f}   (n={len(mine)})")
    return rows


if __name__ == "__main__":
    main()
