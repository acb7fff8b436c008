"""Write binder/requirements.txt: exact versions of everything requirements.txt
pulls in, as installed in the environment that runs this script.

    .venv/bin/python binder/pin_requirements.py

Run it after changing requirements.txt or upgrading .venv, then run
``tests/test_binder.py`` (it checks every pin is inside requirements.txt's range).
"""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE.parent / "requirements.txt"
OUT = HERE / "requirements.txt"


def read_requirements(path):
    """Requirements of a requirements file (comments and blank lines skipped)."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(Requirement(line))
    return out


def closure(requirements, environment=None):
    """``{canonical name: (distribution name, version)}`` for the requirements and
    everything they need (extras followed, markers evaluated)."""
    environment = environment or default_environment()
    found, todo = {}, [(r, frozenset(r.extras)) for r in requirements]
    seen = set()
    while todo:
        req, extras = todo.pop()
        key = (canonicalize_name(req.name), extras)
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(req.name)
        found[canonicalize_name(req.name)] = (dist.metadata["Name"], dist.version)
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is not None:
                if not any(sub.marker.evaluate({**environment, "extra": e}) for e in (extras or {""})):
                    continue
            todo.append((sub, frozenset(sub.extras)))
    return found


def main():
    top = read_requirements(REQUIREMENTS)
    pins = closure(top)
    top_names = {canonicalize_name(r.name): r for r in top}
    lines = [
        "# Exact versions Binder (repo2docker) installs: requirements.txt and everything it",
        "# pulls in, as installed in .venv. Regenerate with: .venv/bin/python binder/pin_requirements.py",
        f"# (Python {sys.version_info.major}.{sys.version_info.minor}, see runtime.txt)",
    ]
    for key in sorted(pins):
        name, version = pins[key]
        extras = top_names[key].extras if key in top_names else set()
        spec = f"{name}[{','.join(sorted(extras))}]" if extras else name
        lines.append(f"{spec}=={version}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(pins)} pins to {OUT}")


if __name__ == "__main__":
    main()
