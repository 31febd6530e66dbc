"""The smoke world: synthetic hierarchical images made in code (dataset ``"synthetic"``, profile ``smoke``)."""

from __future__ import annotations

import numpy as np
import torch

from ..hierarchy import Hierarchy
from .split import Split

__all__ = [
    "SYN_SHAPES", "SYN_VARIANTS", "SYN_FREQUENCIES", "SYN_TEXTURE_CONTRAST", "SYN_HUE_JITTER", "SYN_SIZES",
    "SYN_SEEDS", "SYN_VERSION", "synthetic_hierarchy", "synthetic_images", "synthetic_split", "OOD_SHAPES",
    "OOD_PER_CLASS", "ood_synthetic_split",
]

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


def synthetic_hierarchy() -> Hierarchy:
    """The smoke world's hierarchy: one superclass per shape, ``SYN_VARIANTS`` texture subclasses each."""
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
    return _draw(shape, variant, _SHAPE_MASKS, shape / len(SYN_SHAPES), rng, size)


# The object's mask of each shape, from coordinates relative to its centre and its radius.
_SHAPE_MASKS = {
    0: lambda dx, dy, r: dx**2 + dy**2 < r**2,  # disc
    1: lambda dx, dy, r: np.maximum(np.abs(dx), np.abs(dy)) < r * 0.85,  # square
    2: lambda dx, dy, r: (dy < r * 0.8) & (np.abs(dx) < (dy + r) * 0.6),  # triangle
    3: lambda dx, dy, r: ((np.abs(dx) < r / 3) & (np.abs(dy) < r)) | ((np.abs(dy) < r / 3) & (np.abs(dx) < r)),  # cross
}


def _draw(shape: np.ndarray, variant: np.ndarray, masks: dict, hue_base: np.ndarray, rng: np.random.Generator,
          size: int) -> torch.Tensor:
    """Render objects of the given shapes (``masks[shape]``), base hues and texture variants (uint8 images)."""
    n = len(shape)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    cx = rng.uniform(-0.12, 0.12, n)[:, None, None]
    cy = rng.uniform(-0.12, 0.12, n)[:, None, None]
    r = rng.uniform(0.25, 0.33, n)[:, None, None]
    dx, dy = xx[None] - cx, yy[None] - cy
    mask = np.zeros((n, size, size), dtype=bool)
    for s, m in masks.items():
        mask |= m(dx, dy, r) & (shape == s)[:, None, None]
    # The superclass's colour family: its hue, jittered per image.
    hue = hue_base + rng.uniform(-SYN_HUE_JITTER, SYN_HUE_JITTER, n)
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


#: The held-out world (out-of-distribution set of ``smoke``): shapes the models never saw (ring,
#: diamond, bar, frame), in hues half-way between the training ones; its classes are shape x texture.
OOD_SHAPES = ("ring", "diamond", "bar", "frame")
_OOD_MASKS = {
    0: lambda dx, dy, r: (dx**2 + dy**2 < r**2) & (dx**2 + dy**2 > (0.55 * r) ** 2),  # ring
    1: lambda dx, dy, r: np.abs(dx) + np.abs(dy) < r,  # diamond
    2: lambda dx, dy, r: (np.abs(dy) < r * 0.4) & (np.abs(dx) < r),  # bar
    3: lambda dx, dy, r: (np.maximum(np.abs(dx), np.abs(dy)) < r * 0.9)
    & (np.maximum(np.abs(dx), np.abs(dy)) > r * 0.5),  # frame
}
OOD_PER_CLASS = 20
OOD_SEED = 3


def ood_synthetic_split(per_class: int | None = None) -> tuple[Split, tuple[str, ...]]:
    """The smoke profile's out-of-distribution set: the held-out world, ``per_class`` images per class.

    Classes are the 16 combinations of a new shape (:data:`OOD_SHAPES`, each in a hue the training
    world does not use) and one of the 4 texture frequencies; drawn by the same renderer as the
    training world, from its own seed.

    Returns
    -------
    split : Split
        ``dataset="synthetic"`` (its normalisation), ``split="ood"``; ``subclass`` holds the class ids.
    class_names : tuple of str
    """
    per = per_class or OOD_PER_CLASS
    k = len(OOD_SHAPES) * SYN_VARIANTS
    cls = np.repeat(np.arange(k), per).astype(np.int64)
    shape, variant = cls // SYN_VARIANTS, cls % SYN_VARIANTS
    hue = (shape + 0.5) / len(SYN_SHAPES)
    images = _draw(shape, variant, _OOD_MASKS, hue, np.random.default_rng(OOD_SEED), 32)
    names = tuple(f"{s}-f{f:g}" for s in OOD_SHAPES for f in SYN_FREQUENCIES[:SYN_VARIANTS])
    return Split("synthetic", "ood", cls, images=images), names


def synthetic_split(split: str) -> Split:
    """The ``"train"`` or ``"val"`` split of the smoke world: ``SYN_SIZES[split]`` images per subclass."""
    h = synthetic_hierarchy()
    per = SYN_SIZES[split]
    subclass = np.repeat(np.arange(h.n_subclasses), per)
    images = synthetic_images(subclass, seed=SYN_SEEDS[split])
    return Split("synthetic", split, subclass.astype(np.int64), images=images)
