"""Engine v2 against engine v1 in one run, and the several-asset case.

    .venv/bin/python benchmarks/bench_v2.py            # a few minutes
    .venv/bin/python benchmarks/bench_v2.py --quick    # smoke run, smaller sizes

The v1 engine is the package as it was before the v2 redesign (commit
``d0c8e6c``), extracted with ``git archive`` into a temporary folder; each
figure is timed in a fresh child process per engine, the two engines taking
turns, so both see the same machine load. Figures:

  (a) classroom ``Config()``: median ``simulate()``                     (v2/v1 <= 1.10)
  (b) 10 platforms x 100,000 accounts x 1,440 steps: build + run           (v2/v1 <= 1.10)
  (c) 10 x 1,000,000 accounts: build + run and peak RSS                    (v2/v1 <= 1.10)
  (d) 3 assets, 10 platforms x 100,000 accounts x 1,440 steps, every
      platform holding all three assets in one queue (v2 only)             (< 1 s)
  (e) every protection of MODEL.md §9 on at once, 10 x 100,000 x 1,440     (< 1.5 s)

The baseline ratio (plain per-account loop against the engine) is in
``bench_engine.py`` (d).
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
V1_COMMIT = "d0c8e6c"

CHILD = r'''
import json, math, resource, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import coupling_lab as cl
case, reps = sys.argv[2], int(sys.argv[3])
assert cl.__file__.startswith(sys.argv[1]), cl.__file__

def crash(n_accounts, n_steps=1440, n_platforms=10):
    return cl.Config(scenario=cl.CrashScenario(n_steps=n_steps), n_platforms=n_platforms,
                     population=cl.PopulationParams(n_accounts=n_accounts),
                     market=cl.MarketParams(depth=2e8 * n_platforms * n_accounts / 10_000))

def three_assets(n_accounts, n_platforms=10, n_steps=1440):
    # asset 0 crashes 30 % over 2 h; assets 1, 2 follow with beta 0.8 and 1.2
    A, T = 3, n_steps
    rng = np.random.default_rng(0)
    x = cl.FactorScenario(cl.CrashScenario(n_steps=T), n_assets=A, beta=(0.8, 1.2), sigma=0.001).path(rng)
    P = n_platforms + 1          # provider 0 shared, provider k+1 platform k's own: feed j = a * P + p
    topo = cl.shared_fraction(0.5, cl.OracleParams(theta=0.005, heartbeat=60, latency=1),
                              [cl.OracleParams(theta=0.01, heartbeat=60, latency=1)] * n_platforms,
                              n_sources=3, n_assets=A)
    noise = rng.standard_normal((T, topo.n_venues)) * 0.002
    books, reads = [], []
    for k in range(n_platforms):
        asset = rng.integers(0, A, n_accounts)
        b = cl.draw_book(rng, cl.PopulationParams(n_accounts=n_accounts), 2000.0, 0.8)
        books.append(cl.Book(b.collateral, b.debt, asset))
        p = 0 if k < n_platforms // 2 else k + 1
        reads.append(tuple(a * P + p for a in range(A)))
    depth = 2e8 * n_platforms * n_accounts / 10_000 / A
    return cl.World(x_ta=x, venue_noise_tv=noise, venue_asset=topo.venue_asset, oracles=topo.oracles,
                    oracle_provider=topo.oracle_provider, platforms=(cl.PlatformParams(),) * n_platforms,
                    platform_oracle=tuple(reads), books=tuple(books),
                    market=(cl.MarketParams(depth=depth),) * A)

def protected(n_accounts):
    # every protection of MODEL.md 9 on at once, at production-like settings
    return crash(n_accounts).replace(
        sharing=0.5, feed_rules=(cl.AnswerBounds(min_answer=100.0),),
        read_guards=(cl.Delay(60), cl.AnchorBand(0.2, 30), cl.Fallback(240, 0.5, 0.05)),
        platform=cl.PlatformParams(rate_limit=cl.RateLimit(5e7, 60), breaker=cl.CircuitBreaker(0.5, 60, 60)),
        platform_faults=(cl.keeper_outage(0, 200, 260),))

times, cpu, events = [], [], 0
for i in range(reps):
    t0, c0 = time.perf_counter(), time.process_time()
    if case == "classroom":
        r = cl.simulate(cl.Config(), seed=i)
    elif case.startswith("crash"):
        r = cl.simulate(crash(int(case[5:])), seed=0)
    elif case.startswith("assets3_"):
        r = cl.run(three_assets(int(case[8:])))
    elif case.startswith("protected"):
        r = cl.simulate(protected(int(case[9:])), seed=0)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
    events = int(r.events["t"].size)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(median=statistics.median(times), cpu=statistics.median(cpu), events=events, rss_mb=rss)))
'''


def child(path, case, reps):
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), case, str(reps)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt_s(s):
    return f"{s * 1e3:8.1f} ms" if s < 1 else f"{s:8.2f} s "


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cases = [("classroom", 10 if args.quick else 30, "(a) classroom Config(), median simulate()"),
             ("crash100000", 1 if args.quick else 3, "(b) 10 x 100,000 x 1,440: simulate"),
             ("crash" + ("200000" if args.quick else "1000000"), 1,
              "(c) 10 x " + ("200,000" if args.quick else "1,000,000") + " x 1,440: simulate")]
    rounds = 1 if args.quick else 3
    v1 = Path(tempfile.mkdtemp(prefix="coupling_lab_v1_"))
    subprocess.run(f"git archive {V1_COMMIT} coupling_lab | tar -x -C {v1}", shell=True, cwd=ROOT, check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"v2 at {commit.strip()}, v1 at {V1_COMMIT}; nproc={os.cpu_count()}; "
          f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"each figure: the median over {rounds} alternating rounds of fresh child processes; 'cpu' is the "
          f"process CPU time (less sensitive than wall time to other jobs on the machine)\n")
    print(f"  {'figure':<46} {'v1 wall':>11} {'v2 wall':>11} {'v1 cpu':>11} {'v2 cpu':>11} {'cpu v2/v1':>9} "
          f"{'RSS v1':>8} {'RSS v2':>8}")
    for case, reps, label in cases:
        a, b = [], []
        for _ in range(rounds):
            a.append(child(v1, case, reps))
            b.append(child(ROOT, case, reps))
        ta, tb = statistics.median(x["median"] for x in a), statistics.median(x["median"] for x in b)
        ca, cb = statistics.median(x["cpu"] for x in a), statistics.median(x["cpu"] for x in b)
        ra, rb = max(x["rss_mb"] for x in a), max(x["rss_mb"] for x in b)
        assert a[0]["events"] == b[0]["events"], "v1 and v2 liquidated differently"
        print(f"  {label:<46} {fmt_s(ta):>11} {fmt_s(tb):>11} {fmt_s(ca):>11} {fmt_s(cb):>11} {cb / ca:9.2f} "
              f"{ra:6.0f}MB {rb:6.0f}MB"
              f"   ({b[0]['events']:,} liquidations, same in both)")
    n = "20000" if args.quick else "100000"
    d = [child(ROOT, "assets3_" + n, 1 if args.quick else 3) for _ in range(rounds)]
    t, c = statistics.median(x["median"] for x in d), statistics.median(x["cpu"] for x in d)
    print(f"  {'(d) 3 assets, 10 x ' + f'{int(n):,}' + ' x 1,440: World + run':<46} {'':>11} {fmt_s(t):>11}"
          f" {'':>11} {fmt_s(c):>11} {'':>9} {'':>8} {max(x['rss_mb'] for x in d):6.0f}MB"
          f"   ({d[0]['events']:,} liquidations; target < 1 s)")
    e = [child(ROOT, "protected" + n, 1 if args.quick else 3) for _ in range(rounds)]
    t, c = statistics.median(x["median"] for x in e), statistics.median(x["cpu"] for x in e)
    print(f"  {'(e) every protection on, 10 x ' + f'{int(n):,}' + ' x 1,440':<46} {'':>11} {fmt_s(t):>11}"
          f" {'':>11} {fmt_s(c):>11} {'':>9} {'':>8} {max(x['rss_mb'] for x in e):6.0f}MB"
          f"   ({e[0]['events']:,} liquidations; target < 1.5 s)")
    print(f"\nload average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
