"""The kinds of datasets and how a dataset string names one: the parse that :func:`paperlib.data.resolve`
and the normalisation statistics share (nothing here reads a file)."""

from __future__ import annotations

import functools

from .. import names

__all__ = ["KINDS", "STATISTICS", "parse"]

#: The kinds of datasets, each read by one module of :mod:`paperlib.data`.
KINDS = ("synthetic", "cifar100", "breeds", "folder")

#: The key of :data:`paperlib.data.NORMALIZE` each kind's images are normalised with.
STATISTICS = {"synthetic": "synthetic", "cifar100": "cifar100", "breeds": "imagenet", "folder": "imagenet"}


@functools.lru_cache(maxsize=256)
def parse(dataset: str) -> tuple[str, str]:
    """``(canonical name, kind)`` of a dataset string; the one place its name is checked (once per process).

    Examples
    --------
    >>> parse("living17")
    ('living17', 'breeds')
    >>> parse("folder:/data/birds/")
    ('folder:/data/birds', 'folder')
    """
    names.check("dataset", dataset)
    if names.is_folder(dataset):
        return names.canonical_dataset(dataset), "folder"
    if dataset in names.IMAGENET_DATASETS:
        return dataset, "breeds"
    return dataset, dataset
