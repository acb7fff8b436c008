"""``python -m coupling_lab``: run the classroom scenario across the sharing dial and print its measures."""
from __future__ import annotations

import dataclasses

from . import Config, simulate


def main():
    base = Config()
    print(f"{'sharing':>8} {'synchrony':>10} {'twin disp.':>11} {'peak flow':>10} {'excess dd':>10} {'bad debt USD':>13}")
    for sharing in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        m = simulate(dataclasses.replace(base, sharing=sharing), seed=0).measures
        print(f"{sharing:8.1f} {m.synchrony:10.3f} {m.twin_dispersion:9.2f} st {m.peak_flow_share:10.3f} "
              f"{m.excess_drawdown:10.4f} {m.bad_debt:13,.0f}")


if __name__ == "__main__":
    main()
