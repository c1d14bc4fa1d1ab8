"""Every ```python block of the README runs as written, each on its own, against the tiny checkpoints and the
notebooks' default dataset (the README's snippets are documentation, so they are tests)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks():
    text = (ROOT / "README.md").read_text()
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def test_the_readme_has_python_blocks():
    assert len(python_blocks()) >= 5


@pytest.mark.parametrize("line,code", python_blocks(), ids=lambda v: f"README.md:{v}" if isinstance(v, int) else "")
def test_a_readme_python_block_runs(line, code, tiny_dataset, monkeypatch):
    assert Path(tiny_dataset).resolve() == (ROOT / "data" / "synthtalk" / "tiny-seed0").resolve()
    monkeypatch.chdir(ROOT)                                   # the README's paths are the repository's
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})
