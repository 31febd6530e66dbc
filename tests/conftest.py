"""Shared fixtures: every test session gets its own artifact cache and an empty data root.

``smoke_book`` and ``built_smoke_book`` execute every chapter with profile smoke and build the book
once per session; tests/test_notebooks.py and tests/test_book_browser.py both read that build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_paths(tmp_path_factory):
    """Point $PAPERLIB_CACHE and $PAPERLIB_DATA at fresh folders; nothing is downloaded."""
    old = {k: os.environ.get(k) for k in ("PAPERLIB_CACHE", "PAPERLIB_DATA", "MPLBACKEND")}
    os.environ["PAPERLIB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["PAPERLIB_DATA"] = str(tmp_path_factory.mktemp("data"))
    os.environ["MPLBACKEND"] = "Agg"
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    """A CIFAR-100-format fixture (real pickle layout, 20 x 5 labels, few images per class)."""
    from paperlib.testing import write_cifar100_fixture

    return write_cifar100_fixture(tmp_path_factory.mktemp("cifar"), {"train": 6, "test": 4})


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests: the machine is shared, and one thread avoids oversubscription."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@dataclass(frozen=True)
class SmokeBook:
    """One run of ``make book PROFILE=smoke``, the command a reader types: every chapter executed with
    its own parameters into book/, then ``jupyter-book build book --all -n -W --keep-going``."""

    root: Path  # book/: the executed chapters beside the markdown pages
    returncode: int
    log: str  # stdout and stderr of make


@pytest.fixture(scope="session")
def make_smoke_book(tmp_path_factory) -> SmokeBook:
    """Run ``make book PROFILE=smoke`` once per session, into this session's artifact cache (cold).

    The tests read the book a user builds, not reduced copies: no chapter parameter is changed. The
    Makefile's environment is this interpreter's (``VENV``), already set up (a fresh ``STAMP``), so
    make installs nothing.
    """
    stamp = tmp_path_factory.mktemp("make") / "installed"
    stamp.touch()
    res = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(REPO),
            "book",
            "PROFILE=smoke",
            f"VENV={sys.prefix}",
            f"STAMP={stamp}",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )  # this session's PAPERLIB_CACHE and PAPERLIB_DATA (cold, empty)
    return SmokeBook(REPO / "book", res.returncode, res.stdout + res.stderr)


@pytest.fixture(scope="session")
def smoke_book(make_smoke_book) -> Path:
    """book/ with every chapter of nbs/ executed by ``make book PROFILE=smoke`` (the fixture fails if a chapter did)."""
    import nbformat

    from paperlib.book import PARAMETER_TAGS

    nbs = sorted((REPO / "nbs").glob("*.ipynb"))
    missing = [nb.name for nb in nbs if not (make_smoke_book.root / nb.name).exists()]
    assert not missing and "papermill" in make_smoke_book.log, (missing, make_smoke_book.log[-6000:])
    for nb in nbs:  # make folded the notebook's parameters and papermill's injected ones
        cells = nbformat.read(make_smoke_book.root / nb.name, as_version=4).cells
        tags = [c.metadata.get("tags", []) for c in cells]
        assert sum(any(t in ts for t in PARAMETER_TAGS) and "hide-input" in ts for ts in tags) == 2, nb.name
    return make_smoke_book.root


@dataclass(frozen=True)
class BuiltBook:
    """One ``jupyter-book build`` of :func:`smoke_book`: where it is and how it went."""

    root: Path  # the book's sources
    html: Path  # root / "_build" / "html"
    returncode: int
    log: str  # stdout and stderr of the build


@pytest.fixture(scope="session")
def built_smoke_book(make_smoke_book) -> BuiltBook:
    """The html of ``make book PROFILE=smoke`` (its ``jupyter-book build -n -W --keep-going`` step).
    The fixture does not judge the build: the tests do."""
    return BuiltBook(
        make_smoke_book.root, make_smoke_book.root / "_build" / "html", make_smoke_book.returncode, make_smoke_book.log
    )
