"""Shared fixtures: every test session gets its own artifact cache and an empty data root."""

from __future__ import annotations

import os
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
    from paperlib import data

    return data.write_cifar100_fixture(tmp_path_factory.mktemp("cifar"), {"train": 6, "test": 4})
