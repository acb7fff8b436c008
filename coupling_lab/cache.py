"""Build numba's on-disk cache of the compiled step loop: ``python -m coupling_lab.cache``.

``make setup``, ``make serve`` and Binder's ``postBuild`` run it, so that no
lesson kernel compiles the loop (20-30 s) in front of a learner; with the
cache built a fresh process loads it in a fraction of a second. See
:mod:`coupling_lab.compiled`.
"""
from __future__ import annotations

import sys
import time


def main():
    from coupling_lab import compiled

    if not compiled.available():
        print("coupling_lab.cache: numba is not installed; every run takes the reference loop")
        return 0
    t0 = time.perf_counter()
    compiled.warm()
    print(f"coupling_lab.cache: the compiled step loop is built and cached ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
