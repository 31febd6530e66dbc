"""The CIFAR-100 reader (dataset ``"cifar100"``, profiles ``quick`` and ``cifar``): the python pickles."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ..hierarchy import Hierarchy
from .split import DataNotFound, Split

__all__ = ["CIFAR_FILES", "missing_files", "not_found", "cifar_hierarchy", "cifar_split"]

#: The files the reader needs under the data root.
CIFAR_FILES = ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta")


def split_files(split: str) -> tuple[str, ...]:
    """The files of :data:`CIFAR_FILES` that one split (``"train"`` or ``"val"``, CIFAR's test set) reads."""
    return ("cifar-100-python/" + {"train": "train", "val": "test"}[split], "cifar-100-python/meta")


def missing_files(root: Path) -> list[str]:
    """The files of :data:`CIFAR_FILES` that are not under ``root``."""
    return [f for f in CIFAR_FILES if not (root / f).is_file()]


def not_found(root: Path, missing: list[str]) -> DataNotFound:
    """The error for CIFAR-100 missing from ``root``: what to put where, how to download, the offline way."""
    return DataNotFound(
        f"CIFAR-100 is not in the data root {root} (missing: {', '.join(missing)}).\n"
        f"Put the python version of CIFAR-100 there, i.e. {root}/cifar-100-python/{{train,test,meta}} "
        "(the archive cifar-100-python.tar.gz from the CIFAR page, about 160 MB, unpacked), or let "
        "torchvision download it with `python -m paperlib data --profile quick --download` "
        "(what `make book` does). Choose another root with data_root=... or $PAPERLIB_DATA.\n"
        "Offline, build the book on synthetic data instead: `make book PROFILE=smoke`."
    )


def _read_pickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="latin1")


def _require(root: Path) -> None:
    missing = missing_files(root)
    if missing:
        raise not_found(root, missing)


def cifar_hierarchy(root: Path) -> Hierarchy:
    """CIFAR-100's own 20 x 5 hierarchy, read from the files under ``root`` (:class:`DataNotFound` if absent)."""
    _require(root)
    meta = _read_pickle(root / "cifar-100-python/meta")
    train = _read_pickle(root / "cifar-100-python/train")
    fine = np.asarray(train["fine_labels"])
    coarse = np.asarray(train["coarse_labels"])
    groups = []
    for c in range(len(meta["coarse_label_names"])):
        groups.append(tuple(sorted(set(fine[coarse == c].tolist()))))
    h = Hierarchy("cifar100", tuple(meta["coarse_label_names"]), tuple(groups), tuple(meta["fine_label_names"]))
    if h.n_subclasses != len(set(fine.tolist())):
        raise ValueError(f"{root}/cifar-100-python/train: a fine label appears under two coarse labels")
    return h


def cifar_split(root: Path, split: str) -> Split:
    """The ``"train"`` or ``"val"`` (CIFAR's test set) split, images ``(n, 3, 32, 32)`` uint8 in memory."""
    _require(root)
    d = _read_pickle(root / "cifar-100-python" / {"train": "train", "val": "test"}[split])
    data = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return Split("cifar100", split, np.asarray(d["fine_labels"], dtype=np.int64), images=torch.from_numpy(data.copy()))
