"""Start a lesson kernel under a memory ceiling (used by ``coupling_lab.serve``).

``python -m coupling_lab.kernel_limit MB -- CMD ARGS...`` sets the process's
address-space limit (``RLIMIT_AS``) to ``MB`` megabytes, asks numeric
libraries for one thread each (a class server has few cores, and every
thread reserves address space), then replaces itself with ``CMD`` (same
process id, so the kernel manager signals the kernel itself). An allocation
past the ceiling fails inside the kernel (``MemoryError``) instead of taking
memory from the other learners; a kernel that dies of it is reported to its
page by the server in one line.

Standard library only: it runs before the kernel imports anything.
"""
from __future__ import annotations

import os
import sys

#: Set for the kernel unless already set: one thread per numeric library, two malloc arenas.
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}


def limit_command(mb, cmd):
    """``cmd`` prefixed so that it runs under a ``mb`` MB address-space ceiling.

    >>> limit_command(900, ["python", "-m", "ipykernel_launcher"])[1:]
    ['-m', 'coupling_lab.kernel_limit', '900', '--', 'python', '-m', 'ipykernel_launcher']
    """
    return [sys.executable, "-m", "coupling_lab.kernel_limit", str(int(mb)), "--", *cmd]


def main(argv=None):
    import resource

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: python -m coupling_lab.kernel_limit MB -- CMD [ARGS...]")
    mb = int(argv[0])
    if mb < 64:
        raise ValueError(f"kernel memory ceiling must be >= 64 MB; got {mb}")
    cmd = argv[2:]
    limit = mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
