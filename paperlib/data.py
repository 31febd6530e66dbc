"""Datasets: synthetic hierarchical images (``smoke``), CIFAR-100 (``quick``), BREEDS (``paper``).

Every dataset gives a :class:`Split` of images with their *subclass* (fine) labels and a base
:class:`~paperlib.hierarchy.Hierarchy`; the superclass labels the models train on come from the
hierarchy (standard or shuffled, :func:`hierarchy_for`). Loaders never download unless asked
(``download=True``, which only :func:`ensure_data` and the command line pass); a missing dataset
raises :class:`DataNotFound` naming the files, the folder looked in and the offline alternative.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import config as _config
from .hierarchy import Hierarchy

__all__ = [
    "DATASETS", "DataNotFound", "Split", "load_split", "base_hierarchy", "hierarchy_for",
    "synthetic_images", "ensure_data", "write_cifar100_fixture", "Preprocess", "normalize",
]

IMAGENET_DATASETS = _config.IMAGENET_DATASETS  # the names live in config, the root of the pipeline
DATASETS = _config.DATASETS
CIFAR_FILES = ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta")


class DataNotFound(FileNotFoundError):
    """A dataset is not where the data root says; the message says what to put where."""


@dataclass
class Split:
    """One split of a dataset.

    Attributes
    ----------
    subclass : numpy.ndarray of int64, shape ``(n_images,)``
        Fine labels (the hidden subclasses).
    images : torch.Tensor of uint8, shape ``(n_images, 3, H, W)``, or None
        In-memory images (synthetic, CIFAR-100).
    paths : list of str, or None
        Image files (ImageNet/BREEDS), decoded on the fly.
    decoded : bool
        ``images`` were decoded once from files (:func:`decode_once`) at a side larger than the
        model's input.
    extent : torch.Tensor of int32, shape ``(n_images, 3)``, or None
        Set for images decoded whole (:func:`decode_once`, ``layout="whole"``): per image its
        ``(height, width, transposed)`` in its own orientation; the image fills rows ``0..height``
        and columns ``0..width`` of its canvas, or the transposed rectangle if ``transposed`` is 1.
        None: every image fills its whole array.
    """

    dataset: str
    split: str
    subclass: np.ndarray
    images: torch.Tensor | None = None
    paths: list[str] | None = None
    decoded: bool = False  # images were decoded once from files at a side larger than the model's input
    extent: torch.Tensor | None = None  # (n, 3) int32: height, width, transposed of each whole-decoded image

    def __len__(self) -> int:
        return len(self.subclass)

    def subset(self, index: np.ndarray) -> "Split":
        """The images at ``index`` (1-D integer array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        return Split(
            dataset=self.dataset,
            split=self.split,
            subclass=self.subclass[index],
            images=None if self.images is None else self.images[torch.from_numpy(index)],
            paths=None if self.paths is None else [self.paths[i] for i in index],
            decoded=self.decoded,
            extent=None if self.extent is None else self.extent[torch.from_numpy(index)],
        )

    def per_subclass(self, n: int | None) -> "Split":
        """Keep the first ``n`` images of every subclass (all if ``n`` is None)."""
        if n is None:
            return self
        keep = np.concatenate([np.flatnonzero(self.subclass == c)[:n] for c in np.unique(self.subclass)])
        return self.subset(np.sort(keep))


def _check_name(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {list(DATASETS)}")


# --------------------------------------------------------------------------- synthetic (smoke)
# A miniature of BREEDS' situation (SPEC.md, "Synthetic"). The superclass owns a strong, shared trait:
# its shape and its colour family. The subclass trait is weak and not needed by the superclass label:
# the spatial frequency of a sinusoidal texture on the object, drawn with a random
# orientation and phase, so a flip, a shift or a crop never turns one subclass into another. Ward on
# raw pixels within a standard superclass therefore barely finds the subclasses, while a shuffled
# superclass (subclasses of different shapes and colours) is easy to split: a network trained on
# the shuffled hierarchy has to learn the texture, one trained on the standard hierarchy need not.
SYN_SHAPES = ("disc", "square", "triangle", "cross")
SYN_VARIANTS = 4  # subclasses per superclass, as entity-13 in the paper
SYN_FREQUENCIES = (3.0, 6.0, 9.0, 13.0)  # texture cycles per image side, one per subclass of a superclass
SYN_TEXTURE_CONTRAST = 0.5  # relative amplitude of the texture on the object's colour
SYN_HUE_JITTER = 0.03  # per-image hue spread within a superclass's colour family (fraction of the wheel)
SYN_SIZES = {"train": 160, "val": 40}  # images per subclass
SYN_SEEDS = {"train": 1, "val": 2}
#: Bumped whenever the generator's output changes; part of the data identity of cached results.
SYN_VERSION = 2


def _synthetic_hierarchy() -> Hierarchy:
    names = []
    for shape in SYN_SHAPES:
        names += [f"{shape}-f{f:g}" for f in SYN_FREQUENCIES[:SYN_VARIANTS]]
    groups = tuple(tuple(range(s * SYN_VARIANTS, (s + 1) * SYN_VARIANTS)) for s in range(len(SYN_SHAPES)))
    return Hierarchy("synthetic", SYN_SHAPES, groups, tuple(names))


def synthetic_images(subclass: np.ndarray, seed: int, size: int = 32) -> torch.Tensor:
    """Draw hierarchical images: the superclass is a shape in a colour family, the subclass a texture.

    Subclass ``c`` belongs to superclass ``c // SYN_VARIANTS``, which fixes the shape (disc,
    square, triangle, cross) and the colour family (a hue, jittered per image by
    ``SYN_HUE_JITTER``). Within a superclass the subclasses differ only in the spatial frequency of
    a sinusoidal texture on the object (``SYN_FREQUENCIES``, relative amplitude
    ``SYN_TEXTURE_CONTRAST``), drawn with a random orientation and phase per image: the trait is
    invariant to flips and shifts, so the training augmentation keeps it, and it carries no colour.
    It is weak where it matters: with random phases and orientations, images of one subclass are
    no closer in pixel space than images of two, so Ward on raw pixels cannot find it (AMI near 0),
    while a network can learn to detect it.
    Position, size and brightness of the object and the background level and noise vary per image.

    Parameters
    ----------
    subclass : numpy.ndarray of int, shape ``(n,)``
        Subclass id of every image, in ``0 .. len(SYN_SHAPES) * SYN_VARIANTS - 1``.
    seed : int
        Seed of the per-image draws; the same inputs always give the same images.
    size : int
        Image side in pixels.

    Returns
    -------
    torch.Tensor of uint8, shape ``(n, 3, size, size)``

    Examples
    --------
    >>> synthetic_images(np.array([0, 5]), seed=0).shape
    torch.Size([2, 3, 32, 32])
    """
    rng = np.random.default_rng(seed)
    subclass = np.asarray(subclass, dtype=np.int64)
    n = len(subclass)
    if n and (subclass.min() < 0 or subclass.max() >= len(SYN_SHAPES) * SYN_VARIANTS):
        raise ValueError(f"synthetic subclass ids must lie in 0..{len(SYN_SHAPES) * SYN_VARIANTS - 1}")
    shape, variant = subclass // SYN_VARIANTS, subclass % SYN_VARIANTS
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    cx = rng.uniform(-0.12, 0.12, n)[:, None, None]
    cy = rng.uniform(-0.12, 0.12, n)[:, None, None]
    r = rng.uniform(0.25, 0.33, n)[:, None, None]
    dx, dy = xx[None] - cx, yy[None] - cy
    masks = {
        0: dx**2 + dy**2 < r**2,
        1: np.maximum(np.abs(dx), np.abs(dy)) < r * 0.85,
        2: (dy < r * 0.8) & (np.abs(dx) < (dy + r) * 0.6),
        3: ((np.abs(dx) < r / 3) & (np.abs(dy) < r)) | ((np.abs(dy) < r / 3) & (np.abs(dx) < r)),
    }
    mask = np.zeros((n, size, size), dtype=bool)
    for s, m in masks.items():
        mask |= m & (shape == s)[:, None, None]
    # The superclass's colour family: its hue (evenly spread over the wheel), jittered per image.
    hue = shape / len(SYN_SHAPES) + rng.uniform(-SYN_HUE_JITTER, SYN_HUE_JITTER, n)
    rgb = 0.5 + 0.5 * np.cos(2 * np.pi * (hue[:, None] + np.array([0.0, 1 / 3, 2 / 3])[None]))
    rgb = rgb * rng.uniform(0.7, 1.0, (n, 1))
    # The subclass's texture: one frequency, random orientation and phase.
    freq = np.asarray(SYN_FREQUENCIES, dtype=np.float64)[variant][:, None, None]
    theta = rng.uniform(0, np.pi, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    texture = np.sin(2 * np.pi * freq * (xx[None] * np.cos(theta) + yy[None] * np.sin(theta)) + phase)
    fg = rgb[:, :, None, None] * (1.0 + SYN_TEXTURE_CONTRAST * texture[:, None])
    bg = rng.uniform(0.2, 0.5, (n, 1, 1, 1)) + rng.normal(0, 0.06, (n, 3, size, size))
    img = np.where(mask[:, None], fg, bg) + rng.normal(0, 0.04, (n, 3, size, size))
    return torch.from_numpy((np.clip(img, 0, 1) * 255).astype(np.uint8))


def _synthetic_split(split: str) -> Split:
    h = _synthetic_hierarchy()
    per = SYN_SIZES[split]
    subclass = np.repeat(np.arange(h.n_subclasses), per)
    images = synthetic_images(subclass, seed=SYN_SEEDS[split])
    return Split("synthetic", split, subclass.astype(np.int64), images=images)


# --------------------------------------------------------------------------- CIFAR-100 (quick)
def _missing_cifar(root: Path) -> list[str]:
    return [f for f in CIFAR_FILES if not (root / f).is_file()]


def _cifar_error(root: Path, missing: list[str]) -> DataNotFound:
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


def _cifar_hierarchy(root: Path) -> Hierarchy:
    missing = _missing_cifar(root)
    if missing:
        raise _cifar_error(root, missing)
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


def _cifar_split(root: Path, split: str) -> Split:
    missing = _missing_cifar(root)
    if missing:
        raise _cifar_error(root, missing)
    d = _read_pickle(root / "cifar-100-python" / {"train": "train", "val": "test"}[split])
    data = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return Split("cifar100", split, np.asarray(d["fine_labels"], dtype=np.int64), images=torch.from_numpy(data.copy()))


def write_cifar100_fixture(root: str | Path, per_class: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Write a small dataset in CIFAR-100's own on-disk format (for tests and dry runs).

    Writes ``root/cifar-100-python/{train,test,meta}`` pickles with ``data`` (``(n, 3072)`` uint8),
    ``fine_labels``, ``coarse_labels`` and ``filenames``, using CIFAR-100's real coarse/fine
    structure (20 x 5). Images are random but class-dependent so training has something to learn.

    Parameters
    ----------
    root : path-like
        Folder to write into.
    per_class : dict, optional
        Images per fine class for ``"train"`` and ``"test"`` (default 8 and 4).
    """
    per_class = per_class or {"train": 8, "test": 4}
    root = Path(root)
    out = root / "cifar-100-python"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    coarse_of_fine = np.arange(100) % 20  # a fixed 20 x 5 structure
    fine_names = [f"fine{i:02d}" for i in range(100)]
    coarse_names = [f"coarse{i:02d}" for i in range(20)]
    proto = rng.integers(0, 256, (100, 3072))
    for split, n in per_class.items():
        fine = np.repeat(np.arange(100), n)
        rng.shuffle(fine)
        data = np.clip(proto[fine] + rng.normal(0, 40, (len(fine), 3072)), 0, 255).astype(np.uint8)
        blob = {
            "data": data,
            "fine_labels": fine.tolist(),
            "coarse_labels": coarse_of_fine[fine].tolist(),
            "filenames": [f"img{i}.png" for i in range(len(fine))],
            "batch_label": f"{split} fixture",
        }
        with open(out / split, "wb") as fh:
            pickle.dump(blob, fh)
    with open(out / "meta", "wb") as fh:
        pickle.dump({"fine_label_names": fine_names, "coarse_label_names": coarse_names}, fh)
    return root


# --------------------------------------------------------------------------- BREEDS (paper)
def _breeds_hierarchy(dataset: str) -> Hierarchy:
    from . import breeds

    return breeds.load_breeds(dataset)


def _breeds_split(dataset: str, root: Path, split: str) -> Split:
    from . import breeds

    h = breeds.load_breeds(dataset)
    paths, subclass = breeds.imagenet_samples(root, split, h)
    return Split(dataset, split, np.asarray(subclass, dtype=np.int64), paths=list(paths))


# --------------------------------------------------------------------------- public API
def base_hierarchy(dataset: str, data_root: str | Path | None = None) -> Hierarchy:
    """The dataset's own superclass -> subclass hierarchy.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
    data_root : path-like, optional
        Needed for CIFAR-100 (its hierarchy is read from the files).
    """
    _check_name(dataset)
    if dataset == "synthetic":
        return _synthetic_hierarchy()
    if dataset == "cifar100":
        return _cifar_hierarchy(_config.data_root(data_root))
    return _breeds_hierarchy(dataset)


def hierarchy_for(dataset: str, variant: str = "standard", shuffle_seed: int = 0, data_root=None) -> Hierarchy:
    """The hierarchy a model trains on: the dataset's own, or its seeded shuffle (Sec. 5.1)."""
    h = base_hierarchy(dataset, data_root)
    if variant == "standard":
        return h
    if variant == "shuffled":
        return h.shuffled(shuffle_seed)
    raise ValueError(f"unknown hierarchy {variant!r}; valid: ['standard', 'shuffled']")


def load_split(
    dataset: str, split: str, data_root: str | Path | None = None, *, per_subclass: int | None = None
) -> Split:
    """Load one split; never downloads.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
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
    _check_name(dataset)
    if split not in ("train", "val"):
        raise ValueError(f"unknown split {split!r}; valid: ['train', 'val']")
    if dataset == "synthetic":
        s = _synthetic_split(split)
    elif dataset == "cifar100":
        s = _cifar_split(_config.data_root(data_root), split)
    else:
        s = _breeds_split(dataset, _config.data_root(data_root), split)
    return s.per_subclass(per_subclass)


def check_data(dataset: str, data_root: str | Path | None = None) -> None:
    """Raise :class:`DataNotFound` now (before any compute) if the dataset is not available."""
    _check_name(dataset)
    root = _config.data_root(data_root)
    if dataset == "cifar100":
        missing = _missing_cifar(root)
        if missing:
            raise _cifar_error(root, missing)
    elif dataset in IMAGENET_DATASETS:
        from . import breeds

        breeds.imagenet_samples(root, "train", breeds.load_breeds(dataset))
        breeds.imagenet_samples(root, "val", breeds.load_breeds(dataset))


def ensure_data(dataset: str, data_root: str | Path | None = None, download: bool = False) -> Path:
    """Make sure a dataset is under the data root, downloading CIFAR-100 only if ``download``.

    ImageNet cannot be downloaded; synthetic data needs nothing. Returns the data root.
    """
    root = _config.data_root(data_root)
    _check_name(dataset)
    if dataset == "cifar100" and _missing_cifar(root) and download:
        import torchvision

        root.mkdir(parents=True, exist_ok=True)
        try:
            torchvision.datasets.CIFAR100(str(root), train=True, download=True)
        except Exception as exc:  # noqa: BLE001 - any network failure ends in the same advice
            raise DataNotFound(f"downloading CIFAR-100 failed ({exc}).\n" + str(_cifar_error(root, _missing_cifar(root)))) from exc
    check_data(dataset, root)
    return root


# --------------------------------------------------------------------------- batches
# Per-channel mean and std (on the 0-1 scale) used to normalise each dataset's images.
NORMALIZE = {
    "synthetic": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    "cifar100": ((0.507, 0.487, 0.441), (0.267, 0.256, 0.276)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # A researcher's own two-level image folder (paperlib.report): ImageNet statistics.
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


#: Interpolation names :class:`Preprocess` accepts (torchvision's ``InterpolationMode`` values).
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")


@dataclass(frozen=True)
class Preprocess:
    """How images are prepared for a model at evaluation time.

    Image files: resize the shorter side to :attr:`resize` ``= round(size / crop_pct)`` with
    ``interpolation``, centre crop ``size x size``; then scale to 0-1 and standardise with ``mean``
    and ``std`` (:func:`normalize`). The defaults (bilinear, ``crop_pct`` 0.875, i.e. resize
    ``size * 256 / 224``) are the library's evaluation transform.

    Parameters
    ----------
    mean, std : tuple of 3 floats
        Per-channel statistics on the 0-1 scale.
    size : int
        Output side (the model's input size).
    interpolation : str
        One of :data:`INTERPOLATIONS` (timm's ``"bicubic"``, ``"bilinear"`` ...).
    crop_pct : float
        Fraction of the resized shorter side kept by the centre crop, in ``(0, 1]``.
    source : str
        Where the description comes from (e.g. ``"timm data config"``, ``"checkpoint dataset synthetic"``);
        informational, not used by the transforms.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    size: int
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    source: str = ""

    def __post_init__(self):
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "crop_pct", float(self.crop_pct))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"mean and std need 3 values (RGB), got {self.mean} and {self.std}")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; valid: {list(INTERPOLATIONS)}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")

    @property
    def resize(self) -> int:
        """Shorter side before the centre crop: ``round(size / crop_pct)``."""
        return round(self.size / self.crop_pct)

    @classmethod
    def for_dataset(cls, dataset: str, size: int, **kwargs) -> "Preprocess":
        """The statistics of a dataset of :data:`NORMALIZE` (ImageNet for the BREEDS datasets)."""
        mean, std = NORMALIZE["imagenet" if dataset in IMAGENET_DATASETS else dataset]
        kwargs.setdefault("source", f"dataset {dataset}")
        return cls(mean, std, size, **kwargs)

    def to_dict(self) -> dict:
        """JSON-ready description, with the derived ``resize``."""
        return {"mean": list(self.mean), "std": list(self.std), "size": self.size,
                "interpolation": self.interpolation, "crop_pct": self.crop_pct, "resize": self.resize,
                "source": self.source}

    def describe(self) -> str:
        """One line: statistics, resize, crop and source."""
        fmt = lambda v: "(" + ", ".join(f"{x:.4g}" for x in v) + ")"  # noqa: E731
        src = f" [{self.source}]" if self.source else ""
        return (f"mean {fmt(self.mean)}, std {fmt(self.std)}; {self.interpolation} resize to {self.resize}, "
                f"centre crop {self.size} (crop_pct {self.crop_pct:g}){src}")


def normalize(x: torch.Tensor, dataset: "str | Preprocess") -> torch.Tensor:
    """uint8 images ``(batch, 3, H, W)`` -> float32, scaled to 0-1 and standardised per channel.

    ``dataset``: a dataset name of :data:`NORMALIZE` (ImageNet statistics for the BREEDS
    datasets) or a :class:`Preprocess`, whose ``mean`` and ``std`` are used.
    """
    if isinstance(dataset, Preprocess):
        mean, std = dataset.mean, dataset.std
    else:
        mean, std = NORMALIZE["imagenet" if dataset in IMAGENET_DATASETS else dataset]
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255.0 - m) / s


def augment_batch(
    x: torch.Tensor, mode: str, generator: torch.Generator, out_size: int | None = None,
    extent: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random training augmentation of a uint8 batch, vectorised, seeded by ``generator``.

    Works on whatever device ``x`` is on (random numbers are drawn on the CPU from ``generator``),
    so on a GPU the whole batch is augmented by a few kernels.

    Parameters
    ----------
    x : torch.Tensor of uint8, shape ``(batch, 3, H, W)``
    mode : {"crop_flip", "rrc_flip", "none"}
        ``"crop_flip"``: reflect-pad by 4 and crop back to ``H x W``, then flip (CIFAR practice);
        ``"rrc_flip"``: random resized crop of area 5-100 % (aspect 3/4-4/3, torchvision's sampling
        rule) resampled bilinearly to ``out_size``, then flip (the authors' code); ``"none"``: unchanged
        (with ``extent``: the evaluation centre crop, :func:`centre_crop_whole`).
    generator : torch.Generator
        CPU generator, the source of all randomness: a given seed always gives the same batch.
    out_size : int, optional
        Output side for ``"rrc_flip"`` (default ``H``).
    extent : torch.Tensor of int, shape ``(batch, 3)``, optional
        Images decoded whole (:attr:`Split.extent`): each image's own ``(height, width,
        transposed)`` inside its canvas. The crop box is then drawn per image from that image's
        whole area, by torchvision's ``RandomResizedCrop`` rule on an image of that size, and
        read through the transposition. Only ``"rrc_flip"`` and ``"none"`` take it.

    Returns
    -------
    torch.Tensor of uint8, shape ``(batch, 3, out_size, out_size)``
    """
    if extent is not None and mode == "none":
        return centre_crop_whole(x, extent, out_size or x.shape[-2], x.shape[-2])
    if mode == "none":
        return x
    b, _, h, w = x.shape
    dev = x.device
    if mode == "crop_flip":
        if extent is not None:
            raise ValueError("'crop_flip' needs images that fill their array; images decoded whole take 'rrc_flip'")
        padded = torch.nn.functional.pad(x.float(), (4, 4, 4, 4), mode="reflect").to(x.dtype)
        offs = torch.randint(0, 9, (b, 2), generator=generator).to(dev)
        flip = (torch.rand(b, generator=generator) < 0.5).to(dev)
        rows = offs[:, :1] + torch.arange(h, device=dev)[None]  # (b, h)
        cols = offs[:, 1:] + torch.arange(w, device=dev)[None]  # (b, w)
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        bidx = torch.arange(b, device=dev)[:, None, None]
        return padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
    if mode == "rrc_flip":
        size = out_size or h
        if extent is None:
            top, left, ch, cw = _rrc_boxes(b, h, w, generator)
            transposed = None
        else:
            ext = extent.cpu()
            top, left, ch, cw = _rrc_boxes(b, ext[:, 0].float(), ext[:, 1].float(), generator)
            transposed = ext[:, 2].bool()
        flip = torch.rand(b, generator=generator) < 0.5
        return _resample_boxes(x, top, left, ch, cw, size, flip, transposed)
    raise ValueError(f"unknown augmentation {mode!r}; valid: ['crop_flip', 'rrc_flip', 'none']")


def _resample_boxes(
    x: torch.Tensor, top, left, ch, cw, size: int, flip: torch.Tensor | None = None,
    transposed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bilinear resampling of one box per image to ``size x size`` (uint8 in, uint8 out).

    ``top, left, ch, cw``: float tensors ``(batch,)``, the box in the image's own orientation, in
    pixels (pixel edges: the box covers ``[left, left + cw) x [top, top + ch)``). ``flip``: mirror
    the output horizontally; ``transposed``: the image is stored transposed in ``x`` (its rows are
    the array's columns).
    """
    b, _, H, W = x.shape
    sign = torch.ones(b) if flip is None else torch.where(flip, -1.0, 1.0)
    t = torch.zeros(b, dtype=torch.bool) if transposed is None else transposed
    zero = torch.zeros(b)
    # affine map from output coordinates in [-1, 1] to the box in input coordinates
    theta = torch.zeros(b, 2, 3, dtype=torch.float32)
    theta[:, 0, 0] = torch.where(t, zero, sign * cw / W)
    theta[:, 0, 1] = torch.where(t, ch / W, zero)
    theta[:, 0, 2] = torch.where(t, (2 * top + ch) / W, (2 * left + cw) / W) - 1
    theta[:, 1, 0] = torch.where(t, sign * cw / H, zero)
    theta[:, 1, 1] = torch.where(t, zero, ch / H)
    theta[:, 1, 2] = torch.where(t, (2 * left + cw) / H, (2 * top + ch) / H) - 1
    grid = torch.nn.functional.affine_grid(theta.to(x.device), [b, 3, size, size], align_corners=False)
    out = torch.nn.functional.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def centre_crop_whole(x: torch.Tensor, extent: torch.Tensor, out_size: int, resize: int) -> torch.Tensor:
    """Evaluation crop of images decoded whole: resize the shorter side to ``resize``, centre crop.

    Parameters
    ----------
    x : torch.Tensor of uint8, shape ``(batch, 3, H, W)``
        Canvases of :func:`decode_once` with ``layout="whole"``.
    extent : torch.Tensor of int, shape ``(batch, 3)``
        :attr:`Split.extent` of these images.
    out_size : int
        Output side (e.g. 224).
    resize : int
        The shorter side the original is resized to before cropping (e.g. 256; the decode size).

    Returns
    -------
    torch.Tensor of uint8, shape ``(batch, 3, out_size, out_size)``
        For an image stored with its shorter side equal to ``resize`` this copies the pixels of the
        usual resize-``resize`` / centre-crop-``out_size`` (integer box, no resampling).
    """
    ext = extent.cpu()
    h, w = ext[:, 0].float(), ext[:, 1].float()
    c = torch.minimum(h, w) * (out_size / resize)
    top, left = torch.round((h - c) / 2), torch.round((w - c) / 2)
    return _resample_boxes(x, top, left, c, c, out_size, None, ext[:, 2].bool())


def _rrc_boxes(n: int, h, w, g: torch.Generator, scale=(0.05, 1.0), ratio=(3 / 4, 4 / 3), tries: int = 10):
    """Random-resized-crop boxes for ``n`` images by torchvision's rule (10 tries, then its fallback).

    ``h, w``: the image size, ints (all images alike) or float tensors ``(n,)`` (one size per
    image). As ``torchvision.transforms.RandomResizedCrop.get_params``: area uniform in
    ``scale`` x image area, log-aspect uniform in ``ratio``, sides rounded, the first of ``tries``
    draws that fits, at a uniform integer position; if none fits, the central crop of the whole
    image clamped to ``ratio``.

    Returns float tensors ``top, left, height, width`` of shape ``(n,)``.
    """
    import math

    h = torch.as_tensor(h, dtype=torch.float32).expand(n)
    w = torch.as_tensor(w, dtype=torch.float32).expand(n)
    area = (h * w)[:, None]
    target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, tries, generator=g))
    logr = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(n, tries, generator=g)
    ar = torch.exp(logr)
    cw = torch.round(torch.sqrt(target * ar))
    ch = torch.round(torch.sqrt(target / ar))
    ok = (cw > 0) & (cw <= w[:, None]) & (ch > 0) & (ch <= h[:, None])
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n,), -1))
    idx = first.clamp(min=0)[:, None]
    # torchvision's fallback: the whole image, its aspect clamped to ``ratio``, centred
    in_ratio = w / h
    fw = torch.where(in_ratio < min(ratio), w, torch.where(in_ratio > max(ratio), torch.round(h * max(ratio)), w))
    fh = torch.where(in_ratio < min(ratio), torch.round(w / min(ratio)), h)
    cw = torch.where(first >= 0, cw.gather(1, idx)[:, 0], fw)
    ch = torch.where(first >= 0, ch.gather(1, idx)[:, 0], fh)
    u = torch.rand(n, 2, generator=g)
    top = torch.floor(u[:, 0] * (h - ch + 1))
    left = torch.floor(u[:, 1] * (w - cw + 1))
    top = torch.where(first >= 0, top, torch.div(h - ch, 2, rounding_mode="floor"))
    left = torch.where(first >= 0, left, torch.div(w - cw, 2, rounding_mode="floor"))
    return top, left, ch, cw


class ImageFiles(torch.utils.data.Dataset):
    """Image files decoded to uint8 tensors ``(3, size, size)``, with the paper's transforms.

    Training: random resized crop (area 5-100 %) and horizontal flip (the authors' code);
    evaluation: resize the shorter side to ``resize`` (default ``size * 256 / 224``, bilinear) then
    centre crop ``size``. With ``preprocess`` (:class:`Preprocess`), evaluation resizes to
    ``round(size / preprocess.crop_pct)`` with ``preprocess.interpolation`` instead (``size`` stays
    the crop; an explicit ``resize`` still wins).
    """

    def __init__(self, paths: list[str], targets: np.ndarray, size: int, train: bool, resize: int | None = None,
                 preprocess: Preprocess | None = None):
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import v2 as T

        self.paths, self.targets = paths, np.asarray(targets, dtype=np.int64)
        if train:
            self.transform = T.Compose(
                [T.RandomResizedCrop(size, scale=(0.05, 1.0), antialias=True), T.RandomHorizontalFlip(), T.PILToTensor()]
            )
        else:
            if preprocess is None:
                resize = resize or round(size * 256 / 224)
                interp = InterpolationMode.BILINEAR
            else:
                resize = resize or round(size / preprocess.crop_pct)
                interp = InterpolationMode(preprocess.interpolation)
            self.transform = T.Compose(
                [T.Resize(resize, interpolation=interp, antialias=True), T.CenterCrop(size), T.PILToTensor()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            img = self.transform(im.convert("RGB"))
        return img, int(self.targets[i])


def iterate_batches(
    split: Split,
    targets: np.ndarray,
    *,
    batch_size: int,
    train: bool,
    augment: str = "none",
    image_size: int | None = None,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | str | None = None,
    augment_generator: torch.Generator | None = None,
    preprocess: Preprocess | None = None,
):
    """Yield ``(images, targets)`` batches: uint8 ``(batch, 3, S, S)`` and int64 ``(batch,)``.

    ``preprocess`` (:class:`Preprocess`, evaluation of image files only): its interpolation and
    ``crop_pct`` replace the default resize (``image_size`` defaults to ``preprocess.size``);
    in-memory splits and training batches ignore it.

    The batch order comes from ``generator`` (the same on every rank, so the ranks split one global
    batch); the augmentation from ``augment_generator`` (default ``generator``), which each DDP rank
    seeds differently so that no two ranks draw the same crops and flips.

    Training batches come in a seeded random order, with the last incomplete batch dropped
    (unless it is the only one), the global batch split across ``world_size`` ranks; evaluation
    batches keep the split's order. In-memory images are moved to ``device`` (if given) before
    augmentation, so a GPU augments whole batches. Images decoded once (:func:`decode_once`) are
    centre-cropped to ``image_size`` for evaluation, which equals the usual resize-256/crop-224
    (``layout="centre"``: a slice of the stored square; ``layout="whole"``:
    :func:`centre_crop_whole`); in training, images decoded whole get their random resized crop
    from the whole image (:func:`augment_batch` with ``extent``).
    """
    n = len(split)
    aug = augment_generator if augment_generator is not None else generator
    if train:
        order = torch.randperm(n, generator=generator).numpy()
        n_batches = max(1, n // batch_size)
        batches = [order[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]
        batches = [b[rank::world_size] for b in batches]
    else:
        batches = [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    targets = np.asarray(targets, dtype=np.int64)
    if split.images is not None:
        for idx in batches:
            x = split.images[torch.from_numpy(np.sort(idx) if split.decoded else idx)]
            if split.decoded:  # sorted reads from the memory map, then back to the sampled order
                x = x[torch.from_numpy(np.argsort(np.argsort(idx)))]
            ext = None if split.extent is None else split.extent[torch.from_numpy(idx)]
            if device is not None:
                x = x.to(device, non_blocking=True)
            if train:
                x = augment_batch(x, augment, aug, image_size, extent=ext)
            elif ext is not None:
                x = centre_crop_whole(x, ext, image_size or round(x.shape[-2] * 224 / 256), x.shape[-2])
            elif split.decoded and image_size is not None and x.shape[-1] != image_size:
                o = (x.shape[-1] - image_size) // 2
                x = x[..., o : o + image_size, o : o + image_size]
            elif image_size is not None and x.shape[-1] != image_size:
                import torchvision.transforms.v2.functional as TF

                x = TF.resize(x, [image_size, image_size], antialias=True)
            yield x, torch.from_numpy(targets[idx])
        return
    if preprocess is not None and not train:
        ds = ImageFiles(split.paths, targets, image_size or preprocess.size, train, preprocess=preprocess)
    else:
        ds = ImageFiles(split.paths, targets, image_size or 224, train)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=aug)) if aug is not None else 0
    loader = torch.utils.data.DataLoader(
        ds,
        batch_sampler=[b.tolist() for b in batches],
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
    )
    yield from loader


def write_imagenet_fixture(
    root: str | Path, dataset: str = "entity13", per_class: dict[str, int] | None = None, size: int = 64, seed: int = 0
) -> Path:
    """Write an ImageNet-layout folder of small generated JPEGs for a BREEDS dataset's classes.

    Creates ``root/{train,val}/<wnid>/<wnid>_<i>.JPEG`` for every subclass wnid of ``dataset``
    (real wnids), with images whose colour depends on the class, for tests and dry runs of the
    ``paper`` profile.

    Parameters
    ----------
    root : path-like
    dataset : {"living17", "nonliving26", "entity13"}
    per_class : dict, optional
        Images per class for ``"train"`` and ``"val"`` (default 2 each).
    size : int
        Image side in pixels.
    """
    from PIL import Image

    from . import breeds

    if dataset not in IMAGENET_DATASETS:
        raise ValueError(f"unknown ImageNet dataset {dataset!r}; valid: {list(IMAGENET_DATASETS)}")
    per_class = per_class or {"train": 2, "val": 2}
    root = Path(root)
    rng = np.random.default_rng(seed)
    h = breeds.load_breeds(dataset)
    wnids = [w for g in breeds.breeds_wnids(h) for w in g]
    for split, n in per_class.items():
        for ci, w in enumerate(wnids):
            d = root / split / w
            d.mkdir(parents=True, exist_ok=True)
            base = np.array([(ci * 37) % 256, (ci * 91) % 256, (ci * 53) % 256])
            for i in range(n):
                img = np.clip(base + rng.normal(0, 30, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"{w}_{i}.JPEG", "JPEG", quality=90)
    return root


#: Canvas aspect of :func:`decode_once`'s ``"whole"`` layout: ``size x round(size * 4/3)``.
WHOLE_MAX_ASPECT = 4 / 3


def _whole_shape(height: int, width: int, size: int, long: int) -> tuple[int, int]:
    """Side lengths ``(h, w)`` of an image fitted whole, aspect kept, into ``size x long`` (either way round).

    The shorter side becomes ``size`` if the longer then fits in ``long``; otherwise the longer side
    becomes ``long`` and the shorter one less than ``size``.
    """
    short, lng = min(height, width), max(height, width)
    new_long = round(lng * size / short)
    if new_long <= long:
        new_short = size
    else:
        new_short, new_long = max(1, round(short * long / lng)), long
    return (new_short, new_long) if width >= height else (new_long, new_short)


class _WholeImageFiles(torch.utils.data.Dataset):
    """Image files resized whole into a ``size x long`` canvas (portrait ones transposed).

    Items: ``(canvas, extent)``: uint8 ``(3, size, long)``, the image in the top-left corner and
    its last row and column repeated into the rest (so bilinear sampling at the image's edge never
    reads anything but the image), and int32 ``(3,)`` ``(height, width, transposed)``.
    """

    def __init__(self, paths: list[str], size: int, long: int):
        self.paths, self.size, self.long = paths, int(size), int(long)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import torchvision.transforms.v2.functional as TF
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            im = im.convert("RGB")
            h, w = _whole_shape(im.height, im.width, self.size, self.long)
            x = TF.pil_to_tensor(TF.resize(im, [h, w], antialias=True))
        t = h > w
        if t:
            x = x.transpose(1, 2)
        arr = np.pad(x.numpy(), ((0, 0), (0, self.size - x.shape[1]), (0, self.long - x.shape[2])), mode="edge")
        return torch.from_numpy(np.ascontiguousarray(arr)), torch.tensor([h, w, int(t)], dtype=torch.int32)


def decode_once(
    split: Split, size: int, cache_dir: str | Path | None = None, num_workers: int = 0, progress: bool = True,
    layout: str | None = None,
) -> Split:
    """Decode a split's image files once into a cached uint8 array and use it from then on.

    Two layouts:

    ``"whole"`` (default for the training split)
        Every image is resized, aspect kept, so that the *whole* image fits a canvas of
        ``size x round(size * 4/3)`` (:data:`WHOLE_MAX_ASPECT`; portrait images are stored
        transposed so their longer side runs along the canvas's width): its shorter side becomes
        ``size`` if its aspect is at most 4:3, else its longer side becomes ``round(size * 4/3)``.
        It sits in the canvas's top-left corner, the rest filled by repeating its last row and
        column; its own ``(height, width, transposed)`` is kept in :attr:`Split.extent`. Training
        then draws each random resized crop from the whole image, by torchvision's
        ``RandomResizedCrop`` rule on that image's own size (:func:`augment_batch`), as the authors'
        crop of the full decoded JPEG does. Resolution, relative to the ``"centre"`` square of the
        same ``size``: unchanged for images of aspect up to 4:3 (both store the shorter side at
        ``size``; ImageNet's usual 4:3 and 3:4 images), ``(4/3) / a`` in each direction for a wider
        aspect ``a`` (3:2: 0.89; 16:9: 0.75; 2:1: 0.67). Against cropping the original JPEG, every
        crop is resampled from the shorter-side-``size`` image (256 for 224-pixel models) rather
        than the full-size file, as with the old square, bilinearly and without antialiasing (a crop
        wider than the output shrinks by at most 341/224 = 1.5x for 224-pixel models, against
        256/224 = 1.14x within the square). Memory: ``size * round(size * 4/3)`` pixels
        per image, 4/3 of the square (entity-13's ~67,600 training images at 256: 17.7 GB instead
        of 13.3 GB, memory-mapped). Evaluation batches of such a split use
        :func:`centre_crop_whole`.
    ``"centre"`` (default for every other split: the validation images)
        Every image is resized (shorter side ``size``) and centre-cropped to ``size x size``, the
        evaluation transform's frame: the centre ``image_size`` crop of it is exactly the usual
        resize-``size`` / centre-crop-``image_size``. (Used for training, this layout would limit
        the random crops to the central square; pass it explicitly to get that old behaviour.)

    The array is one ``(n_images, 3, H, W)`` uint8 ``.npy`` file under ``<cache>/decoded/<key>/``
    (key: the file list, ``size`` and the layout), written to a temporary file and renamed, with a
    SHA-256 checksum verified on every load (a truncated or corrupt file is rebuilt); the extents
    are a checksummed ``extent.npz`` beside it. No JPEG is decoded twice.

    Parameters
    ----------
    split : Split
        A split of image files (``split.paths``); in-memory splits are returned unchanged.
    size : int
        Stored shorter side, e.g. 256 for 224-pixel models.
    layout : {"whole", "centre"}, optional
        Default ``"whole"`` for ``split.split == "train"``, else ``"centre"``.

    Returns
    -------
    Split
        The same images in the same order, in memory (memory-mapped), with ``decoded=True``;
        ``images`` of shape ``(n, 3, size, round(size * 4/3))`` and ``extent`` ``(n, 3)`` for
        ``"whole"``, ``(n, 3, size, size)`` and ``extent=None`` for ``"centre"``.
    """
    import hashlib
    import sys
    import warnings

    from tqdm.std import tqdm

    from . import cache

    if split.paths is None:
        return split
    if layout is None:
        layout = "whole" if split.split == "train" else "centre"
    if layout not in ("whole", "centre"):
        raise ValueError(f"unknown layout {layout!r}; valid: ['whole', 'centre']")
    size = int(size)
    shape = (len(split), 3, size, size if layout == "centre" else round(size * WHOLE_MAX_ASPECT))
    key = {"files": hashlib.sha256("\n".join(split.paths).encode()).hexdigest(), "n": len(split), "size": size,
           "layout": layout, "shape": list(shape)}
    d = cache.artifact_dir(_config.cache_root(cache_dir), "decoded", key)
    f, meta, ext_f = d / "images.npy", d / "meta.json", d / "extent.npz"

    def digest(path: Path) -> str:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 24), b""):
                h.update(chunk)
        return h.hexdigest()

    ok = cache.is_valid(meta) and f.exists() and f.stat().st_size == cache.load(meta)["bytes"]
    ok = ok and (layout == "centre" or cache.is_valid(ext_f))
    if ok and digest(f) != cache.load(meta)["sha256"]:
        warnings.warn(f"rebuilding corrupt decoded images {f}", stacklevel=2)
        ok = False
    if not ok:
        cache.discard(meta)
        tmp = f.with_name(f".{f.name}.tmp")
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        if layout == "centre":
            files = ImageFiles(split.paths, split.subclass, size, train=False, resize=size)
        else:
            files = _WholeImageFiles(split.paths, size, shape[-1])
        extent = np.zeros((len(split), 3), dtype=np.int32)
        loader = torch.utils.data.DataLoader(files, batch_size=64, num_workers=num_workers)
        i = 0
        for x, e in tqdm(loader, desc=f"decode {split.dataset}/{split.split} once", disable=not progress,
                         file=sys.stderr, mininterval=2.0):
            arr[i : i + len(x)] = x.numpy()
            if layout == "whole":
                extent[i : i + len(x)] = e.numpy()
            i += len(x)
        arr.flush()
        del arr
        os.replace(tmp, f)
        if layout == "whole":
            cache.save(ext_f, {"extent": extent})
        cache.save(meta, {"bytes": f.stat().st_size, "sha256": digest(f), "shape": list(shape), "layout": layout})
    arr = np.load(f, mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # read-only memory map: never written through
        images = torch.from_numpy(arr)
    extent_t = torch.from_numpy(cache.load(ext_f)["extent"]) if layout == "whole" else None
    return Split(split.dataset, split.split, split.subclass, images=images, decoded=True, extent=extent_t)
