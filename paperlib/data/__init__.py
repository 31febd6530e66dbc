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
:mod:`~paperlib.data.loading` (:func:`iterate_batches`, :func:`decode_once`). This module
dispatches a dataset name to its reader.
"""

from __future__ import annotations

from pathlib import Path

from .. import config, names
from ..hierarchy import Hierarchy
from ..names import DATASETS, IMAGENET_DATASETS
from . import cifar, imagenet, synthetic
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
from .loading import WHOLE_MAX_ASPECT, ImageFiles, decode_once, iterate_batches
from .ood import check_ood, ensure_ood, ood_split
from .preprocess import INTERPOLATIONS, NORMALIZE, Preprocess, normalize
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


def base_hierarchy(dataset: str, data_root: str | Path | None = None) -> Hierarchy:
    """The dataset's own superclass -> subclass hierarchy.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`, or ``"folder:ROOT"`` (:func:`folder_dataset_hierarchy`).
    data_root : path-like, optional
        Needed for CIFAR-100 (its hierarchy is read from the files).
    """
    names.check("dataset", dataset)
    if names.is_folder(dataset):
        return folder_dataset_hierarchy(dataset)
    if dataset == "synthetic":
        return synthetic.synthetic_hierarchy()
    if dataset == "cifar100":
        return cifar.cifar_hierarchy(config.data_root(data_root))
    return imagenet.breeds_hierarchy(dataset)


def hierarchy_for(dataset: str, variant: str = "standard", shuffle_seed: int = 0, data_root=None) -> Hierarchy:
    """The hierarchy a model trains on: the dataset's own, its seeded shuffle (Sec. 5.1), or the subclasses
    themselves (``"subclass"``, Sec. 5.2)."""
    names.check("training labels", variant)
    h = base_hierarchy(dataset, data_root)
    if variant == "subclass":  # every subclass its own class (Sec. 5.2)
        return h.fine()
    return h if variant == "standard" else h.shuffled(shuffle_seed)


def load_split(
    dataset: str, split: str, data_root: str | Path | None = None, *, per_subclass: int | None = None
) -> Split:
    """Load one split; never downloads.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`, or ``"folder:ROOT"`` (:func:`folder_dataset_split` says how it is split).
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
    names.check("dataset", dataset)
    names.check("split", split)
    if names.is_folder(dataset):
        s = folder_dataset_split(dataset, split)
    elif dataset == "synthetic":
        s = synthetic.synthetic_split(split)
    elif dataset == "cifar100":
        s = cifar.cifar_split(config.data_root(data_root), split)
    else:
        s = imagenet.breeds_split(dataset, config.data_root(data_root), split)
    return s.per_subclass(per_subclass)


def check_data(dataset: str, data_root: str | Path | None = None) -> None:
    """Raise :class:`DataNotFound` now (before any compute) if the dataset is not available."""
    names.check("dataset", dataset)
    if names.is_folder(dataset):  # reads the layout (no decoding): a wrong folder stops here
        folder_dataset_split(dataset, "train"), folder_dataset_split(dataset, "val")
        return
    root = config.data_root(data_root)
    if dataset == "cifar100":
        missing = cifar.missing_files(root)
        if missing:
            raise cifar.not_found(root, missing)
    elif dataset in IMAGENET_DATASETS:
        imagenet.check_imagenet(dataset, root)


def ensure_data(dataset: str, data_root: str | Path | None = None, download: bool = False) -> Path:
    """Make sure a dataset is under the data root, downloading CIFAR-100 only if ``download``.

    ImageNet cannot be downloaded; synthetic data needs nothing. Returns the data root.
    """
    root = config.data_root(data_root)
    names.check("dataset", dataset)
    if names.is_folder(dataset):  # the user's own folder: nothing to fetch
        check_data(dataset)
        return folder_root(dataset)
    if dataset == "cifar100" and cifar.missing_files(root) and download:
        import torchvision

        root.mkdir(parents=True, exist_ok=True)
        try:
            torchvision.datasets.CIFAR100(str(root), train=True, download=True)
        except Exception as exc:  # noqa: BLE001 - any network failure ends in the same advice
            raise DataNotFound(
                f"downloading CIFAR-100 failed ({exc}).\n" + str(cifar.not_found(root, cifar.missing_files(root)))
            ) from exc
    check_data(dataset, root)
    return root
