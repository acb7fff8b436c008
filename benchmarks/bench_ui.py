"""Slider change -> updated figure latency of the lesson apps, in the kernel.

For each app at its classroom default, ~30 main-control changes are timed
two ways: the callback alone (model re-run + artist updates + draw_idle, what
the kernel does before it answers the page) and the callback plus a full
Agg render of the figure (what ipympl then does to send the new image).
Run: ``.venv/bin/python benchmarks/bench_ui.py``. Target: median and p95 < 150 ms.
"""
import statistics
import time

import matplotlib

matplotlib.use("module://ipympl.backend_nbagg")

from coupling_lab.ui import CouplingPicture, OneEngine, SharingDial  # noqa: E402


def bench(app, name, values, repeats=30):
    slider = app.controls[name]
    cb, full = [], []
    for i in range(repeats):
        value = values[i % len(values)]
        start = time.perf_counter()
        slider.value = value
        mid = time.perf_counter()
        app.fig.canvas.draw()
        end = time.perf_counter()
        assert app.status.message == "", app.status.message
        cb.append(mid - start)
        full.append(end - start)
    def q(xs):
        xs = sorted(xs)
        return 1000 * statistics.median(xs), 1000 * xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return q(cb), q(full)


def main():
    cases = [
        ("00 CouplingPicture", CouplingPicture(), "sharing", [1.0, 0.0, 0.5]),
        ("01 OneEngine", OneEngine(), "price", [1690.0, 1500.0, 1800.0, 1450.0, 1700.0]),
        ("02 SharingDial", SharingDial(), "sharing", [0.6, 0.8, 1.0, 0.2, 0.0, 0.4]),
    ]
    print(f"{'app (main control)':28s} {'callback median':>16s} {'p95':>8s} {'+ render median':>16s} {'p95':>8s}")
    for label, app, name, values in cases:
        app.fig.canvas.draw()  # warm up fonts and caches
        (cm, cp), (fm, fp) = bench(app, name, values)
        print(f"{label + ' (' + name + ')':28s} {cm:14.1f} ms {cp:6.1f} ms {fm:14.1f} ms {fp:6.1f} ms")


if __name__ == "__main__":
    main()
