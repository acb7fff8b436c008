"""Engine benchmark: prints one table of figures, all measured in this run.

    .venv/bin/python benchmarks/bench_engine.py           # full run (`make bench`), a few minutes
    .venv/bin/python benchmarks/bench_engine.py --quick   # smoke run, smaller sizes, ~30 s

Figures (targets from issue 3, point 6):
  (a) classroom default ``Config()``: median wall time of ``simulate()`` and of
      ``run(world)`` alone                                         (< 20 ms)
  (b) 10 platforms x 100,000 accounts x 1,440 one-minute steps, crash (< 1 s)
  (c) 10 x 1,000,000 accounts, in a child process for its peak RSS (< 10 s, < 2 GB)
  (d) the plain baseline (benchmarks/baseline.py) against the engine on the
      same World at 1,000 and 10,000 accounts: the ratio        (aim >= 100x)
  (e) how the cost grows with accounts and with steps

This is a script, not a test: timings on a shared 2-core machine vary, so it
takes medians and prints the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from coupling_lab import Config, CrashScenario, MarketParams, PopulationParams, build, run, simulate  # noqa: E402

# --- the configurations, in one place ----------------------------------------

CLASSROOM = Config()  # 5 platforms x 2,000 accounts x 500 steps


def crash(n_accounts, n_steps=1440, n_platforms=10):
    """The large crash scenario: the classroom crash (30 % over 2 h) on a day of
    one-minute steps, ``n_platforms`` books of ``n_accounts``. Market depth grows
    with the books (2e8 USD per 10,000 accounts, the classroom ratio), so forced
    selling moves the price as much, relative to the books, as in class."""
    return Config(
        scenario=CrashScenario(n_steps=n_steps),
        n_platforms=n_platforms,
        population=PopulationParams(n_accounts=n_accounts),
        market=MarketParams(depth=2e8 * n_platforms * n_accounts / 10_000),
    )


def baseline_world(n_accounts, n_steps):
    """Classroom platforms (5) and crash, ``n_accounts`` per platform, ``n_steps`` steps."""
    return build(crash(n_accounts, n_steps=n_steps, n_platforms=5), seed=0)


FULL = dict(
    classroom_runs=30, large=crash(100_000), large_runs=3, huge=crash(1_000_000),
    baseline=[(1_000, 300), (10_000, 300)], baseline_runs=3, engine_runs=7,
    accounts=[1_000, 10_000, 100_000], steps=[360, 1440, 5760], scaling_runs=3,
)
QUICK = dict(
    classroom_runs=10, large=crash(100_000), large_runs=1, huge=crash(200_000),
    baseline=[(1_000, 300), (3_000, 300)], baseline_runs=1, engine_runs=3,
    accounts=[1_000, 10_000], steps=[360, 1440], scaling_runs=1,
)


# --- measuring ----------------------------------------------------------------

def median_time(fn, n):
    times = []
    out = None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def child_huge(quick):
    """Run in a fresh process: build + run the huge case once, report times and peak RSS."""
    cfg = (QUICK if quick else FULL)["huge"]
    t0 = time.perf_counter()
    world = build(cfg, seed=0)
    t1 = time.perf_counter()
    result = run(world)
    t2 = time.perf_counter()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    print(json.dumps(dict(build_s=t1 - t0, run_s=t2 - t1, rss_mb=rss_kb / 1024,
                          events=int(result.events["t"].size), n_accounts=cfg.population.n_accounts,
                          n_platforms=cfg.n_platforms, n_steps=cfg.n_steps)))


def fmt_s(s):
    return f"{s * 1e3:9.1f} ms" if s < 1 else f"{s:9.2f} s "


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (smoke run)")
    ap.add_argument("--child-huge", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_huge:
        return child_huge(args.quick)
    P = QUICK if args.quick else FULL
    rows = []

    def line(label, value, target=""):
        rows.append((label, value, target))
        print(f"  {label:<58} {value:>22}  {target}", flush=True)

    load0 = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.machine()}, nproc={os.cpu_count()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, commit {commit or '?'}{' (--quick)' if args.quick else ''}")
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in load0)}\n")

    # (a) classroom
    print("(a) classroom default Config(): 5 platforms x 2,000 accounts x 500 steps")
    simulate(CLASSROOM, seed=0)  # warm up imports and caches
    seeds = iter(range(10_000))
    t_sim, _ = median_time(lambda: simulate(CLASSROOM, seed=next(seeds)), P["classroom_runs"])
    world = build(CLASSROOM, seed=0)
    t_run, res = median_time(lambda: run(world), P["classroom_runs"])
    t_build, _ = median_time(lambda: build(CLASSROOM, seed=0), P["classroom_runs"])
    n = P["classroom_runs"]
    line(f"simulate(Config(), seed), median of {n} seeds", fmt_s(t_sim), "target < 20 ms")
    line(f"  run(world) alone, median of {n}", fmt_s(t_run), f"{res.events['t'].size:,} liquidations")
    line(f"  build(config, seed) alone, median of {n}", fmt_s(t_build))

    # (b) large
    cfg = P["large"]
    K, N, T = cfg.n_platforms, cfg.population.n_accounts, cfg.n_steps
    print(f"\n(b) crash, {K} platforms x {N:,} accounts x {T:,} steps")
    world = build(cfg, seed=0)
    t_run, res = median_time(lambda: run(world), P["large_runs"])
    t_build, _ = median_time(lambda: build(cfg, seed=0), P["large_runs"])
    line(f"simulate = build + run, median of {P['large_runs']}", fmt_s(t_build + t_run), "target < 1 s")
    line("  run(world) alone", fmt_s(t_run), f"{res.events['t'].size:,} liquidations")
    line("  build(config, seed) alone", fmt_s(t_build))
    del world, res

    # (c) huge, in a child process
    cfg = P["huge"]
    K, N, T = cfg.n_platforms, cfg.population.n_accounts, cfg.n_steps
    print(f"\n(c) crash, {K} platforms x {N:,} accounts x {T:,} steps (child process, one run)")
    cmd = [sys.executable, __file__, "--child-huge"] + (["--quick"] if args.quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    huge = json.loads(out.stdout.strip().splitlines()[-1])
    line("simulate = build + run", fmt_s(huge["build_s"] + huge["run_s"]), "target < 10 s")
    line("  run(world) alone", fmt_s(huge["run_s"]), f"{huge['events']:,} liquidations")
    line("  build(config, seed) alone", fmt_s(huge["build_s"]))
    line("  peak RSS of the process (getrusage ru_maxrss)", f"{huge['rss_mb']:9.0f} MB", "target < 2048 MB")

    # (d) baseline ratio
    from baseline import run_baseline

    print("\n(d) plain per-account baseline vs engine, same World (5 platforms, crash)")
    for n_acc, n_steps in P["baseline"]:
        world = baseline_world(n_acc, n_steps)
        t_base, base = median_time(lambda: run_baseline(world), P["baseline_runs"])
        t_eng, res = median_time(lambda: run(world), P["engine_runs"])
        same = len(base["events"]) == res.events["t"].size and all(
            (a[0], a[1], a[2]) == (b, c, d) for a, b, c, d in
            zip(base["events"], res.events["t"].tolist(), res.events["platform"].tolist(), res.events["account"].tolist()))
        line(f"{n_acc:,} accounts x {n_steps} steps: baseline, median of {P['baseline_runs']}", fmt_s(t_base))
        line(f"  engine run(world), median of {P['engine_runs']}", fmt_s(t_eng),
             f"same event log: {same}")
        line("  ratio baseline / engine", f"{t_base / t_eng:9.0f} x ", "aim >= 100x at 10,000")

    # (e) scaling
    print("\n(e) scaling: run(world) of the crash, 10 platforms, median of "
          f"{P['scaling_runs']} (one run for the {P['huge'].population.n_accounts:,} row, from (c))")
    print(f"  {'accounts/platform':>18} {'steps':>6} {'liquidations':>13} {'run':>12} {'us/step':>9} {'ns/liq.':>8}")
    table = []
    for n_acc in P["accounts"]:
        w = build(crash(n_acc), seed=0)
        t, r = median_time(lambda: run(w), P["scaling_runs"])
        table.append((n_acc, w.n_steps, r.events["t"].size, t))
    table.append((huge["n_accounts"], huge["n_steps"], huge["events"], huge["run_s"]))
    for n_steps in P["steps"]:
        w = build(crash(100_000, n_steps=n_steps), seed=0)
        t, r = median_time(lambda: run(w), P["scaling_runs"])
        table.append((100_000, n_steps, r.events["t"].size, t))
    for n_acc, n_steps, n_ev, t in table:
        print(f"  {n_acc:>18,} {n_steps:>6,} {n_ev:>13,} {fmt_s(t):>12} {t / n_steps * 1e6:>9.0f} "
              f"{t / max(n_ev, 1) * 1e9:>8.0f}")

    load1 = os.getloadavg()
    print(f"\nload average at end: {', '.join(f'{x:.2f}' for x in load1)}")


if __name__ == "__main__":
    main()
