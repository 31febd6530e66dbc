"""The exercises' solutions run: every ```python block of book/exercises.md, in order, in one namespace
(the page's setup block first), on the smoke profile, as a reader would paste them. The papermill
commands of the exercises are the chapters' own "Try it" runs and are not repeated here.

The solutions train the models the smoke book trains (cached for the session: after the book's tests they
read the cache), so the module is marked `book`, out of `make test-fast`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.book

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "book" / "exercises.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.M | re.S)


def test_every_exercise_has_a_solution_and_a_label():
    text = PAGE.read_text()
    exercises = re.findall(r"^:::\{exercise\}.*\n:label: (\S+)", text, flags=re.M)
    solutions = re.findall(r"^:::\{solution\} (\S+)", text, flags=re.M)
    assert len(exercises) >= 14 and sorted(exercises) == sorted(solutions)
    chapters = re.findall(r"^## .*\(chapter (\d\d)\)$", text, flags=re.M)
    assert chapters == [p.stem[:2] for p in sorted((REPO / "nbs").glob("*.ipynb"))]


def test_the_solutions_run_on_smoke(tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)  # figures the solutions save land here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {}
    for i, block in enumerate(_python_blocks(PAGE.read_text())):
        try:
            exec(compile(block, f"{PAGE.name} python block {i}", "exec"), namespace)
        except Exception as exc:  # name the block a reader would paste
            raise AssertionError(f"python block {i} of {PAGE.name} failed:\n{block}") from exc
    assert os.path.exists(tmp_path / "ex-arch.png")
