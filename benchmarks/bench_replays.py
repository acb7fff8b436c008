"""Replay benchmark (issue 13): each stylised replay, load + build + run, median of 5 runs.

    .venv/bin/python benchmarks/bench_replays.py     # a few seconds

Prints, per replay, the steps, accounts and the median wall time of ``REPLAYS[key].run()``
(CSV check and load, World, run, figures). Target: each under 1 s on the class machine.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coupling_lab.replays import REPLAYS  # noqa: E402


def main(repeats=5):
    print(f"{'replay':16s} {'steps':>6s} {'accounts':>9s} {'median':>9s}")
    for key, replay in REPLAYS.items():
        replay.run()  # warm the imports and caches
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run = replay.run()
            times.append(time.perf_counter() - t0)
        n = sum(getattr(b, "n_accounts", 0) for b in run.result.world.books)
        print(f"{key:16s} {replay.n_steps:6d} {n:9,d} {1000 * statistics.median(times):7.0f} ms")


if __name__ == "__main__":
    main()
