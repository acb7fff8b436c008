"""Benchmark of research sweeps: the sharing dial, 21 values x 200 seeds of the classroom Config.

Measures wall time and runs per second of :func:`coupling_lab.sweep` in
process and on a 2-worker ``dask.distributed`` LocalCluster (worker
processes, 1 thread each; cluster start-up timed separately), and checks that
both give the same rows. The target (issue 6) is the whole sweep in under 30 s.

    .venv/bin/python benchmarks/bench_sweep.py                 # 21 x 200, both ways
    .venv/bin/python benchmarks/bench_sweep.py --seeds 20      # quicker
    .venv/bin/python benchmarks/bench_sweep.py --no-dask --json out.json

Record the figures in benchmarks/README.md ("Sweeps") with the machine's load.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from coupling_lab import Config, sweep  # noqa: E402

TARGET_SECONDS = 30.0


def dial_grid(n_dial):
    return {"sharing": [round(float(s), 10) for s in np.linspace(0.0, 1.0, n_dial)]}


def bench(n_dial=21, n_seeds=200, workers=2, use_dask=True, batch_size=None, progress=False):
    """Run the sweep in process and (optionally) on a LocalCluster; return a dict of figures."""
    config, grid, seeds = Config(), dial_grid(n_dial), range(n_seeds)
    n_runs = n_dial * n_seeds
    out = {"n_dial": n_dial, "n_seeds": n_seeds, "n_runs": n_runs, "cpus": os.cpu_count(),
           "python": platform.python_version(), "load_before": os.getloadavg()[0]}

    start = time.perf_counter()
    local = sweep(config, grid, seeds, progress=progress)
    out["in_process_s"] = time.perf_counter() - start
    out["in_process_runs_per_s"] = n_runs / out["in_process_s"]

    if use_dask:
        from dask.distributed import Client, LocalCluster

        start = time.perf_counter()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            out["cluster_start_s"] = time.perf_counter() - start
            start = time.perf_counter()
            remote = sweep(config, grid, seeds, client=client, progress=progress, batch_size=batch_size)
            out["dask_s"] = time.perf_counter() - start
        out["dask_workers"] = workers
        out["dask_runs_per_s"] = n_runs / out["dask_s"]
        out["speedup"] = out["in_process_s"] / out["dask_s"]
        pd.testing.assert_frame_equal(remote, local, check_exact=True)
        out["same_rows"] = True
    out["load_after"] = os.getloadavg()[0]
    best = min(out["in_process_s"], out.get("dask_s", np.inf))
    out["under_target"] = bool(best < TARGET_SECONDS)
    return out


def report(out):
    lines = [f"sweep benchmark: {out['n_dial']} dial values x {out['n_seeds']} seeds = {out['n_runs']} runs "
             f"(classroom Config), {out['cpus']} CPUs, load {out['load_before']:.2f} -> {out['load_after']:.2f}",
             f"  in process      : {out['in_process_s']:7.1f} s  {out['in_process_runs_per_s']:7.1f} runs/s"]
    if "dask_s" in out:
        lines.append(f"  dask, {out['dask_workers']} workers : {out['dask_s']:7.1f} s  {out['dask_runs_per_s']:7.1f} runs/s"
                     f"  (x{out['speedup']:.2f}; cluster start {out['cluster_start_s']:.1f} s; same rows: "
                     f"{out['same_rows']})")
    lines.append(f"  target < {TARGET_SECONDS:.0f} s: {'met' if out['under_target'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dial", type=int, default=21, help="dial values (default 21)")
    p.add_argument("--seeds", type=int, default=200, help="seeds per dial value (default 200)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    out = bench(args.dial, args.seeds, args.workers, not args.no_dask, args.batch_size, args.progress)
    print(report(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
