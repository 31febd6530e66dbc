"""The BREEDS reader (datasets living-17, nonliving-26, entity-13; profile ``paper``): image files of a local ImageNet root."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import breeds
from ..hierarchy import Hierarchy
from .split import Split

__all__ = ["breeds_hierarchy", "breeds_split", "check_imagenet"]


def breeds_hierarchy(dataset: str) -> Hierarchy:
    """The shipped BREEDS hierarchy of ``dataset`` (no ImageNet files needed)."""
    return breeds.load_breeds(dataset)


def breeds_split(dataset: str, root: Path, split: str) -> Split:
    """The image files of a BREEDS dataset's classes in the ImageNet root ``root`` (``paths``; nothing decoded)."""
    h = breeds.load_breeds(dataset)
    paths, subclass = breeds.imagenet_samples(root, split, h)
    return Split(dataset, split, np.asarray(subclass, dtype=np.int64), paths=list(paths))


def check_imagenet(dataset: str, root: Path) -> None:
    """Raise ``FileNotFoundError`` naming what is missing if either split of ``dataset`` is not under ``root``."""
    breeds.imagenet_samples(root, "train", breeds.load_breeds(dataset))
    breeds.imagenet_samples(root, "val", breeds.load_breeds(dataset))
