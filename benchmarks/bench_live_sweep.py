"""Lesson 02's live sweep ("is it the dial, or luck?"): wall time from pressing Run to the figure updated.

Each case runs in a fresh Python process, as a Voila kernel does, with the
ipympl backend and the canvas told a page is connected (so a draw makes and
sends the PNG frame, as in a browser). In that process it

1. opens the lesson as the notebook does: ``SharingDial()`` (its first run
   loads the compiled loop's on-disk cache), then ``DialSweep(n_dial, n_seeds)``,
   which runs the sweep once before the page shows (*page-load sweep*: the
   first sweep in the process, with the first summary's imports);
2. presses **Run sweep** ``--repeats`` times (``run_button.click()``: the sweep
   runs in its background thread, as on the page) and times each press until
   the thread has drawn the figure and sent its frame (*press Run*), split
   into the sweep itself (``sharing_dial.dial_sweep``: one ``sweep()`` per
   seed, with the progress bar) and the rest (summary, table, artists, Agg
   render and PNG).

Cases: today's default (6 dial positions x 84 seeds = 504 runs) beside the
old default (6 x 10 = 60 runs). Run: ``.venv/bin/python benchmarks/bench_live_sweep.py``
(``--repeats 3``, ``--json out.json``). Target (issue 16): the default, at
least 500 runs, in under 2 s.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CASES = [("old default", 6, 10), ("default", None, None)]  # None: the declared default


def child(n_dial, n_seeds, repeats):
    t0 = time.perf_counter()
    import matplotlib

    matplotlib.use("module://ipympl.backend_nbagg")
    import coupling_lab.ui.sharing_dial as ui
    from coupling_lab.lessons.sharing_dial import sweep_runs

    t1 = time.perf_counter()
    ui.SharingDial()  # the lesson's first app, as on the page (first compiled run)
    t2 = time.perf_counter()
    view = ui.DialSweep(n_dial=n_dial, n_seeds=n_seeds)  # the sweep cell: one sweep before the page shows
    t3 = time.perf_counter()
    assert view.frame is not None and not view.status.message, view.status.message
    canvas = view.fig.canvas
    canvas._handle_message(canvas, {"type": "initialized"}, [])  # a page is connected
    canvas.draw()  # the page's first frame
    values = view.read_values()
    runs = sweep_runs(values["n_platforms"], values["n_dial"], values["n_seeds"])
    assert len(view.frame) == runs
    inner, real = [], ui.dial_sweep

    def timed_sweep(*args, **kwargs):
        start = time.perf_counter()
        out = real(*args, **kwargs)
        inner.append(time.perf_counter() - start)
        return out

    ui.dial_sweep = timed_sweep
    presses = []
    for _ in range(repeats):
        n0 = view.n_updates
        start = time.perf_counter()
        view.run_button.click()
        view.thread.join()
        presses.append(time.perf_counter() - start)
        assert view.n_updates == n0 + 1 and not view.status.message, view.status.message
        assert len(view.frame) == runs and view.bar.value == runs and view.bar.bar_style == "success"
    return dict(n_dial=values["n_dial"], n_seeds=values["n_seeds"], runs=runs, import_s=t1 - t0,
                first_app_s=t2 - t1, page_load_sweep_s=t3 - t2, press_s=presses, sweep_s=inner)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        n_dial, n_seeds = (None if v == "-" else int(v) for v in args.child)
        print("RESULT " + json.dumps(child(n_dial, n_seeds, args.repeats)), flush=True)
        return None
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores; "
          f"each case in a fresh process; press Run x {args.repeats}", flush=True)
    print(f"{'case':12s} {'runs':>5s} {'page-load sweep':>16s} {'press Run med':>14s} {'(min-max)':>14s} "
          f"{'sweep':>8s} {'rest':>7s} {'ms/run':>7s}")
    rows = []
    for label, n_dial, n_seeds in CASES:
        cmd = [sys.executable, os.path.abspath(__file__), "--repeats", str(args.repeats), "--child",
               "-" if n_dial is None else str(n_dial), "-" if n_seeds is None else str(n_seeds)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
        press, inner = statistics.median(r["press_s"]), statistics.median(r["sweep_s"])
        print(f"{label:12s} {r['runs']:5d} {r['page_load_sweep_s']:14.2f} s {press:12.2f} s "
              f"{min(r['press_s']):6.2f}-{max(r['press_s']):4.2f} s {inner:6.2f} s {press - inner:5.2f} s "
              f"{1000 * inner / r['runs']:7.2f}", flush=True)
        rows.append(dict(case=label, **r))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(rows=rows, repeats=args.repeats, load_after=load), f, indent=1)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
