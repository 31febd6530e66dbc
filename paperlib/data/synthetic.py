"""The smoke world: a miniature of natural images made in code (dataset ``"synthetic"``, profile ``smoke``).

Natural images, as BREEDS draws them from ImageNet, have a causal structure that the paper's
findings rest on, and this world copies it (``book/intro.md`` shows its checks):

1. **Nuisance dominates the pixels.** Every image draws the object's position, scale, rotation,
   hue, saturation and brightness, the background's colour, a lighting gradient, two clutter
   items (small discs and strokes of random colours) and pixel noise. None of them carries a
   class, and together they are most of the pixel variance: Ward on raw pixels or on the mean
   colour, within a superclass, finds neither hierarchy's subclasses (AMI below 0.1, a test).
2. **The subclasses of a superclass are different objects of one family.** A superclass is a
   shape family (round, angular, spiky, bars) and each of its four subclasses one member (round:
   disc, ellipse, ring, crescent). Members differ along the same kind of trait that separates the
   families, the outline, only less, so a network trained on the families builds features that
   separate the members partly.
3. **A shuffled superclass is a bag of unrelated objects.** The shuffled hierarchy
   (:func:`paperlib.hierarchy.shuffled`) mixes members of different families in one superclass;
   a network has to learn each of them to name the bag.

Every shape has a mirror axis, so a horizontal flip is one more rotation: the training
augmentation (flips and small shifts, ``crop_flip``) never turns one subclass into another.
Shapes are rendered at twice the size and averaged down (anti-aliased edges).

The held-out worlds of the out-of-distribution chapters are drawn by the same renderer: one whose
classes share nothing with the training subclasses (:data:`NOVEL_SHAPES`, the analogue of
tf_flowers or UC Merced) and one whose classes *are* training subclasses, drawn anew
(:data:`OVERLAP_SHAPES`, the analogue of Oxford-IIIT Pets, whose breeds include ImageNet classes).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..hierarchy import Hierarchy
from .split import Split

__all__ = [
    "SYN_FAMILIES",
    "SYN_MEMBERS",
    "SYN_SUBCLASSES",
    "SYN_VARIANTS",
    "SYN_WORLD",
    "SYN_SIZES",
    "SYN_SEEDS",
    "SYN_VERSION",
    "SYN_AREA",
    "synthetic_hierarchy",
    "synthetic_images",
    "synthetic_split",
    "render_shapes",
    "NOVEL_SHAPES",
    "OVERLAP_SHAPES",
    "OOD_PER_CLASS",
    "OOD_SEEDS",
    "ood_synthetic_split",
]

#: The superclasses: shape families, each with four members (the subclasses), as entity-13's 4.
SYN_FAMILIES = ("round", "angular", "spiky", "bars")
SYN_MEMBERS = {
    "round": ("disc", "ellipse", "ring", "crescent"),
    "angular": ("triangle", "square", "rhombus", "trapezoid"),
    "spiky": ("star3", "star4", "star5", "star8"),
    "bars": ("plus", "tee", "eich", "pi"),
}
#: Subclass names in id order: subclass ``c`` belongs to superclass ``c // SYN_VARIANTS``.
SYN_SUBCLASSES = tuple(m for f in SYN_FAMILIES for m in SYN_MEMBERS[f])
SYN_VARIANTS = 4  # subclasses per superclass

#: The nuisance of every image, chosen from the data checks (raw-pixel and mean-colour AMI below
#: 0.1 in both hierarchies) and from what the smoke models learn in their budget (superclass
#: accuracy at least 0.9): fractions of the image side for sizes and positions, of full scale for
#: colours. ``radius``: the object's outer radius; ``shift``: its centre's offset from the image
#: centre (each axis); ``rotation``: the largest tilt from upright, in degrees; ``bg_value``/``fg_value``: brightness ranges of background and object (the
#: object is always the brighter, so it stays visible); ``bg_saturation``/``fg_saturation``;
#: ``light``: standard deviation of the lighting gradient's slope; ``clutter``: items per image,
#: ``clutter_size`` their scale; ``noise``: pixel noise standard deviation; ``supersample``.
SYN_WORLD = dict(
    radius=(0.26, 0.42),
    shift=0.20,
    rotation=25.0,
    bg_value=(0.10, 0.45),
    fg_value=(0.65, 1.0),
    bg_saturation=(0.0, 0.6),
    fg_saturation=(0.5, 1.0),
    light=0.25,
    clutter=2,
    clutter_size=0.6,
    noise=0.03,
    supersample=2,
)
SYN_SIZES = {"train": 160, "val": 40}  # images per subclass
SYN_SEEDS = {"train": 11, "val": 12}
#: Bumped whenever the generator's output changes; part of the data identity of cached results.
SYN_VERSION = 3

#: The out-of-distribution worlds. ``synthetic_novel``: eight shapes the models never saw, in no
#: training family (shares nothing, as tf_flowers or UC Merced). ``synthetic_overlap``: eight
#: training subclasses, two of each family, drawn anew from their own seed (overlaps the training
#: subclasses, as Oxford-IIIT Pets overlaps ImageNet's dog and cat breeds).
NOVEL_SHAPES = ("heart", "arrow", "hourglass", "teardrop", "semicircle", "frame", "chevron", "dumbbell")
OVERLAP_SHAPES = ("disc", "ring", "triangle", "square", "star4", "star8", "plus", "pi")
OOD_PER_CLASS = 40
OOD_SEEDS = {"synthetic_novel": 13, "synthetic_overlap": 14}


def synthetic_hierarchy() -> Hierarchy:
    """The smoke world's hierarchy: one superclass per shape family, its four members as subclasses."""
    groups = tuple(tuple(range(s * SYN_VARIANTS, (s + 1) * SYN_VARIANTS)) for s in range(len(SYN_FAMILIES)))
    return Hierarchy("synthetic", SYN_FAMILIES, groups, SYN_SUBCLASSES)


# ----------------------------------------------------------------------------- shapes
# Each shape is a mask over coordinates (u, v) in units of the object's radius, already rotated.


def _polygon(u, v, k: int, rot: float = 0.0):
    """Inside a regular ``k``-gon of circumradius 1."""
    out = np.full(u.shape, -np.inf, dtype=u.dtype)
    for i in range(k):
        a = rot + 2 * np.pi * (i + 0.5) / k
        out = np.maximum(out, u * np.cos(a) + v * np.sin(a))
    return out < np.cos(np.pi / k)


def _star(u, v, k: int, inner: float = 0.45):
    """Inside a ``k``-pointed star: radius 1 at the tips, ``inner`` between them."""
    t = np.abs((((np.arctan2(v, u) + np.pi / 2) * k / (2 * np.pi)) % 1.0) - 0.5) * 2  # a tip points up
    return np.hypot(u, v) < inner + (1 - inner) * t


def _box(u, v, x0, x1, y0, y1):
    return (u > x0) & (u < x1) & (v > y0) & (v < y1)


_W = 0.22  # half the width of a bar


def _disc(u, v, r, cx=0.0, cy=0.0):
    return (u - cx) ** 2 + (v - cy) ** 2 < r**2


_SHAPES = {
    # round
    "disc": lambda u, v: _disc(u, v, 0.85),
    "ellipse": lambda u, v: u**2 + (v / 0.5) ** 2 < 1,
    "ring": lambda u, v: _disc(u, v, 1.0) & ~_disc(u, v, 0.55),
    "crescent": lambda u, v: _disc(u, v, 0.9) & ~_disc(u, v, 0.75, cy=-0.45),
    # angular
    "triangle": lambda u, v: _polygon(u, v + 0.15, 3, np.pi / 2),
    "square": lambda u, v: _box(u, v, -0.72, 0.72, -0.72, 0.72),
    "rhombus": lambda u, v: np.abs(u) + np.abs(v) / 0.5 < 1,
    "trapezoid": lambda u, v: (np.abs(v) < 0.5) & (np.abs(u) < 0.95 - 0.55 * (v + 0.5)),
    # spiky
    "star3": lambda u, v: _star(u, v, 3),
    "star4": lambda u, v: _star(u, v, 4),
    "star5": lambda u, v: _star(u, v, 5),
    "star8": lambda u, v: _star(u, v, 8),
    # bars
    "plus": lambda u, v: _box(u, v, -1, 1, -_W, _W) | _box(u, v, -_W, _W, -1, 1),
    "tee": lambda u, v: _box(u, v, -1, 1, 0.55, 0.55 + 2 * _W) | _box(u, v, -_W, _W, -1, 0.6),
    "eich": lambda u, v: (
        _box(u, v, -0.9, -0.9 + 2 * _W, -1, 1) | _box(u, v, 0.9 - 2 * _W, 0.9, -1, 1) | _box(u, v, -0.9, 0.9, -_W, _W)
    ),
    "pi": lambda u, v: (
        _box(u, v, -1, 1, -0.9, -0.9 + 2 * _W)
        | _box(u, v, -0.65, -0.65 + 2 * _W, -0.9, 0.9)
        | _box(u, v, 0.65 - 2 * _W, 0.65, -0.9, 0.9)
    ),
    # held out: no training family has them
    "heart": lambda u, v: (
        _disc(u, v, 0.45, -0.38, 0.3)
        | _disc(u, v, 0.45, 0.38, 0.3)
        | ((v < 0.35) & (np.abs(u) < 0.8 * (v + 0.95)) & (v > -0.95))
    ),
    "arrow": lambda u, v: _box(u, v, -_W, _W, -1, 0.2) | ((v >= 0.2) & (np.abs(u) < 0.75 * (1 - v) / 0.8) & (v < 1)),
    "hourglass": lambda u, v: (np.abs(v) < 0.9) & (np.abs(u) < 0.12 + 0.7 * np.abs(v)),
    "teardrop": lambda u, v: _disc(u, v, 0.6, 0, -0.3) | ((v >= -0.3) & (np.abs(u) < 0.6 * (1 - (v + 0.3) / 1.3))),
    "semicircle": lambda u, v: _disc(u, v, 0.95, 0, -0.35) & (v > -0.35),
    "frame": lambda u, v: _box(u, v, -0.8, 0.8, -0.8, 0.8) & ~_box(u, v, -0.45, 0.45, -0.45, 0.45),
    "chevron": lambda u, v: (np.abs(u) < 0.95) & (v - 0.8 * np.abs(u) > -0.55) & (v - 0.8 * np.abs(u) < 0.0),
    "dumbbell": lambda u, v: _disc(u, v, 0.4, -0.6) | _disc(u, v, 0.4, 0.6) | _box(u, v, -0.6, 0.6, -0.15, 0.15),
}


#: Every shape is drawn with the area of a disc of radius ``sqrt(SYN_AREA / pi)`` times the image's
#: radius: the object's size, which the radius draws per image, says nothing of its shape, so the
#: amount of bright object in an image carries no class.
SYN_AREA = 1.6


@functools.cache
def _area(name: str, n: int = 601) -> float:
    """Area of a shape in units of its radius squared (counted on an ``n x n`` grid over [-1.5, 1.5]^2)."""
    g = np.linspace(-1.5, 1.5, n)
    v, u = np.meshgrid(g, g, indexing="ij")
    return float(_SHAPES[name](u, v).sum() * (g[1] - g[0]) ** 2)


def _colour(rng: np.random.Generator, n: int, saturation, value) -> np.ndarray:
    """``(n, 3)`` RGB colours of random hue with saturation and brightness drawn from the ranges."""
    hue = rng.uniform(0, 1, n)
    rgb = 0.5 + 0.5 * np.cos(2 * np.pi * (hue[:, None] + np.array([0.0, 1 / 3, 2 / 3])[None]))
    s = rng.uniform(*saturation, n)[:, None]
    v = rng.uniform(*value, n)[:, None]
    return ((0.5 + (rgb - 0.5) * s) * v * 1.3).astype(np.float32)


def render_shapes(shapes, seed: int, size: int = 32, world: dict | None = None, chunk: int = 512) -> torch.Tensor:
    """Render one object per image over a cluttered background, every nuisance drawn per image.

    Parameters
    ----------
    shapes : sequence of str, length ``n``
        The object of each image: a name of the renderer's shapes (:data:`SYN_SUBCLASSES`,
        :data:`NOVEL_SHAPES`).
    seed : int
        Seed of the per-image draws; the same inputs always give the same images.
    size : int
        Image side in pixels.
    world : dict, optional
        Nuisance parameters (default :data:`SYN_WORLD`; missing keys are taken from it).
    chunk : int
        Images rendered at a time (memory: ``chunk * 3 * (2 * size)**2`` floats).

    Returns
    -------
    torch.Tensor of uint8, shape ``(n, 3, size, size)``

    Examples
    --------
    >>> render_shapes(["disc", "heart"], seed=0).shape
    torch.Size([2, 3, 32, 32])
    """
    p = {**SYN_WORLD, **(world or {})}
    shapes = np.asarray(list(shapes), dtype=object)
    unknown = sorted(set(shapes) - set(_SHAPES))
    if unknown:
        raise ValueError(f"unknown shape(s) {unknown}; valid: {sorted(_SHAPES)}")
    rng = np.random.default_rng(seed)
    out = torch.empty((len(shapes), 3, size, size), dtype=torch.uint8)
    for start in range(0, len(shapes), chunk):
        part = shapes[start : start + chunk]
        out[start : start + len(part)] = _render(part, rng, size, p)
    return out


def _render(shapes: np.ndarray, rng: np.random.Generator, size: int, p: dict) -> torch.Tensor:
    n, ss = len(shapes), int(p["supersample"])
    side = size * ss
    yy, xx = (np.mgrid[0:side, 0:side].astype(np.float32) + 0.5) / side - 0.5
    # background: a colour under a linear lighting gradient
    light = rng.normal(0, p["light"], (n, 2)).astype(np.float32)
    shade = 1 + light[:, 0, None, None] * xx[None] + light[:, 1, None, None] * yy[None]  # (n, side, side)
    img = _colour(rng, n, p["bg_saturation"], p["bg_value"])[:, :, None, None] * shade[:, None]
    # clutter: small discs with strokes through them, in random colours, anywhere
    for _ in range(int(p["clutter"])):
        cx, cy = rng.uniform(-0.5, 0.5, (2, n, 1, 1)).astype(np.float32)
        rad = rng.uniform(0.03, 0.08, (n, 1, 1)).astype(np.float32) * p["clutter_size"]
        theta = rng.uniform(0, np.pi, (n, 1, 1)).astype(np.float32)
        length = rng.uniform(0.05, 0.3, (n, 1, 1)).astype(np.float32) * p["clutter_size"]
        du, dv = xx[None] - cx, yy[None] - cy
        along = du * np.cos(theta) + dv * np.sin(theta)
        across = -du * np.sin(theta) + dv * np.cos(theta)
        item = ((np.abs(along) < length) & (np.abs(across) < rad * 0.5)) | (du**2 + dv**2 < rad**2)
        img = np.where(item[:, None], _colour(rng, n, (0.0, 1.0), (0.2, 1.0))[:, :, None, None], img)
    # the object: position, scale and rotation drawn per image, lit as the background
    cx, cy = rng.uniform(-p["shift"], p["shift"], (2, n, 1, 1)).astype(np.float32)
    r = rng.uniform(*p["radius"], (n, 1, 1)).astype(np.float32)
    tilt = np.deg2rad(p["rotation"])
    theta = rng.uniform(-tilt, tilt, (n, 1, 1)).astype(np.float32)
    du, dv = (xx[None] - cx) / r, (yy[None] - cy) / r
    u, v = du * np.cos(theta) + dv * np.sin(theta), -du * np.sin(theta) + dv * np.cos(theta)
    mask = np.zeros((n, side, side), dtype=bool)
    for name in dict.fromkeys(shapes):
        sel = shapes == name
        k = np.float32(np.sqrt(_area(name) / SYN_AREA))  # coordinates shrink where the shape grows: equal areas
        mask[sel] = _SHAPES[name](u[sel] * k, v[sel] * k)
    fg = _colour(rng, n, p["fg_saturation"], p["fg_value"])[:, :, None, None] * shade[:, None]
    img = np.where(mask[:, None], fg, img)
    img = torch.nn.functional.avg_pool2d(torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)), ss)
    img = img + torch.from_numpy(rng.normal(0, p["noise"], tuple(img.shape)).astype(np.float32))
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def synthetic_images(subclass: np.ndarray, seed: int, size: int = 32) -> torch.Tensor:
    """Images of the smoke world's subclasses: subclass ``c`` is the shape ``SYN_SUBCLASSES[c]``.

    Parameters
    ----------
    subclass : numpy.ndarray of int, shape ``(n,)``
        Subclass id of every image, in ``0 .. len(SYN_SUBCLASSES) - 1``.
    seed : int
        Seed of the per-image draws (:func:`render_shapes`).
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
    subclass = np.asarray(subclass, dtype=np.int64)
    if len(subclass) and (subclass.min() < 0 or subclass.max() >= len(SYN_SUBCLASSES)):
        raise ValueError(f"synthetic subclass ids must lie in 0..{len(SYN_SUBCLASSES) - 1}")
    return render_shapes([SYN_SUBCLASSES[c] for c in subclass], seed, size)


def synthetic_split(split: str) -> Split:
    """The ``"train"`` or ``"val"`` split of the smoke world: ``SYN_SIZES[split]`` images per subclass."""
    per = SYN_SIZES[split]
    subclass = np.repeat(np.arange(len(SYN_SUBCLASSES)), per)
    return Split(
        "synthetic", split, subclass.astype(np.int64), images=synthetic_images(subclass, seed=SYN_SEEDS[split])
    )


def ood_synthetic_split(name: str = "synthetic_novel", per_class: int | None = None) -> tuple[Split, tuple[str, ...]]:
    """One held-out world of the smoke profile, ``per_class`` images (default :data:`OOD_PER_CLASS`) per class.

    Parameters
    ----------
    name : {"synthetic_novel", "synthetic_overlap"}
        ``synthetic_novel``: :data:`NOVEL_SHAPES`, which no training subclass is;
        ``synthetic_overlap``: :data:`OVERLAP_SHAPES`, training subclasses drawn anew.

    Returns
    -------
    split : Split
        ``dataset="synthetic"`` (its normalisation), ``split="ood"``; ``subclass`` holds the class ids.
    class_names : tuple of str
    """
    shapes = {"synthetic_novel": NOVEL_SHAPES, "synthetic_overlap": OVERLAP_SHAPES}.get(name)
    if shapes is None:
        raise ValueError(f"unknown synthetic out-of-distribution world {name!r}; valid: {sorted(OOD_SEEDS)}")
    per = per_class or OOD_PER_CLASS
    cls = np.repeat(np.arange(len(shapes)), per).astype(np.int64)
    images = render_shapes([shapes[c] for c in cls], OOD_SEEDS[name])
    return Split("synthetic", "ood", cls, images=images), tuple(shapes)
