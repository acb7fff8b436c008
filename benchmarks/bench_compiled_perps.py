"""The compiled perp venue (coupling_lab.compiled_perps) beside PerpEngine, on the lessons' venues.

    .venv/bin/python benchmarks/bench_compiled_perps.py           # about half a minute
    .venv/bin/python benchmarks/bench_compiled_perps.py --quick   # smoke run, 3 repeats

Each venue is fed the marks and market prices its reference run reads
(recorded from ``loop._run_reference``); the figure is the median wall time of
``PerpEngine.step`` over every step plus ``finish()``, against
``run_perp_kernel`` (state arrays, every step, the finish dict) on a fresh
engine; "steps only" is the compiled steps alone (``_drive``: what a numba step
loop pays per venue, without building the state arrays or the finish dict).
Building the engine (shared by both) is not timed. The two give the same
numbers bit for bit (tests/test_compiled_perps.py).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coupling_lab import compiled_perps as cp  # noqa: E402
from coupling_lab.loop import _run_reference  # noqa: E402
from coupling_lab.perps import PerpEngine, PerpParams, PerpPopulation, draw_perp_book  # noqa: E402


def recorded(world, k):
    """(engine factory, marks, market) of perp venue ``k`` in ``world``'s reference run."""
    rec = []
    step = PerpEngine.step

    def spy(self, t, prices, market):
        if self.platform == k:
            rec.append((list(prices), [market[a] for a in self.assets]))
        return step(self, t, prices, market)

    PerpEngine.step = spy
    try:
        _run_reference(world)
    finally:
        PerpEngine.step = step
    make = lambda: world.platforms[k].make_engine(k, world.books[k], world.assets_of(k), world)  # noqa: E731
    return make, np.array([r[0] for r in rec]), np.array([r[1] for r in rec])


def big_venue(n=100_000, T=1440, seed=0):
    """bench_perps (c): a two-asset venue, 30 % hedged pairs, 20 % baskets, a 30 % fall of asset 0."""
    rng = np.random.default_rng(seed)
    p0 = np.array([2000.0, 100.0])
    book = draw_perp_book(rng, PerpPopulation(n_accounts=n, long_share=0.6, pair_share=0.3, basket_share=0.2),
                          p0, assets=(0, 1))
    t = np.arange(T)
    x0 = -0.3 * np.clip((t - 100) / 120, 0, 1) + np.cumsum(rng.standard_normal(T)) * 0.0005
    x1 = 0.8 * x0 + np.cumsum(rng.standard_normal(T)) * 0.0005
    marks = p0 * np.exp(np.column_stack([x0, x1]))
    market = marks * np.exp(rng.standard_normal((T, 2)) * 0.0005)
    params = PerpParams(insurance_fund=1e7)
    return (lambda: PerpEngine(0, book, params, (0, 1))), marks, market


def reference(make, marks, market):
    eng = make()
    A = max(eng.assets) + 1
    rows = marks.tolist()
    mk = []
    for t in range(marks.shape[0]):
        m = [0.0] * A
        for s, a in enumerate(eng.assets):
            m[a] = float(market[t, s])
        mk.append(m)
    t0 = time.perf_counter()
    for t in range(marks.shape[0]):
        eng.step(t, rows[t], mk[t])
    eng.finish()
    return time.perf_counter() - t0


def kernel(make, marks, market):
    eng = make()
    t0 = time.perf_counter()
    cp.run_perp_kernel(eng, marks, market)
    return time.perf_counter() - t0


def steps_only(make, marks, market):
    """The compiled steps alone (what a numba step loop pays): no state building, no finish dict."""
    eng = make()
    st, log, th = cp.perp_state(eng), cp.new_log(), cp.throttle_state(eng)
    T, S = marks.shape
    rows, flows, fills = np.zeros((T, cp.N_SERIES)), np.zeros((T, S)), np.zeros((T, cp.N_FILL))
    t0 = time.perf_counter()
    cp._drive(st, log, th, -1, marks, market, np.empty(0, np.int64), rows, flows, fills)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = 3 if args.quick else 9
    from coupling_lab.perp_scenarios import fund_world, margin_modes_world
    from coupling_lab.replays import REPLAYS

    venues = [
        ("october-2025 replay, perp venue (3,000 traders, 2 assets, 120 steps)",
         recorded(REPLAYS["october-2025"].world()[0], 2)),
        ("fund_world adl, venue 0 (800 traders, 300 steps)", recorded(fund_world("adl"), 0)),
        ("fund_world haircut, venue 0 (800 traders, 300 steps)", recorded(fund_world("haircut"), 0)),
        ("margin_modes_world cross/blown (1,001 traders, 2 assets, 300 steps)",
         recorded(margin_modes_world("cross", "blown"), 0)),
        ("two-asset venue, 100,000 traders x 1,440 steps", big_venue(20_000 if args.quick else 100_000)),
    ]
    kernel(*venues[0][1])  # load the compiled code (numba's cache)
    print(f"{'venue':72s} {'PerpEngine':>11s} {'kernel':>10s} {'ratio':>6s} {'steps only':>11s} {'ratio':>7s}")
    for label, (make, marks, market) in venues:
        r = statistics.median(reference(make, marks, market) for _ in range(reps))
        k = statistics.median(kernel(make, marks, market) for _ in range(reps))
        s = statistics.median(steps_only(make, marks, market) for _ in range(reps))
        print(f"{label:72s} {r * 1e3:8.2f} ms {k * 1e3:7.2f} ms {r / k:5.1f}x {s * 1e3:8.2f} ms {r / s:6.1f}x")


if __name__ == "__main__":
    main()
