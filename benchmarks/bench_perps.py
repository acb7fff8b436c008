"""Perp venue benchmark (issue 12, point 6).

    .venv/bin/python benchmarks/bench_perps.py           # about a minute
    .venv/bin/python benchmarks/bench_perps.py --quick   # smoke run, smaller sizes

Figures, each the median of fresh child processes run in turn:

  (a) one perp venue of 100,000 traders x 1,440 steps beside 10 lending
      platforms of 100,000 accounts (bench_v2 (b)'s crash world, one asset;
      the venue reads the shared feed and sells and buys into the same
      market): World + run                                         (< 1.5 s)
  (a') the same in a 5-step crash with traders at 12x median leverage and no
      insurance fund: every bankruptcy goes to the loss rule (haircut, adl)
  (b) the same 10 lending platforms alone (what the venue adds)
  (c) a two-asset venue of 100,000 traders (hedged pairs and baskets, cross
      and isolated) x 1,440 steps, asset 1 following asset 0 with beta 0.8
  (d) the plain per-account perp loop (benchmarks/baseline.py) against the
      engine on the same venue, marks and market prices: the ratio.
      The plain loop is timed on a slice of the steps (it costs the same
      every step: every account, every step) and scaled per step.
  (e) the classroom worlds of the two perp lessons (coupling_lab.perp_scenarios):
      median of ``run(world)`` over 15 runs, and of build + run          (< 30 ms)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = r'''
import dataclasses, json, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/benchmarks")
import numpy as np
import coupling_lab as cl
from coupling_lab.perps import PerpParams, PerpPopulation, draw_perp_book
case, n, T = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def crash(n_accounts, n_steps, n_platforms=10, duration=120):
    return cl.Config(scenario=cl.CrashScenario(n_steps=n_steps, duration=duration), n_platforms=n_platforms,
                     population=cl.PopulationParams(n_accounts=n_accounts),
                     market=cl.MarketParams(depth=2e8 * n_platforms * n_accounts / 10_000))

def with_perp(n_traders, n_lending, n_steps, params=PerpParams(insurance_fund=1e7), fast=False):
    w = cl.build(crash(n_lending, n_steps, duration=5 if fast else 120), seed=0)
    rng = np.random.default_rng(1)
    p0 = float(np.exp(w.x_t[0]))
    pop = PerpPopulation(n_accounts=n_traders, long_share=0.6, leverage_median=12.0 if fast else 5.0)
    book = draw_perp_book(rng, pop, [p0])
    return dataclasses.replace(w, platforms=w.platforms + (params,),
                               books=w.books + (book,), platform_oracle=w.platform_oracle + (0,))

def two_assets(n_traders, n_steps):
    rng = np.random.default_rng(2)
    x = cl.FactorScenario(cl.CrashScenario(n_steps=n_steps), n_assets=2, beta=(0.8,), sigma=0.001).path(rng)
    o = lambda v: cl.OracleParams(sources=(v,), theta=0.005, heartbeat=60, latency=1)
    p0 = np.exp(x[0])
    book = draw_perp_book(rng, PerpPopulation(n_accounts=n_traders, pair_share=0.3, basket_share=0.2),
                          p0, assets=(0, 1))
    return cl.World(x_ta=x, venue_noise_tv=rng.standard_normal((n_steps, 2)) * 0.001, venue_asset=(0, 1),
                    oracles=(o(0), o(1)), platforms=(PerpParams(insurance_fund=1e7),), platform_oracle=((0, 1),),
                    books=(book,), market=(cl.MarketParams(depth=2e9),) * 2)

if case == "classroom":
    import statistics
    from coupling_lab.perp_scenarios import fund_world, margin_modes_world
    makers = {"margin modes, cross, pair": lambda: margin_modes_world("cross", "pair"),
              "margin modes, cross, blown": lambda: margin_modes_world("cross", "blown"),
              "fund, adl, shared oracle": lambda: fund_world("adl", 1.0),
              "fund, haircut, own oracles": lambda: fund_world("haircut", 0.0),
              "(reference: lending classroom Config())": lambda: cl.build(cl.Config(), seed=0)}
    res = {}
    for name, make in makers.items():
        runs, full = [], []
        for _ in range(15):
            t0 = time.perf_counter(); w = make(); t1 = time.perf_counter(); cl.run(w); t2 = time.perf_counter()
            runs.append(t2 - t1); full.append(t2 - t0)
        res[name] = (statistics.median(runs), statistics.median(full))
    print(json.dumps(res)); sys.exit(0)
t0 = time.perf_counter()
if case == "mixed":
    w = with_perp(n, n, T)
elif case in ("mixed_haircut", "mixed_adl"):   # no fund: every bankruptcy goes to the loss rule
    w = with_perp(n, n, T, PerpParams(insurance_fund=0.0, loss_rule=case[6:]), fast=True)
elif case == "lending":
    w = cl.build(crash(n, T), seed=0)
elif case == "two":
    w = two_assets(n, T)
r = cl.run(w)
el = time.perf_counter() - t0
info = dict(seconds=el, lending=int(r.events["t"].size))
perp = r.events_by_kind.get("perp")
if perp is not None:
    k = len(w.platforms) - 1
    out = r.engine_outputs[k]
    info.update(perp=int(perp["t"].size), shortfall=float(out["shortfall"].sum()),
                bad=float(out["bad_debt_total"]), adl=int(out["adl_count"].sum()),
                fund_min=float(out["fund"].min()))
if case == "two" and len(sys.argv) > 5:   # (d): plain loop on a slice of steps, engine on the whole run
    from baseline import run_perp_baseline
    n_plain = int(sys.argv[5])
    cols = [i for i, (kk, _, _) in enumerate(r.reads) if kk == 0]
    marks, market = r.read_tr[:, cols], r.market_ta
    t1 = time.perf_counter()
    run_perp_baseline(w.platforms[0], w.books[0], (0, 1), marks[:n_plain].tolist(), market[:n_plain].tolist())
    info["plain_per_step"] = (time.perf_counter() - t1) / n_plain
    eng = w.platforms[0].make_engine(0, w.books[0], (0, 1), w)
    t1 = time.perf_counter()
    for t in range(T):
        eng.step(t, marks[t].tolist(), market[t].tolist())
    info["engine_per_step"] = (time.perf_counter() - t1) / T
print(json.dumps(info))
'''


def child(*args):
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), *map(str, args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(s):
    return f"{s * 1e3:7.1f} ms" if s < 1 else f"{s:7.2f} s "


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 20_000 if args.quick else 100_000
    reps = 1 if args.quick else 3
    T = 1440
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"at {commit.strip()}; nproc={os.cpu_count()}; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"each figure: median of {reps} fresh child processes (World built and run)\n")
    a, b, c = [], [], []
    for _ in range(reps):
        a.append(child("mixed", n, T))
        b.append(child("lending", n, T))
        c.append(child("two", n, T))
    ta = statistics.median(x["seconds"] for x in a)
    tb = statistics.median(x["seconds"] for x in b)
    tc = statistics.median(x["seconds"] for x in c)
    x = a[0]
    print(f"  (a) perp {n:,} traders + 10 lending x {n:,}, {T:,} steps   {fmt(ta)}   target < 1.5 s")
    print(f"      ({x['lending']:,} lending liquidations, {x['perp']:,} perp; shortfall {x['shortfall']:,.0f} USD, "
          f"ADL cuts {x['adl']:,}, bad debt {x['bad']:,.0f} USD, lowest fund {x['fund_min']:,.0f} USD)")
    for rule in ("haircut", "adl"):
        xs = [child("mixed_" + rule, n, T) for _ in range(reps)]
        x = xs[0]
        print(f"  (a') 30 % in 5 steps, 12x median, fund 0, {rule:<8}          {fmt(statistics.median(v['seconds'] for v in xs))}"
              f"   ({x['perp']:,} perp liquidations; shortfall {x['shortfall']:,.0f} USD, ADL cuts {x['adl']:,}, "
              f"bad debt {x['bad']:,.0f} USD)")
    print(f"  (b) the 10 lending platforms alone                        {fmt(tb)}   "
          f"(the venue adds {fmt(ta - tb).strip()})")
    x = c[0]
    print(f"  (c) two-asset venue, {n:,} traders x {T:,} steps            {fmt(tc)}   "
          f"({x['perp']:,} liquidations, ADL cuts {x['adl']:,}, bad debt {x['bad']:,.0f} USD)")
    n_plain = 20 if args.quick else 60
    d = child("two", n, T, n_plain)
    ratio = d["plain_per_step"] / d["engine_per_step"]
    print(f"  (d) plain loop vs engine, two-asset venue of {n:,} traders: plain {d['plain_per_step'] * 1e3:,.0f} ms"
          f"/step (over steps 0-{n_plain - 1}), engine {d['engine_per_step'] * 1e6:,.0f} us/step (all {T:,} steps)"
          f"   {ratio:,.0f} x")
    e = child("classroom", 0, 0)
    print("  (e) classroom worlds of the perp lessons (median of 15)    run      build + run   target < 30 ms")
    for name, (tr, tf) in e.items():
        print(f"      {name:<40} {tr * 1e3:6.1f} ms   {tf * 1e3:6.1f} ms")
    print(f"\nload average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
