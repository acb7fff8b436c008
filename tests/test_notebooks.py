"""Every lesson notebook is stored clean and set up the same way.

nbval (``--nbval-lax --nbval-current-env`` in pyproject's addopts) runs the
notebooks themselves; these tests check what nbval does not: no stored
outputs, one kernel name, ipympl everywhere, no inline plotting, and relative
links between lessons that resolve.
"""
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
IDS = [p.name for p in NOTEBOOKS]
# NN-kebab-title, or NNx-kebab-title for a lesson inserted after lesson NN (02b sorts between 02 and 03)
NAME = re.compile(r"^\d\d[a-z]?-[a-z0-9]+(-[a-z0-9]+)*\.ipynb$")
PAGES = ("instructor-guide.ipynb",)  # pages of the app that are not numbered lessons
LINK = re.compile(r"\]\(([^)\s]+\.ipynb)(#[^)]*)?\)")


def load(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def test_notebook_folder_is_not_empty():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    nb = load(path)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs or execution counts; strip them before committing"
    widgets_state = nb.metadata.get("widgets", {})
    assert not widgets_state, f"{path.name}: stored widget state in metadata; strip it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_kernel_and_name(path):
    nb = load(path)
    assert NAME.match(path.name) or path.name in PAGES, f"{path.name} is not named NN-kebab-title.ipynb (or NNx-, e.g. 02b-)"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernel name must be python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_uses_ipympl_never_inline(path):
    nb = load(path)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any(re.search(r"^%matplotlib widget\s*$", src, re.M) for src in code), \
        f"{path.name}: no `%matplotlib widget` cell"
    joined = "\n".join(code)
    assert "%matplotlib inline" not in joined, f"{path.name}: mixes inline plotting with ipympl"
    assert "plt.show()" not in joined, f"{path.name}: plt.show() draws a second copy under ipympl"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_relative_links_resolve(path):
    nb = load(path)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    broken = [target for target, _anchor in LINK.findall(prose)
              if "://" not in target and not (path.parent / target).is_file()]
    assert not broken, f"{path.name}: links to missing notebooks {broken}"
