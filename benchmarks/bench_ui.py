"""Slider change -> updated figure latency of every lesson's main app, in the kernel.

For each lesson's main app (00-07, 09-10, and 02b's two dials) at its classroom default: the app's
construction time (what opening the lesson costs in the kernel), then ~30
main-control changes timed two ways:

* *callback*: ``control.value = v`` -- model re-run, artist updates,
  ``draw_idle()``: what the kernel does before the page can ask for a frame;
* *+ render*: the callback plus what ipympl then does for a connected page:
  ``canvas.draw()`` (full Agg render of the figure) and the PNG frame it sends
  (``get_diff_image`` via ``manager.refresh_all``). The canvas is told a front
  end is there (ipympl's ``initialized`` message), so the kernel-only
  ``_data_url`` fallback PNG is not made, as in a browser.

Run: ``.venv/bin/python benchmarks/bench_ui.py`` (``--repeats N``,
``--dpr 2`` to render as for a HiDPI screen, ``--json out.json``).
Target (issue 4): callback + render median under 150 ms for every lesson.
"""
import argparse
import json
import os
import statistics
import sys
import time

import matplotlib

matplotlib.use("module://ipympl.backend_nbagg")

from coupling_lab import Config, sweep  # noqa: E402
from coupling_lab.ui import CouplingPicture, OneEngine, SharingDial  # noqa: E402
from coupling_lab.ui.cascades import DepthCascade  # noqa: E402
from coupling_lab.ui.faults import FaultComparison  # noqa: E402
from coupling_lab.ui.forecast import ForecastVsSimulation  # noqa: E402
from coupling_lab.ui.mitigations import TwoDesigns  # noqa: E402
from coupling_lab.ui.sweep_plots import SweepExplorer  # noqa: E402
from coupling_lab.ui.two_channels import TwoChannels  # noqa: E402
from coupling_lab.ui.margin_modes import MarginModes  # noqa: E402
from coupling_lab.ui.insurance import InsuranceFund  # noqa: E402


def _frame07():
    # notebook 07's two-way sweep (built once, outside the timed construction)
    return sweep(Config(), {"sharing": [0.0, 0.25, 0.5, 0.75, 1.0], "market.depth": [5e7, 2e8, 8e8]}, seeds=range(8))


#: (label, factory, main control, values cycled through), as the lesson notebooks open them
CASES = [
    ("00 CouplingPicture", lambda: CouplingPicture(), "sharing", [1.0, 0.0, 0.5]),
    ("01 OneEngine", lambda: OneEngine(), "price", [1690.0, 1500.0, 1800.0, 1450.0, 1700.0]),
    ("02 SharingDial", lambda: SharingDial(), "sharing", [0.6, 0.8, 1.0, 0.2, 0.0, 0.4]),
    ("02b TwoChannels", lambda: TwoChannels(), "sharing", [0.75, 1.0, 0.0, 0.25, 0.5]),
    ("02b TwoChannels", lambda: TwoChannels(), "collateral_sharing", [0.75, 1.0, 0.0, 0.25, 0.5]),
    ("03 DepthCascade", lambda: DepthCascade(depth=400, resilience=0.1, drop=6, seed=1), "depth",
     [390.0, 150.0, 600.0, 250.0, 400.0, 800.0]),
    ("04 FaultComparison", lambda: FaultComparison(), "size", [11.0, 20.0, 5.0, 30.0, 10.0, 15.0]),
    ("05 TwoDesigns", lambda: TwoDesigns(), "B_delay", [2, 30, 60, 10, 1, 90]),
    ("06 ForecastVsSim", lambda: ForecastVsSimulation(drop=6, depth=200, resilience=0.3, seed=1), "drop",
     [7.0, 10.0, 3.0, 15.0, 6.0, 20.0]),
    ("07 SweepExplorer", None, "value", None),  # filled in main(): needs the sweep frame
    ("09 MarginModes", lambda: MarginModes(portfolio="pair"), "crash", [35, 40, 25, 20, 45, 30]),
    ("09 MarginModes", lambda: MarginModes(portfolio="blown"), "size", [10, 1, 15, 25, 30, 20]),
    ("10 InsuranceFund", lambda: InsuranceFund(), "fund", [250, 300, 0, 500, 1000, 200]),
]


def _q(xs):
    xs = sorted(xs)
    return 1000 * statistics.median(xs), 1000 * xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def connect_front_end(canvas, dpr=1.0):
    """Put an ipympl canvas in the state a connected page leaves it in."""
    if hasattr(canvas, "_handle_message"):
        canvas._handle_message(canvas, {"type": "initialized"}, [])
        if dpr != 1.0:
            canvas._handle_message(canvas, {"type": "set_device_pixel_ratio", "device_pixel_ratio": dpr}, [])


def render(canvas):
    """What ipympl does when the page answers draw_idle: full Agg draw, then the PNG frame."""
    canvas.draw()  # Agg render + manager.refresh_all() -> get_diff_image() -> send_binary
    if not getattr(canvas.manager, "web_sockets", None):  # not ipympl: encode the frame ourselves
        canvas.get_diff_image()


def bench(app, name, values, repeats):
    control = app.controls[name]
    cb, full = [], []
    n0 = app.n_updates
    for i in range(repeats):
        value = values[i % len(values)]
        if control.value == value:
            value = values[(i + 1) % len(values)]
        start = time.perf_counter()
        control.value = value
        mid = time.perf_counter()
        render(app.fig.canvas)
        end = time.perf_counter()
        assert app.status.message == "", app.status.message
        cb.append(mid - start)
        full.append(end - start)
    assert app.n_updates - n0 == repeats, "every change must re-run the app"
    return _q(cb), _q(full)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--dpr", type=float, default=1.0, help="device pixel ratio the page reports (2 = HiDPI)")
    ap.add_argument("--only", default="", help="comma-separated lesson numbers, e.g. 02,06")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    frame07 = _frame07() if not only or "07" in only else None
    cases = [c if c[0][:2] != "07" else
             (c[0], lambda: SweepExplorer(frame07, x="sharing", param="market.depth"), "value",
              [2e8, 8e8, 5e7]) for c in CASES]
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; device pixel ratio {args.dpr:g}; "
          f"{args.repeats} changes per app", flush=True)
    head = (f"{'app (main control)':30s} {'open':>8s} {'callback med':>13s} {'p95':>8s} "
            f"{'+ render med':>13s} {'p95':>8s} {'px':>10s}")
    print(head)
    rows = []
    for label, factory, name, values in cases:
        if only and label[:2] not in only:
            continue
        start = time.perf_counter()
        app = factory()
        opened = 1000 * (time.perf_counter() - start)
        connect_front_end(app.fig.canvas, args.dpr)
        render(app.fig.canvas)  # the first frame (fonts, caches)
        (cm, cp), (fm, fp) = bench(app, name, values, args.repeats)
        w, h = app.fig.canvas.get_width_height(physical=True)
        print(f"{label + ' (' + name + ')':30s} {opened:6.0f} ms {cm:10.1f} ms {cp:5.1f} ms "
              f"{fm:10.1f} ms {fp:5.1f} ms {w:>4d}x{h:<4d}", flush=True)
        rows.append(dict(app=label, control=name, open_ms=opened, callback_median_ms=cm, callback_p95_ms=cp,
                         render_median_ms=fm, render_p95_ms=fp, width_px=w, height_px=h))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(rows=rows, dpr=args.dpr, repeats=args.repeats, load_after=load), f, indent=1)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
