"""Every notebook is a jupytext pair (py:percent source + ipynb with outputs) whose cells agree."""
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))


def test_there_are_notebooks():
    assert SOURCES, "notebooks/ has no py:percent sources"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{py.name} has no paired {ipynb.name}: run `jupytext --sync {py}`"
    a, b = jupytext.read(py), jupytext.read(ipynb)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]
    assert cells(a) == cells(b), f"{py.name} and {ipynb.name} drifted: run `jupytext --sync {py}` and re-execute"
