"""The compiled step loop against the reference (issue 16): one table, everything measured in this run.

    .venv/bin/python benchmarks/bench_compiled.py            # full run, about 3 minutes
    .venv/bin/python benchmarks/bench_compiled.py --quick    # smaller sizes, about 40 s
    .venv/bin/python benchmarks/bench_compiled.py --only a,d # some rows

Rows (targets from issue 16, point 3):
  (a) classroom ``simulate(Config(), seed)``: median wall time, compiled and reference     (< 3 ms)
  (b) sweep of 21 dial positions x 200 seeds on a 2-worker LocalCluster                  (< 5 s)
  (c) 10 platforms x 1,000,000 accounts x 1,440 steps, ``run(world)`` in a child
      process, wall time and the child's peak RSS                              (< 3 s, < 1.5 GB)
  (d) the first ``simulate()`` in a fresh process: with numba's cache empty (it compiles)
      and with the cache built (``python -m coupling_lab.cache``, Binder's postBuild)
  (e) a Voila lesson's first render (page request to the first painted figure), cache
      empty and cache built, in headless chromium
  (f) the perp lessons' worlds (09 margin modes, 10 three venues, 11 the October 2025
      replay), ``run(world)``: median wall time, compiled and reference
  (g) a world with a platform of two assets (one queue by health, keepers 50 a step)

"Reference" is ``kernel="reference"``: the Python pipeline of ``coupling_lab.loop``, which
is what every run used before the compiled loop. This is a script, not a test: timings on
a shared 2-core machine vary, so it takes medians and prints the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from coupling_lab import Config, build, run, simulate, sweep, using_kernel  # noqa: E402
from coupling_lab.compiled import warm  # noqa: E402

_CHILD_BIG = """
import json, resource, sys, time
sys.path.insert(0, {here!r})
from bench_engine import crash
from coupling_lab import build, run
from coupling_lab.compiled import warm
kernel, n = sys.argv[1], int(sys.argv[2])
warm()
world = build(crash(n), seed=0)
t0 = time.perf_counter()
result = run(world, kernel=kernel)
wall = time.perf_counter() - t0
print(json.dumps({{"wall": wall, "events": int(result.events["t"].size),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

_CHILD_FIRST = """
import json, time
t0 = time.perf_counter()
import coupling_lab
from coupling_lab import Config, simulate
t1 = time.perf_counter()
simulate(Config(), seed=0)
t2 = time.perf_counter()
simulate(Config(), seed=1)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "second": t3 - t2}))
"""


def load():
    return os.getloadavg()[0]


def median_ms(f, n):
    f(0)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        f(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def row_a(quick):
    n = 20 if quick else 60
    out = {}
    for kernel in ("compiled", "reference"):
        with using_kernel(kernel):
            out[kernel] = median_ms(lambda i: simulate(Config(), seed=i), n)
        worlds = [build(Config(), seed=i) for i in range(n)]
        out[kernel + "_run"] = median_ms(lambda i: run(worlds[i % n], kernel=kernel), n)
    print(f"(a) classroom simulate(): compiled {out['compiled']:.2f} ms, reference {out['reference']:.2f} ms "
          f"({out['reference'] / out['compiled']:.1f}x); run() alone {out['compiled_run']:.2f} ms vs "
          f"{out['reference_run']:.2f} ms  [target < 3 ms]")
    return out


def _set_kernel(kernel):
    """On a worker: the kernel its runs use (``client.run`` ships this function, not the driver's environ)."""
    os.environ["COUPLING_LAB_KERNEL"] = kernel


def row_b(quick):
    from dask.distributed import Client, LocalCluster

    seeds = 40 if quick else 200
    grid = {"sharing": [round(float(s), 2) for s in np.linspace(0.0, 1.0, 21)]}
    out = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(warm)  # each worker loads the compiled loop once, as a class server's kernels do
        for kernel in ("auto", "reference"):
            client.run(_set_kernel, kernel)
            t0 = time.perf_counter()
            with using_kernel(kernel):
                frame = sweep(Config(), grid, seeds=range(seeds), client=client, progress=False)
            out[kernel] = time.perf_counter() - t0
            assert len(frame) == 21 * seeds
        client.run(_set_kernel, "auto")
    print(f"(b) sweep 21 x {seeds} on 2 workers: compiled {out['auto']:.1f} s, reference {out['reference']:.1f} s "
          f"({out['reference'] / out['auto']:.1f}x)  [target < 5 s at 21 x 200]")
    return {"seeds": seeds, "compiled_s": out["auto"], "reference_s": out["reference"]}


def row_c(quick):
    n = 100_000 if quick else 1_000_000
    out = {}
    for kernel in ("compiled", "reference"):
        text = subprocess.run([sys.executable, "-c", _CHILD_BIG.format(here=str(HERE)), kernel, str(n)],
                              capture_output=True, text=True, check=True, cwd=REPO).stdout
        out[kernel] = json.loads(text.strip().splitlines()[-1])
    c, r = out["compiled"], out["reference"]
    print(f"(c) 10 x {n:,} x 1,440 run(): compiled {c['wall']:.2f} s, {c['rss_mb']:.0f} MB; reference "
          f"{r['wall']:.2f} s, {r['rss_mb']:.0f} MB ({r['wall'] / c['wall']:.1f}x); {c['events']:,} liquidations  "
          f"[target < 3 s, < 1.5 GB at 1M]")
    return out


def _first_call(cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    text = subprocess.run([sys.executable, "-c", _CHILD_FIRST], capture_output=True, text=True, check=True,
                          env=env, cwd=REPO).stdout
    return json.loads(text.strip().splitlines()[-1])


def row_d(quick):
    with tempfile.TemporaryDirectory() as cold, tempfile.TemporaryDirectory() as built:
        subprocess.run([sys.executable, "-m", "coupling_lab.cache"], env={**os.environ, "NUMBA_CACHE_DIR": built},
                       check=True, capture_output=True, cwd=REPO)
        out = {"cold": _first_call(cold), "warm": _first_call(built)}
    c, w = out["cold"], out["warm"]
    print(f"(d) fresh process: import {w['import']:.2f} s; first simulate() {c['first']:.2f} s with the cache empty "
          f"(compiles), {w['first']:.2f} s with it built; second simulate() {w['second'] * 1e3:.1f} ms")
    return out


def row_e(quick, lessons=("00-start-here.ipynb", "02-the-sharing-dial.ipynb")):
    from playwright.sync_api import sync_playwright

    from bench_browser import CHROMIUM, CHROMIUM_ARGS, open_lesson
    from coupling_lab.serve import BackgroundServer

    out = {}
    for state in ("cold", "warm"):
        with tempfile.TemporaryDirectory() as cache:
            if state == "warm":
                subprocess.run([sys.executable, "-m", "coupling_lab.cache"],
                               env={**os.environ, "NUMBA_CACHE_DIR": cache}, check=True, capture_output=True)
            old = os.environ.get("NUMBA_CACHE_DIR")
            os.environ["NUMBA_CACHE_DIR"] = cache  # the server's kernels inherit it
            try:
                # startup_timeout: the server first builds the cache it finds empty (about a minute)
                with BackgroundServer(root=REPO / "notebooks", startup_timeout=300) as server, sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    for nb in lessons:
                        if state == "cold":  # each lesson in a cache of its own: nothing compiled before
                            for f in Path(cache).rglob("*"):
                                if f.is_file():
                                    f.unlink()
                        page, seconds = open_lesson(browser, server, REPO / "notebooks" / nb)
                        out[f"{state} {nb[:3].rstrip('-')}"] = seconds
                        page.close()
                    browser.close()
            finally:
                if old is None:
                    os.environ.pop("NUMBA_CACHE_DIR", None)
                else:
                    os.environ["NUMBA_CACHE_DIR"] = old
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in out.items())
    print(f"(e) Voila first render (request -> first painted figure): {parts}")
    return out


def _several_asset_world():
    from coupling_lab import Book, FactorScenario, CrashScenario, MarketParams, OracleParams, PlatformParams
    from coupling_lab import PopulationParams, World, draw_book, shared_fraction

    rng = np.random.default_rng(0)
    T = 500
    x_ta = FactorScenario(CrashScenario(n_steps=T), n_assets=2, beta=0.8, price0=30_000.0).path(rng)
    topo = shared_fraction(1.0, OracleParams(theta=0.005, heartbeat=60, latency=1),
                           [OracleParams(theta=0.01, heartbeat=1440)] * 2, platform_asset=(0, 0), n_assets=2)
    eth = draw_book(rng, PopulationParams(n_accounts=5000), 2000.0, 0.83, asset=0)
    btc = draw_book(rng, PopulationParams(n_accounts=5000, collateral_median=0.7), 30_000.0, 0.78, asset=1)
    both = Book(np.r_[eth.collateral, btc.collateral], np.r_[eth.debt, btc.debt], np.r_[eth.asset, btc.asset])
    return World(x_ta=x_ta, venue_noise_tv=rng.normal(0.0, 0.002, (T, topo.n_venues)), venue_asset=topo.venue_asset,
                 oracles=topo.oracles, oracle_provider=topo.oracle_provider,
                 platforms=(PlatformParams(lt_by_asset=(0.83, 0.78), keeper_capacity=50), PlatformParams()),
                 platform_oracle=((0, 3), 0), books=(both, draw_book(rng, PopulationParams(), 2000.0, 0.8)),
                 market=(MarketParams(depth=1e8), MarketParams(depth=3e8)))


def _compare_worlds(label, worlds, n):
    out = {}
    for name, w in worlds.items():
        row = {k: median_ms(lambda i: run(w, kernel=k), n) for k in ("compiled", "reference")}
        out[name] = row
        print(f"{label} {name}: compiled {row['compiled']:.2f} ms, reference {row['reference']:.2f} ms "
              f"({row['reference'] / row['compiled']:.1f}x)")
    return out


def row_f(quick):
    from coupling_lab.perp_scenarios import fund_world, margin_modes_world
    from coupling_lab.replays import REPLAYS

    worlds = {"09 margin modes (cross pair)": margin_modes_world(), "10 three venues (adl)": fund_world(),
              "11 October 2025 replay": REPLAYS["october-2025"].world()[0]}
    return _compare_worlds("(f)", worlds, 5 if quick else 15)


def row_g(quick):
    return _compare_worlds("(g)", {"two assets on one platform, 10,000 accounts": _several_asset_world()},
                           5 if quick else 15)


ROWS = {"a": row_a, "b": row_b, "c": row_c, "d": row_d, "e": row_e, "f": row_f, "g": row_g}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="a,b,c,d,e,f,g", help="comma-separated rows (a-g)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    warm()
    print(f"load average before: {load():.2f}  (2 cores; figures are medians)")
    figures = {}
    for key in args.only.split(","):
        figures[key] = ROWS[key.strip()](args.quick)
    print(f"load average after: {load():.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
