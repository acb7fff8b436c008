"""Binder: the files repo2docker reads agree with requirements.txt, the build
plan installs them, and the README's launch links open lessons that exist."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"


def _requirements(path):
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(Requirement(line))
    return out


def _pins():
    pins = {}
    for req in _requirements(BINDER / "requirements.txt"):
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"binder pin is not exact: {req}"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{req.name} pinned twice"
        pins[name] = (req, Version(specs[0].version))
    return pins


def test_every_requirement_is_pinned_inside_its_range():
    pins = _pins()
    top = _requirements(REPO / "requirements.txt")
    assert top, "requirements.txt is empty"
    for req in top:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in requirements.txt but not pinned in binder/requirements.txt"
        pinned, version = pins[name]
        assert req.specifier.contains(version, prereleases=True), \
            f"{req.name}=={version} is outside requirements.txt's range {req.specifier}"
        assert set(req.extras) <= set(pinned.extras), f"{req.name}: extras {req.extras} not kept in the pin"


def test_pins_agree_with_pyproject():
    """The package's own dependency ranges hold for the pinned versions too."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = _pins()
    deps = list(project["dependencies"]) + list(project.get("optional-dependencies", {}).get("ui", []))
    for text in deps:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (pyproject) is not pinned for Binder"
        assert req.specifier.contains(pins[name][1], prereleases=True), (req, pins[name][1])
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"runtime.txt should read python-X.Y; got {runtime!r}"
    assert SpecifierSet(project["requires-python"]).contains(match.group(1) + ".0")


def test_pins_are_what_the_environment_runs():
    """The pins were taken from a working environment: numpy, voila, ipympl... as pinned
    import together here when the environment is the one they were frozen from."""
    from importlib import metadata

    pins = _pins()
    mismatched = {name: (str(v), metadata.version(name)) for name, (_, v) in pins.items()
                  if _installed(name) and Version(metadata.version(name)) != v}
    missing = [name for name in pins if not _installed(name)]
    # A fresh CI environment resolves requirements.txt's ranges anew, so versions may move on;
    # what must hold is that nothing pinned is unknown to the resolver's world (a typo or a
    # package that left the dependency tree).
    direct = {canonicalize_name(r.name) for r in _requirements(REPO / "requirements.txt")}
    assert not [name for name in missing if name in direct], f"pinned requirements not installed: {missing}"
    if missing:
        print("pinned dependencies this environment no longer pulls in (regenerate the pins):", missing)
    if mismatched:
        print("pins differ from this environment (regenerate with binder/pin_requirements.py):", mismatched)


def _installed(name):
    from importlib import metadata

    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def test_postbuild_installs_the_kit():
    post = BINDER / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!/bin/bash")
    assert re.search(r"pip install .*--no-deps .*\.\s*$", text, re.M), "postBuild does not install coupling_lab"
    assert '"show_tracebacks": false' in text and '"strip_sources": true' in text
    subprocess.run(["bash", "-n", str(post)], check=True)


def test_postbuild_caches_the_compiled_loop_for_the_cpu_start_names():
    """The image's numba cache is built for the generic CPU target that binder/start asks for at run time."""
    post = (BINDER / "postBuild").read_text()
    assert re.search(r"^NUMBA_CPU_NAME=generic python -m coupling_lab\.cache$", post, re.M)
    assert post.index("python -m coupling_lab.cache") > post.index("pip install"), "the kit must be installed first"
    start = BINDER / "start"
    assert start.stat().st_mode & 0o111, "binder/start must be executable"
    text = start.read_text()
    assert text.startswith("#!/bin/bash") and "export NUMBA_CPU_NAME=generic" in text
    assert text.rstrip().endswith('exec "$@"'), "binder/start must hand over to the server command"
    subprocess.run(["bash", "-n", str(start)], check=True)


def test_the_cache_step_compiles_and_runs_in_a_fresh_process(tmp_path):
    env = {**os.environ, "NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "coupling_lab.cache"], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    assert "the compiled step loop is built and cached" in out
    assert any(tmp_path.rglob("*.nbi")), "no numba cache index was written"


def test_repo2docker_plan_installs_the_pins():
    """``jupyter-repo2docker --no-build --debug .`` (offline: it only writes the Dockerfile)."""
    r2d = Path(sys.executable).with_name("jupyter-repo2docker")
    result = subprocess.run([str(r2d), "--no-build", "--debug", "."], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in out
    assert "./binder/postBuild" in out
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in out
    version = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    assert f"python={version}" in out


BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/[^\s)\]>`\"]+")


def _binder_links():
    return sorted(set(BINDER_LINK.findall((REPO / "README.md").read_text())))


def test_readme_has_both_binder_launch_links():
    kinds = {}
    for url in _binder_links():
        query = parse_qs(urlsplit(url).query)
        assert "urlpath" in query, f"Binder link without urlpath: {url}"
        urlpath = unquote(query["urlpath"][0])
        kinds[urlpath.split("/", 1)[0]] = urlpath
    assert "lab" in kinds, "no JupyterLab launch link (urlpath=lab/tree/...)"
    assert "voila" in kinds, "no Voila launch link (urlpath=voila/render/...)"
    assert kinds["lab"].startswith("lab/tree/")
    assert kinds["voila"].startswith("voila/render/")


@pytest.mark.parametrize("url", _binder_links() or ["<no binder link in README.md>"])
def test_binder_links_open_notebooks_that_exist(url):
    parts = urlsplit(url)
    assert parts.path.count("/") >= 5, f"expected /v2/gh/<owner>/<repo>/<ref>: {url}"
    urlpath = unquote(parse_qs(parts.query)["urlpath"][0])
    for prefix in ("lab/tree/", "voila/render/"):
        if urlpath.startswith(prefix):
            target = REPO / urlpath.removeprefix(prefix)
            assert target.suffix == ".ipynb" and target.is_file(), f"{url} opens {target}, which does not exist"
            break
    else:
        pytest.fail(f"unexpected urlpath {urlpath!r} in {url}")
