"""Benchmark of a large sweep on dask: 100,000 runs of the classroom Config on a LocalCluster.

The grid is the sharing dial (21 positions) x two crash depths (``scenario.depth``
0.2 and 0.3) of the classroom default ``Config()``, with as many seeds as it takes
to reach ``--runs`` runs (100,002 for the default: 42 grid points x 2,381 seeds). It
runs in one call of :func:`coupling_lab.sweep` on a ``LocalCluster`` of the machine's
cores (worker processes, 1 thread each), exactly as a user calls it from a fresh
process (default batch size, unless ``--batch-size``), except that numba's cache is
loaded in the driver first (``--cold`` skips that: then ``sweep()`` times its first run
while the cache loads and sizes its batches at one run each; ``--no-trim`` starts the workers
without the ``MALLOC_TRIM_THRESHOLD_=65536`` dask's nanny sets), and prints:

- wall time and runs per second of the sweep (cluster start-up timed apart);
- the tasks: how many, runs per task, compute time per task on the workers, and the
  time per task the workers were not computing (scheduler, transfer, the driver);
- memory: each worker's resident set before the sweep (numba's cache loaded) and its
  peak during the sweep (``VmHWM`` of ``/proc/<pid>/status``, reset before the sweep),
  the size of one batch's input and result as pickled, the results held on the
  cluster at most, the driver's resident set (the scheduler runs in the driver's
  process for a LocalCluster) and the size of the returned frame;
- the same rate for a small sweep in process (the straightforward baseline: one
  process, no dask), whose rows are checked to be the dask sweep's rows.

    .venv/bin/python benchmarks/bench_dask_scale.py             # 100,000 runs, about 3-6 min on 2 cores
    .venv/bin/python benchmarks/bench_dask_scale.py --quick     # 5,000 runs
    .venv/bin/python benchmarks/bench_dask_scale.py --runs 20000 --batch-size 200 --json out.json
    .venv/bin/python benchmarks/bench_dask_scale.py --diagnose  # where a worker's time goes, about a minute

Only Linux's ``/proc`` and the standard library are used for memory. Record the
figures in benchmarks/README.md ("Sweeps", "Dask at scale") with the load average.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pickle
import platform
import resource
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from coupling_lab import Config, sweep  # noqa: E402

sw = importlib.import_module("coupling_lab.sweep")  # the module (``coupling_lab.sweep`` is the function)

CONFIG = Config()  # the classroom default: 5 platforms x 2,000 accounts x 500 steps
DIAL = [round(float(s), 10) for s in np.linspace(0.0, 1.0, 21)]
GRID = {"sharing": DIAL, "scenario.depth": [0.2, 0.3]}
MB = 1024 * 1024
NO_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


# --------------------------------------------------------------------------- memory, stdlib only


def proc_status(pid="self"):
    """``VmRSS`` and ``VmHWM`` (peak) of a process, in bytes, from /proc."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value, _unit = line.split()
                out[name[:-1]] = int(value) * 1024
    return out


def reset_peak():
    """Reset this process's ``VmHWM`` to its current RSS (Linux ``clear_refs`` 5); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def worker_memory(dask_worker=None):
    """Run on each worker (``client.run``): pid, RSS, peak RSS since reset, keys held."""
    status, usage = proc_status(), resource.getrusage(resource.RUSAGE_SELF)
    return {"pid": os.getpid(), "rss": status["VmRSS"], "hwm": status["VmHWM"], "maxrss": usage.ru_maxrss * 1024,
            "cpu": usage.ru_utime + usage.ru_stime, "minflt": usage.ru_minflt,
            "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            "keys_held": len(dask_worker.data) if dask_worker is not None else None}


def warm_worker():
    """Load numba's on-disk cache in a worker (what its first task would pay), then reset its peak."""
    sw.run_batch([(0, CONFIG, 0)])
    return reset_peak()


class TaskLog:
    """A scheduler plugin: per finished task (a batch), its compute time and result size; results held."""

    name = "bench-dask-scale"

    def __init__(self):
        self.compute, self.nbytes = [], []
        self.held = self.held_max = self.held_bytes = self.held_bytes_max = 0
        self.sizes = {}
        self.first_start = self.last_stop = None

    def transition(self, key, start, finish, *args, **kwargs):
        # every task of this cluster is a batch of the sweep (the warm-up goes by client.run)
        if start == "processing" and finish == "memory":
            for ss in kwargs.get("startstops", ()):
                if ss["action"] == "compute":
                    self.compute.append(ss["stop"] - ss["start"])
                    self.first_start = ss["start"] if self.first_start is None else min(self.first_start, ss["start"])
                    self.last_stop = ss["stop"] if self.last_stop is None else max(self.last_stop, ss["stop"])
            nbytes = int(kwargs.get("nbytes", 0))
            self.nbytes.append(nbytes)
            self.sizes[key] = nbytes
            self.held += 1
            self.held_bytes += nbytes
            self.held_max = max(self.held_max, self.held)
            self.held_bytes_max = max(self.held_bytes_max, self.held_bytes)
        elif start == "memory":
            self.held -= 1
            self.held_bytes -= self.sizes.pop(key, 0)

    def summary(self):
        return {"tasks": len(self.compute), "compute_s": float(np.sum(self.compute)),
                "compute_per_task_ms": 1e3 * float(np.median(self.compute)) if self.compute else math.nan,
                "result_nbytes_median": int(np.median(self.nbytes)) if self.nbytes else 0,
                "held_max": self.held_max, "held_bytes_max": self.held_bytes_max,
                "span_s": (self.last_stop - self.first_start) if self.compute else math.nan}


def _install_log(dask_scheduler=None):
    from distributed.diagnostics.plugin import SchedulerPlugin

    log = type("TaskLogPlugin", (TaskLog, SchedulerPlugin), {})()
    dask_scheduler.add_plugin(log, name=TaskLog.name)
    return True


def _read_log(dask_scheduler=None):
    return dask_scheduler.plugins[TaskLog.name].summary()


class Sampler(threading.Thread):
    """Reads the resident set of the driver and of each worker every ``every`` seconds, from /proc."""

    def __init__(self, pids, every=0.25):
        super().__init__(daemon=True)
        self.pids, self.every = pids, every
        self.peak = {pid: 0 for pid in ["self", *pids]}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for pid in self.peak:
                try:
                    self.peak[pid] = max(self.peak[pid], proc_status(pid)["VmRSS"])
                except OSError:
                    pass
            self.stop.wait(self.every)


def results_dict_bytes(frame, batch_size):
    """Bytes of the ``{task_id: measures dict}`` :func:`sweep` fills in the driver (tracemalloc).

    Rebuilt from the frame as it arrives from dask: batches of ``batch_size``
    ``(task_id, measures)`` pairs, pickled and unpickled, each dict kept.
    """
    names = list(sw.MEASURES)
    columns = [frame[n].tolist() for n in names]
    rows = [(i, dict(zip(names, row))) for i, row in enumerate(zip(*columns))]
    blobs = [pickle.dumps(rows[i:i + batch_size], protocol=5) for i in range(0, len(rows), batch_size)]
    del rows, columns
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    results = {}
    for blob in blobs:
        for task_id, measures in pickle.loads(blob):
            results[task_id] = measures
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del results
    return size


# --------------------------------------------------------------------------- the benchmark


def bench(n_runs=100_000, workers=None, batch_size=None, baseline_seeds=None, progress=False, cold=False,
          no_trim=False):
    import dask
    from dask.distributed import Client, LocalCluster

    workers = workers or os.cpu_count() or 1
    n_grid = len(GRID["sharing"]) * len(GRID["scenario.depth"])
    n_seeds = math.ceil(n_runs / n_grid)
    seeds = range(n_seeds)
    out = {"n_grid": n_grid, "n_seeds": n_seeds, "n_runs": n_grid * n_seeds, "workers": workers,
           "cpus": os.cpu_count(), "python": platform.python_version(), "load_before": os.getloadavg(),
           "batch_size_arg": batch_size, "cold": cold, "no_trim": no_trim}
    driver_before = proc_status()["VmRSS"]
    if not cold:
        # Load numba's cache in the driver first: sweep() times its first run here to size the
        # batches, and in a fresh process that run also pays the cache load (~0.5 s).
        start = time.perf_counter()
        sw.run_batch([(0, CONFIG, 0)])
        out["driver_warm_s"] = time.perf_counter() - start

    # dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536; None leaves glibc's default
    trim = {NO_TRIM: None} if no_trim else {}
    start = time.perf_counter()
    with dask.config.set(trim), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None) as cluster, Client(cluster) as client:
        out["cluster_start_s"] = time.perf_counter() - start
        client.run(warm_worker)  # numba's cache, once per worker process (about 0.5 s each)
        client.run_on_scheduler(_install_log)
        before = client.run(worker_memory)
        pids = [m["pid"] for m in before.values()]
        out["worker_rss_before"] = [m["rss"] for m in before.values()]
        out["driver_rss_before_sweep"] = proc_status()["VmRSS"]
        reset_peak()
        sampler = Sampler(pids)
        sampler.start()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        frame = sweep(CONFIG, GRID, seeds, client=client, progress=progress, batch_size=batch_size)
        out["dask_s"] = time.perf_counter() - start
        out["driver_peak"] = proc_status()["VmHWM"]
        end = resource.getrusage(resource.RUSAGE_SELF)
        out["driver_cpu_s"] = end.ru_utime + end.ru_stime - cpu.ru_utime - cpu.ru_stime
        sampler.stop.set()
        sampler.join()
        after = client.run(worker_memory)
        out["worker_peak"] = [m["hwm"] for m in after.values()]
        out["worker_rss_after"] = [m["rss"] for m in after.values()]
        out["worker_cpu_s"] = [a["cpu"] - b["cpu"] for a, b in zip(after.values(), before.values())]
        out["worker_faults"] = [a["minflt"] - b["minflt"] for a, b in zip(after.values(), before.values())]
        out["worker_trim"] = sorted({str(m["trim"]) for m in after.values()})
        out["worker_keys_after"] = [m["keys_held"] for m in after.values()]
        out["worker_peak_sampled"] = [sampler.peak[p] for p in pids]
        out["tasks"] = client.run_on_scheduler(_read_log)
    out["driver_rss_after_sweep"] = proc_status()["VmRSS"]
    out["driver_before"] = driver_before
    out["dask_runs_per_s"] = out["n_runs"] / out["dask_s"]
    t = out["tasks"]
    out["runs_per_task"] = (out["n_runs"] - (0 if batch_size else 1)) / max(t["tasks"], 1)
    # time per task the worker threads were not computing, over the span of the tasks
    out["idle_per_task_ms"] = 1e3 * (workers * out["dask_s"] - t["compute_s"]) / max(t["tasks"], 1)
    out["frame_bytes"] = int(frame.memory_usage(deep=True).sum())
    assert len(frame) == out["n_runs"] and frame.attrs["sweep"]["complete"]

    # one batch of the size the sweep used: its input and result as pickled, and its wall time here
    size = batch_size or max(1, min(len(frame), int(round(out["runs_per_task"]))))
    points, configs = sw.grid_configs(CONFIG, GRID)
    tasks = [(i, configs[i // n_seeds], seeds[i % n_seeds]) for i in range(len(configs) * n_seeds)]
    batch = sw._batches(tasks, size)[0]
    start = time.perf_counter()
    rows = sw.run_batch(batch)
    out["batch_here_s"] = time.perf_counter() - start
    out["batch_size"] = size
    out["results_dict_bytes"] = results_dict_bytes(frame, size)
    out["batch_in_bytes"] = len(pickle.dumps(batch, protocol=5))
    out["batch_out_bytes"] = len(pickle.dumps(rows, protocol=5))

    # the straightforward baseline: a small sweep in this process (no dask), same grid, first seeds
    baseline_seeds = baseline_seeds or max(2, min(24, n_seeds))
    start, cpu = time.perf_counter(), time.process_time()
    local = sweep(CONFIG, GRID, range(baseline_seeds), progress=False)
    out["local_s"] = time.perf_counter() - start
    out["local_cpu_s"] = time.process_time() - cpu
    out["local_runs"] = len(local)
    out["local_runs_per_s"] = len(local) / out["local_s"]
    part = frame[frame["seed"] < baseline_seeds].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, local, check_exact=True, check_like=False)
    out["same_rows"] = True
    out["speedup"] = out["dask_runs_per_s"] / out["local_runs_per_s"]
    out["load_after"] = os.getloadavg()
    return out


# --------------------------------------------------------------------------- diagnostics (--diagnose)


def cost_per_run(n_seeds=24, size=64):
    """Wall, user and system time and page faults per run of the grid's first seeds, in this process."""
    points, configs = sw.grid_configs(CONFIG, GRID)
    tasks = [(i, configs[i // n_seeds], i % n_seeds) for i in range(len(configs) * n_seeds)]
    sw.run_batch([(0, CONFIG, 0)])
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for batch in sw._batches(tasks, size):
        sw.run_batch(batch)
    wall, r1, n = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF), len(tasks)
    return {"wall_ms": 1e3 * wall / n, "user_ms": 1e3 * (r1.ru_utime - r0.ru_utime) / n,
            "sys_ms": 1e3 * (r1.ru_stime - r0.ru_stime) / n, "faults": (r1.ru_minflt - r0.ru_minflt) / n,
            "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"), "runs": n}


def _echo(x):
    return x


def diagnose(rounds=2):
    """Where a worker's time goes: the same runs in process, in two plain processes, in one worker."""
    import multiprocessing

    import dask
    from dask.distributed import Client, LocalCluster, wait

    out = {"load_before": os.getloadavg()}
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    out["alone"] = cost_per_run()
    with multiprocessing.get_context("spawn").Pool(2) as pool:  # two plain processes side by side
        start = time.perf_counter()
        pair = [pool.apply_async(cost_per_run) for _ in range(2)]
        out["pair"] = [r.get() for r in pair]
        out["pair_s"] = time.perf_counter() - start
    variants = [("dask default", {}), ("MALLOC_TRIM_THRESHOLD_ unset", {NO_TRIM: None}),
                ("profiler off", {"distributed.worker.profile.enabled": False})]
    out["worker"] = []
    for _ in range(rounds):
        for label, cfg in variants:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # the nanny puts it here; it would pass to the next
            with dask.config.set(cfg), LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                                    dashboard_address=None) as cluster, Client(cluster) as client:
                out["worker"].append((label, client.submit(cost_per_run, pure=False).result()))
                if label == "dask default" and "result_ms" not in out:
                    futures = [client.submit(_echo, i, pure=False) for i in range(200)]
                    wait(futures)
                    start = time.perf_counter()
                    for f in futures:
                        f.result()
                    out["result_ms"] = 1e3 * (time.perf_counter() - start) / len(futures)
                    start = time.perf_counter()
                    client.gather(futures)
                    out["gather_ms"] = 1e3 * (time.perf_counter() - start) / len(futures)
    import io

    from tqdm.auto import tqdm

    bar = tqdm(total=100_000, file=io.StringIO())
    start = time.perf_counter()
    for _ in range(100_000):
        bar.update(1)
    out["tqdm_us"] = 1e6 * (time.perf_counter() - start) / 100_000
    bar.close()
    out["load_after"] = os.getloadavg()
    return out


def report_diagnose(o):
    row = lambda label, c: (f"  {label:<46} {c['wall_ms']:5.2f} ms wall, user {c['user_ms']:5.2f}, "  # noqa: E731
                            f"sys {c['sys_ms']:4.2f} ms, {c['faults']:4.0f} page faults per run")
    lb, la = o["load_before"], o["load_after"]
    n = o["alone"]["runs"]
    lines = [f"where a worker's time goes: {n:,} runs (the grid's first 24 seeds, batches of 64) each way;"
             f" load average {lb[0]:.2f} -> {la[0]:.2f}",
             row("one plain process", o["alone"])]
    for i, c in enumerate(o["pair"]):
        lines.append(row(f"two plain processes side by side ({i + 1})", c))
    together = sum(1e3 / c["wall_ms"] for c in o["pair"])
    lines.append(f"  two side by side: {together:.0f} runs/s together, one alone {1e3 / o['alone']['wall_ms']:.0f} runs/s"
                 f" (x{together * o['alone']['wall_ms'] / 1e3:.2f})")
    for label, c in o["worker"]:
        lines.append(row(f"one dask worker, {label}", c))
    lines.append(f"  fetching a finished result: future.result() {o['result_ms']:.2f} ms each,"
                 f" client.gather of 200 {o['gather_ms']:.3f} ms each")
    lines.append(f"  progress bar: {o['tqdm_us']:.2f} us per tqdm.auto update")
    return "\n".join(lines)


def report(o):
    mb = lambda b: f"{b / MB:,.1f} MB"  # noqa: E731
    kb = lambda b: f"{b / 1024:,.1f} kB"  # noqa: E731
    t = o["tasks"]
    lb, la = o["load_before"], o["load_after"]
    lines = [
        f"dask at scale: {o['n_grid']} grid points (sharing x 21, scenario.depth x 2) x {o['n_seeds']:,} seeds"
        f" = {o['n_runs']:,} runs of the classroom Config()",
        f"  {o['cpus']} CPUs, Python {o['python']}, load average {lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f}"
        f" -> {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}",
        f"  LocalCluster: {o['workers']} workers x 1 thread (processes), start-up {o['cluster_start_s']:.1f} s,"
        f" workers' MALLOC_TRIM_THRESHOLD_ {', '.join(o['worker_trim'])}"
        f" ({'--no-trim' if o['no_trim'] else 'dask default'})",
        f"  sweep on dask        : {o['dask_s']:8.1f} s  {o['dask_runs_per_s']:7.1f} runs/s",
        f"  in process (baseline): {o['local_s']:8.1f} s  {o['local_runs_per_s']:7.1f} runs/s"
        f"  ({o['local_runs']:,} runs, same rows as on dask: {o['same_rows']}); dask x{o['speedup']:.2f}",
        f"  tasks: {t['tasks']:,} of {o['runs_per_task']:.1f} runs"
        f" ({'batch_size=' + str(o['batch_size_arg']) if o['batch_size_arg'] else 'default batch size'},"
        f" {'cold driver' if o['cold'] else 'driver warmed first'});"
        f" compute {t['compute_per_task_ms']:.1f} ms per task (median),"
        f" {1e3 * t['compute_s'] / o['n_runs']:.2f} ms per run;"
        f" not computing {o['idle_per_task_ms']:.1f} ms per task",
        f"  CPU during the sweep: workers {sum(o['worker_cpu_s']):.1f} s"
        f" ({1e3 * sum(o['worker_cpu_s']) / o['n_runs']:.2f} ms per run,"
        f" {sum(o['worker_faults']) / o['n_runs']:.0f} page faults per run),"
        f" driver (client + scheduler) {o['driver_cpu_s']:.1f} s ({1e3 * o['driver_cpu_s'] / max(t['tasks'], 1):.1f} ms"
        f" per task, {1e3 * o['driver_cpu_s'] / o['n_runs']:.2f} ms per run);"
        f" in process {1e3 * o['local_cpu_s'] / o['local_runs']:.2f} ms per run",
        f"  one batch of {o['batch_size']} runs: input {kb(o['batch_in_bytes'])}, result {kb(o['batch_out_bytes'])}"
        f" pickled (scheduler's estimate {kb(t['result_nbytes_median'])}), {1e3 * o['batch_here_s']:.0f} ms here",
        f"  results held on the workers at most: {t['held_max']:,} tasks, {mb(t['held_bytes_max'])};"
        f" after the sweep: {sum(o['worker_keys_after'])} keys",
    ]
    for i, (b, p, s, a) in enumerate(zip(o["worker_rss_before"], o["worker_peak"], o["worker_peak_sampled"],
                                         o["worker_rss_after"])):
        lines.append(f"  worker {i}: RSS {mb(b)} before (numba cache loaded), peak {mb(p)} during the sweep"
                     f" (+{mb(p - b)}; sampled {mb(s)}), {mb(a)} after")
    lines += [
        f"  driver (client + scheduler): RSS {mb(o['driver_before'])} at start, {mb(o['driver_rss_before_sweep'])}"
        f" with the cluster up, peak {mb(o['driver_peak'])} during the sweep, {mb(o['driver_rss_after_sweep'])} after",
        f"  the frame of {o['n_runs']:,} rows: {mb(o['frame_bytes'])};"
        f" the driver's results dict behind it: {mb(o['results_dict_bytes'])}",
    ]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100_000, help="runs (rounded up to whole seeds; default 100,000)")
    p.add_argument("--quick", action="store_true", help="5,000 runs")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: the machine's cores)")
    p.add_argument("--batch-size", type=int, default=None, help="runs per task (default: sweep's own)")
    p.add_argument("--baseline-seeds", type=int, default=None, help="seeds of the in-process sweep (default 24)")
    p.add_argument("--progress", action="store_true", help="show sweep's progress bar")
    p.add_argument("--cold", action="store_true",
                   help="do not load numba's cache in the driver before the sweep (see benchmarks/README.md)")
    p.add_argument("--no-trim", action="store_true",
                   help="start the workers without dask's MALLOC_TRIM_THRESHOLD_=65536 (see benchmarks/README.md)")
    p.add_argument("--diagnose", action="store_true",
                   help="instead of the sweep: the cost of a run in process, in two processes and in one worker "
                        "with and without dask's settings (about a minute)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.diagnose:
        out = diagnose()
        print(report_diagnose(out))
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return out
    runs = 5_000 if args.quick else args.runs
    if runs < 1:
        p.error(f"--runs must be at least 1; got {runs}")
    out = bench(runs, args.workers, args.batch_size, args.baseline_seeds, args.progress, args.cold, args.no_trim)
    print(report(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
