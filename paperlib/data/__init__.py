"""Datasets: synthetic hierarchical images (``smoke``), CIFAR-100 (``quick``), BREEDS (``paper``).

Every dataset gives a :class:`Split` of images with their *subclass* (fine) labels and a base
:class:`~paperlib.hierarchy.Hierarchy`; the superclass labels the models train on come from the
hierarchy (standard or shuffled, :func:`hierarchy_for`). Loaders never download unless asked
(``download=True``, which only :func:`ensure_data` and the command line pass); a missing dataset
raises :class:`DataNotFound` naming the files, the folder looked in and the offline alternative.

This package's public names are all importable from it; each lives in one module:
:mod:`~paperlib.data.split` (:class:`Split`, :class:`DataNotFound`), the readers
:mod:`~paperlib.data.synthetic`, :mod:`~paperlib.data.cifar`, :mod:`~paperlib.data.imagenet` and
:mod:`~paperlib.data.folder` (a researcher's own image folder), :mod:`~paperlib.data.preprocess`
(:class:`Preprocess`, :func:`normalize`), :mod:`~paperlib.data.augment` and
:mod:`~paperlib.data.loading` (:func:`iterate_batches`, :func:`decode_once`). A dataset name is resolved once into a
:class:`Dataset` (:mod:`~paperlib.data.dataset`, :func:`resolve`), the one object that knows the
dataset's kind and dispatches to its reader; the functions of this module take a name or that object.
"""

from __future__ import annotations

from pathlib import Path

from ..hierarchy import Hierarchy
from ..names import DATASETS, IMAGENET_DATASETS
from .augment import (
    BYOL_VIEWS,
    COLOUR_DISTORTION,
    augment_batch,
    centre_crop_whole,
    colour_distort,
    gaussian_kernels,
    model_input,
    to_device,
)
from .dataset import Dataset, data_identity, resolve, statistics_known
from .folder import (
    FOLDER_DATASET,
    IMAGE_EXTENSIONS,
    LAYOUT,
    VAL_EVERY,
    BadImageError,
    FolderLayoutError,
    drop_bad_images,
    find_bad_images,
    folder_dataset_hierarchy,
    folder_dataset_split,
    folder_root,
    folder_split,
)
from .kinds import KINDS
from .loading import WHOLE_MAX_ASPECT, ImageFiles, decode_once, iterate_batches
from .ood import check_ood, ensure_ood, ood_split
from .preprocess import INTERPOLATIONS, NORMALIZE, Preprocess, normalize, statistics_of
from .split import DataNotFound, Split
from .synthetic import (
    SYN_FAMILIES,
    SYN_MEMBERS,
    SYN_SEEDS,
    SYN_SIZES,
    SYN_SUBCLASSES,
    SYN_VARIANTS,
    SYN_VERSION,
    SYN_WORLD,
    render_shapes,
    synthetic_images,
)

__all__ = [
    "DATASETS",
    "IMAGENET_DATASETS",
    "DataNotFound",
    "Split",
    "Dataset",
    "KINDS",
    "resolve",
    "data_identity",
    "statistics_known",
    "statistics_of",
    "load_split",
    "base_hierarchy",
    "hierarchy_for",
    "check_data",
    "ensure_data",
    "synthetic_images",
    "Preprocess",
    "normalize",
    "NORMALIZE",
    "INTERPOLATIONS",
    "augment_batch",
    "centre_crop_whole",
    "colour_distort",
    "gaussian_kernels",
    "COLOUR_DISTORTION",
    "BYOL_VIEWS",
    "to_device",
    "model_input",
    "ImageFiles",
    "iterate_batches",
    "decode_once",
    "WHOLE_MAX_ASPECT",
    "folder_split",
    "folder_root",
    "folder_dataset_split",
    "folder_dataset_hierarchy",
    "VAL_EVERY",
    "ood_split",
    "check_ood",
    "ensure_ood",
    "find_bad_images",
    "drop_bad_images",
    "FolderLayoutError",
    "BadImageError",
    "FOLDER_DATASET",
    "IMAGE_EXTENSIONS",
    "LAYOUT",
    "SYN_FAMILIES",
    "SYN_MEMBERS",
    "SYN_SUBCLASSES",
    "SYN_VARIANTS",
    "SYN_WORLD",
    "SYN_SIZES",
    "SYN_SEEDS",
    "SYN_VERSION",
    "render_shapes",
]


def base_hierarchy(dataset: str | Dataset, data_root: str | Path | None = None) -> Hierarchy:
    """The dataset's own superclass -> subclass hierarchy (:meth:`Dataset.base_hierarchy`).

    Parameters
    ----------
    dataset : str or Dataset
        One of :data:`DATASETS`, ``"folder:ROOT"`` (:func:`folder_dataset_hierarchy`), or a resolved
        :class:`Dataset` (:func:`resolve`).
    data_root : path-like, optional
        Needed for CIFAR-100 (its hierarchy is read from the files).
    """
    return resolve(dataset, data_root).base_hierarchy()


def hierarchy_for(
    dataset: str | Dataset, variant: str = "standard", shuffle_seed: int = 0, data_root=None
) -> Hierarchy:
    """The hierarchy a model trains on: the dataset's own, its seeded shuffle (Sec. 5.1), or the subclasses
    themselves (``"subclass"``, Sec. 5.2); :meth:`Dataset.hierarchy`."""
    return resolve(dataset, data_root).hierarchy(variant, shuffle_seed)


def load_split(
    dataset: str | Dataset, split: str, data_root: str | Path | None = None, *, per_subclass: int | None = None
) -> Split:
    """Load one split; never downloads (:meth:`Dataset.split`).

    Parameters
    ----------
    dataset : str or Dataset
        One of :data:`DATASETS`, ``"folder:ROOT"`` (:func:`folder_dataset_split` says how it is split),
        or a resolved :class:`Dataset` (:func:`resolve`).
    split : {"train", "val"}
        ``"val"`` is CIFAR-100's test set and ImageNet's validation set.
    data_root : path-like, optional
        See :func:`paperlib.config.data_root`.
    per_subclass : int, optional
        Keep only the first ``per_subclass`` images of every subclass.

    Raises
    ------
    DataNotFound
        If the dataset's files are not under the data root.
    """
    return resolve(dataset, data_root).split(split, per_subclass=per_subclass)


def check_data(dataset: str | Dataset, data_root: str | Path | None = None) -> None:
    """Raise :class:`DataNotFound` now (before any compute) if the dataset is not available
    (:meth:`Dataset.check`)."""
    resolve(dataset, data_root).check()


def ensure_data(dataset: str | Dataset, data_root: str | Path | None = None, download: bool = False) -> Path:
    """Make sure a dataset is under the data root, downloading CIFAR-100 only if ``download``
    (:meth:`Dataset.ensure`).

    ImageNet cannot be downloaded; synthetic data needs nothing. Returns the data root (a folder
    dataset's own folder).
    """
    return resolve(dataset, data_root).ensure(download)
