"""The valid names of everything one chooses by name, in one table, and the one check of them.

Profiles, datasets, splits, hierarchies, architectures and their families, losses, poolings,
augmentations, optimizers, interpolations and cache kinds are listed here once (:data:`VALID`);
:func:`check` is the value check every module uses, and the command line takes its ``choices``
from the same tuples. This module imports nothing but the standard library, so the command line can check its arguments
before torch loads.
"""

from __future__ import annotations

import os.path

__all__ = [
    "PROFILES",
    "IMAGENET_DATASETS",
    "DATASETS",
    "SPLITS",
    "HIERARCHIES",
    "LABELS",
    "SMALL_ARCHITECTURES",
    "PAPER_ARCHITECTURES",
    "ARCHITECTURES",
    "FAMILIES",
    "LOSSES",
    "POOLS",
    "AUGMENTATIONS",
    "BYOL_VIEWS",
    "OPTIMIZERS",
    "SELF_SUPERVISED",
    "OBJECTIVES",
    "INTERPOLATIONS",
    "DECODE_LAYOUTS",
    "PLACEMENTS",
    "FOLDER_PREFIX",
    "is_folder",
    "canonical_dataset",
    "OOD_SETS",
    "SYNTHETIC_OOD_SETS",
    "LAUNCHERS",
    "ARTIFACT_KINDS",
    "VALID",
    "check",
]

#: Scales of every notebook and command (:mod:`paperlib.config`).
PROFILES = ("smoke", "quick", "cifar", "paper")
#: The BREEDS datasets, read from an ImageNet root (:mod:`paperlib.breeds`).
IMAGENET_DATASETS = ("living17", "nonliving26", "entity13")
#: Every named dataset :func:`paperlib.data.load_split` reads (and any ``"folder:ROOT"``, see :data:`FOLDER_PREFIX`).
DATASETS = ("synthetic", "cifar100") + IMAGENET_DATASETS
#: Out-of-distribution sets (:mod:`paperlib.data.ood`): the two held-out synthetic worlds (``smoke``:
#: novel shapes, and training shapes drawn anew), CIFAR-10 and SVHN test sets (``quick``), the paper's four (``paper``).
SYNTHETIC_OOD_SETS = ("synthetic_novel", "synthetic_overlap")
OOD_SETS = SYNTHETIC_OOD_SETS + ("cifar10", "svhn", "tf_flowers", "uc_merced", "pets", "cars")
#: Whether an out-of-distribution set's classes overlap the training subclasses (claim 3, Sec. 5.2: Oxford-IIIT
#: Pets shares breeds with entity-13's and living-17's subclasses; ``synthetic_overlap`` draws the training
#: shapes anew, its analogue at ``smoke``). A set not listed counts as not overlapping; extend it with a new set.
OVERLAPS_TRAINING = {name: name in ("pets", "synthetic_overlap") for name in OOD_SETS}
#: A researcher's own two-level image folder as a dataset: ``"folder:ROOT"`` reads
#: ``ROOT/<superclass>/<subclass>/*.jpg|png`` (:mod:`paperlib.data.folder`).
FOLDER_PREFIX = "folder:"
#: Dataset splits (``"val"`` is CIFAR-100's test set and ImageNet's validation set).
SPLITS = ("train", "val")
#: Superclass labels a model trains on: the dataset's own, or their seeded shuffle (Sec. 5.1).
HIERARCHIES = ("standard", "shuffled")
#: Labels a model may train on: a hierarchy's superclasses, or the subclasses themselves (Sec. 5.2,
#: Fig. 3; such a model is read out of distribution only: within a "superclass" of one subclass there
#: is nothing to cluster).
LABELS = HIERARCHIES + ("subclass",)
#: Architectures for 32x32 images (profiles ``smoke``, ``quick``, ``cifar``); they take a width.
SMALL_ARCHITECTURES = ("resnet_mini", "vgg_mini", "vgg_mini_bn", "vgg_mini_ln", "vit_mini")
#: The paper's architectures for 224x224 images.
PAPER_ARCHITECTURES = ("resnet50", "vgg16", "vgg16_bn", "vgg16_ln", "vit_b_32")
#: Every architecture :func:`paperlib.models.build_model` builds.
ARCHITECTURES = SMALL_ARCHITECTURES + PAPER_ARCHITECTURES
#: Architecture families (a profile maps each to one architecture).
FAMILIES = ("resnet", "vgg", "vgg_bn", "vgg_ln", "vit")
#: Training losses (:mod:`paperlib.losses`): the nine of Kornblith et al. (2021), Sec. 6.3.
LOSSES = (
    "softmax",
    "label_smoothing",
    "dropout",
    "extra_l2",
    "logit_norm",
    "logit_penalty",
    "cosine_softmax",
    "squared_error",
    "sigmoid",
)
#: Self-supervised objectives (:mod:`paperlib.byol`): trained without labels, read out of distribution
#: beside the supervised models (Fig. 3, Sec. 6.1). Not losses: chapters that iterate over :data:`LOSSES`
#: never meet them.
SELF_SUPERVISED = ("byol",)
#: Everything :attr:`paperlib.config.TrainConfig.loss` may name: a supervised loss or a self-supervised objective.
OBJECTIVES = LOSSES + SELF_SUPERVISED
#: How a feature map or token sequence becomes an embedding (:func:`paperlib.extract.pool_activation`).
POOLS = ("flatten", "avg")
#: Training augmentations (:func:`paperlib.data.augment_batch`).
AUGMENTATIONS = ("crop_flip", "rrc_flip", "none")
#: BYOL's two views after the crop and flip (:data:`paperlib.data.BYOL_VIEWS`): ``"colour"`` colour jitter
#: and greyscale only (the small profiles); ``"grill"`` Grill et al.'s, with blur and solarisation.
BYOL_VIEWS = ("colour", "grill")
#: Optimizers of :func:`paperlib.train.train_model`.
OPTIMIZERS = ("sgd", "adamw")
#: Resize interpolations of :class:`paperlib.data.Preprocess` (torchvision's ``InterpolationMode`` values).
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
#: Layouts of images decoded once (:func:`paperlib.data.decode_once`).
DECODE_LAYOUTS = ("whole", "centre")
#: Where :func:`paperlib.extract.extract` keeps the embeddings it returns.
PLACEMENTS = ("host", "device", "auto")
#: How ``paperlib train`` runs the jobs of a grid (:mod:`paperlib.launch`): submitit's local executor
#: (parallel processes on this machine) or a SLURM job array.
LAUNCHERS = ("local", "slurm")
#: Kinds of cached artifacts (:mod:`paperlib.cache`).
ARTIFACT_KINDS = ("models", "scores", "decoded", "probes", "transfer")

#: What each kind of name may be, keyed by the word used in error messages.
VALID: dict[str, tuple[str, ...]] = {
    "profile": PROFILES,
    "dataset": DATASETS,
    "ImageNet dataset": IMAGENET_DATASETS,
    "split": SPLITS,
    "hierarchy": HIERARCHIES,
    "training labels": LABELS,
    "architecture": ARCHITECTURES,
    "architecture family": FAMILIES,
    "loss": LOSSES,
    "objective": OBJECTIVES,
    "pool": POOLS,
    "augmentation": AUGMENTATIONS,
    "BYOL views": BYOL_VIEWS,
    "optimizer": OPTIMIZERS,
    "interpolation": INTERPOLATIONS,
    "layout": DECODE_LAYOUTS,
    "embedding placement": PLACEMENTS,
    "OOD set": OOD_SETS,
    "artifact kind": ARTIFACT_KINDS,
    "launcher": LAUNCHERS,
}


def check(kind: str, value):
    """Return ``value`` if it is a valid name of ``kind``, else raise ``ValueError`` listing the valid ones.

    Parameters
    ----------
    kind : str
        A key of :data:`VALID` (``"dataset"``, ``"pool"``, ...).
    value : object
        The name to check.

    Examples
    --------
    >>> check("pool", "avg")
    'avg'
    >>> check("hierarchy", "random")
    Traceback (most recent call last):
    ...
    ValueError: unknown hierarchy 'random'; valid: ['standard', 'shuffled']
    """
    valid = VALID[kind]
    if kind == "dataset" and is_folder(value):
        return value
    if not isinstance(value, str) or value not in valid:
        extra = f" or {FOLDER_PREFIX}ROOT (your own ROOT/<superclass>/<subclass>/*.jpg)" if kind == "dataset" else ""
        raise ValueError(f"unknown {kind} {value!r}; valid: {list(valid)}{extra}")
    return value


def is_folder(dataset) -> bool:
    """Whether ``dataset`` names an image folder, ``"folder:ROOT"`` with a non-empty ``ROOT``.

    Examples
    --------
    >>> is_folder("folder:/data/birds"), is_folder("folder:"), is_folder("cifar100")
    (True, False, False)
    """
    return isinstance(dataset, str) and dataset.startswith(FOLDER_PREFIX) and len(dataset.strip()) > len(FOLDER_PREFIX)


def canonical_dataset(dataset):
    """``dataset`` with a folder's ``ROOT`` made absolute and resolved (``"folder:~/x"`` ->
    ``"folder:/home/me/x"``), so one folder has one name and one cache key; other values unchanged."""
    if not is_folder(dataset):
        return dataset
    return FOLDER_PREFIX + os.path.realpath(os.path.expanduser(dataset[len(FOLDER_PREFIX) :].strip()))
