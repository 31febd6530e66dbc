"""How images become a model's input: per-dataset statistics, :class:`Preprocess` and :func:`normalize`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import names
from .kinds import STATISTICS, parse

__all__ = ["NORMALIZE", "INTERPOLATIONS", "Preprocess", "normalize", "statistics_of"]

# Per-channel mean and std (on the 0-1 scale) used to normalise each dataset's images.
NORMALIZE = {
    "synthetic": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    "cifar100": ((0.507, 0.487, 0.441), (0.267, 0.256, 0.276)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # A researcher's own two-level image folder (paperlib.data.folder): ImageNet statistics.
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


#: Interpolation names :class:`Preprocess` accepts (torchvision's ``InterpolationMode`` values).
INTERPOLATIONS = names.INTERPOLATIONS


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
        names.check("interpolation", self.interpolation)
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")

    @property
    def resize(self) -> int:
        """Shorter side before the centre crop: ``round(size / crop_pct)``."""
        return round(self.size / self.crop_pct)

    @classmethod
    def for_dataset(cls, dataset, size: int, **kwargs) -> Preprocess:
        """The statistics of a dataset (a name or :class:`paperlib.data.Dataset`, ImageNet's for BREEDS and
        folders) or of a key of :data:`NORMALIZE`."""
        mean, std = statistics_of(dataset)
        kwargs.setdefault("source", f"dataset {dataset}")
        return cls(mean, std, size, **kwargs)

    def to_dict(self) -> dict:
        """JSON-ready description, with the derived ``resize``."""
        return {
            "mean": list(self.mean),
            "std": list(self.std),
            "size": self.size,
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "resize": self.resize,
            "source": self.source,
        }

    def describe(self) -> str:
        """One line: statistics, resize, crop and source."""
        fmt = lambda v: "(" + ", ".join(f"{x:.4g}" for x in v) + ")"  # noqa: E731
        src = f" [{self.source}]" if self.source else ""
        return (
            f"mean {fmt(self.mean)}, std {fmt(self.std)}; {self.interpolation} resize to {self.resize}, "
            f"centre crop {self.size} (crop_pct {self.crop_pct:g}){src}"
        )


def statistics_of(stats) -> tuple[tuple, tuple]:
    """``(mean, std)`` of a :class:`Preprocess` or :class:`paperlib.data.Dataset` (anything with ``mean``
    and ``std``), a key of :data:`NORMALIZE`, or a dataset name (its kind's statistics; nothing is read).

    Raises
    ------
    ValueError
        If ``stats`` is a string that names no dataset (the message lists the valid names).

    Examples
    --------
    >>> statistics_of("living17") == statistics_of("folder:/data/birds") == NORMALIZE["imagenet"]
    True
    """
    if hasattr(stats, "mean") and hasattr(stats, "std"):
        return tuple(stats.mean), tuple(stats.std)
    if isinstance(stats, str) and stats in NORMALIZE:
        return NORMALIZE[stats]
    return NORMALIZE[STATISTICS[parse(stats)[1]]]


def normalize(x: torch.Tensor, dataset) -> torch.Tensor:
    """uint8 images ``(batch, 3, H, W)`` -> float32, scaled to 0-1 and standardised per channel.

    ``dataset``: a :class:`paperlib.data.Dataset` or a :class:`Preprocess`, whose ``mean`` and ``std``
    are used, or a dataset name or key of :data:`NORMALIZE` (ImageNet statistics for the BREEDS
    datasets and folders).
    """
    mean, std = statistics_of(dataset)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255.0 - m) / s
