"""Shared fixtures: every test session gets its own artifact cache and an empty data root.

``smoke_book`` and ``built_smoke_book`` execute every chapter with profile smoke and build the book
once per session; tests/test_notebooks.py and tests/test_book_browser.py both read that build.
"""

from __future__ import annotations

import os
import shutil
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


#: What the smoke book copies from book/ besides the executed chapters: every page written in
#: markdown (intro, claims, references, ...), the bibliography and the table of contents.
BOOK_SOURCES = ("*.md", "*.bib", "_toc.yml")


#: Parameters the test book passes to some chapters besides ``profile="smoke"``, to keep CI (2 cores)
#: under 20 minutes. The architecture chapter runs on the shuffled hierarchy only (where the smoke
#: world's subclasses are worth learning; its claim reads every hierarchy scored); the loss chapter trains softmax, squared error and sigmoid
#: (claim 5 is then inconclusive: two of its challengers are missing, and it says so); the consistency
#: chapter compares the seeds of the ResNet only (the method chapter has trained them; the five further
#: VGG seeds cost three minutes), so its claim 7 reads one architecture.
#: ``make book PROFILE=smoke`` runs every chapter as written.
CI_PARAMETERS = {"08_architecture": {"hierarchies": ["shuffled"]},
                 "07_losses": {"losses": ["softmax", "squared_error", "sigmoid"]},
                 "09_consistency": {"architectures": ["resnet"]}}


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> Path:
    """The book's sources with every chapter of nbs/ executed by papermill with profile smoke."""
    import papermill as pm

    from paperlib.book import fold_parameters

    book = tmp_path_factory.mktemp("book")
    for pattern in BOOK_SOURCES:
        for f in sorted((REPO / "book").glob(pattern)):
            shutil.copy(f, book / f.name)
    shutil.copy(REPO / "_config.yml", book / "_config.yml")
    for nb in sorted((REPO / "nbs").glob("*.ipynb")):
        params = {"profile": "smoke", **CI_PARAMETERS.get(nb.stem, {})}
        pm.execute_notebook(str(nb), str(book / nb.name), parameters=params, kernel_name="python3",
                            progress_bar=False, cwd=str(book))
        assert fold_parameters(book / nb.name) == 2  # the notebook's parameters and papermill's injected ones
    return book


@dataclass(frozen=True)
class BuiltBook:
    """One ``jupyter-book build`` of :func:`smoke_book`: where it is and how it went."""

    root: Path  # the book's sources
    html: Path  # root / "_build" / "html"
    returncode: int
    log: str  # stdout and stderr of the build


@pytest.fixture(scope="session")
def built_smoke_book(smoke_book) -> BuiltBook:
    """The smoke book built once per session as CI builds it: ``-n -W --keep-going`` (warnings are
    errors, every warning reported). The fixture does not judge the build: the tests do."""
    jb = Path(sys.executable).with_name("jupyter-book")
    res = subprocess.run([str(jb), "build", str(smoke_book), "-n", "-W", "--keep-going"], check=False,
                         capture_output=True, text=True)
    return BuiltBook(smoke_book, smoke_book / "_build" / "html", res.returncode, res.stdout + res.stderr)
