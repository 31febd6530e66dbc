"""BREEDS class hierarchies (living-17, nonliving-26, entity-13) and ImageNet folder reading.

The paper (Sec. 3, Table A.1) trains on three BREEDS benchmarks of Santurkar, Tsipras & Madry
(ICLR 2021): living-17 (17 superclasses x 4 ImageNet classes), nonliving-26 (26 x 4) and entity-13,
which the paper reduces from 20 to 4 subclasses per superclass. Each dataset's *full* class list is
used (the BREEDS source/target split is not).

The class lists are derived from the BREEDS hierarchy files as the BREEDS code derives them, by
``scripts/breeds_builder.py`` (the algorithm is described there), and shipped with the package
(``paperlib/resources/breeds/*.json``, written by ``scripts/make_breeds.py``); they are read with
:func:`load_breeds`; :func:`breeds_wnids` gives the ImageNet wnids of a hierarchy's groups.
:func:`find_imagenet_split` and :func:`imagenet_samples` list the images of a hierarchy's classes in
a local ImageNet folder (``root/{train,val}/<wnid>/*.JPEG``).

Importing this module has no side effects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from . import names
from .hierarchy import Hierarchy

__all__ = [
    "BREEDS_DATASETS",
    "BREEDS_SPECS",
    "check_name",
    "IMAGE_EXTENSIONS",
    "load_breeds",
    "breeds_wnids",
    "find_imagenet_split",
    "imagenet_samples",
]

#: Arguments of ``BreedsDatasetGenerator.get_superclasses`` in ``make_<name>`` of
#: ``robustness.tools.breeds_helpers`` (``balanced=True``, ``random_seed=2`` for all), plus
#: ``keep``: how many of the drawn subclasses this package keeps (the paper's 4 per superclass).
BREEDS_SPECS: dict[str, dict] = {
    "living17": {"level": 5, "ancestor": "n00004258", "n_subclasses": 4, "keep": 4},
    "nonliving26": {"level": 5, "ancestor": "n00021939", "n_subclasses": 4, "keep": 4},
    "entity13": {"level": 3, "ancestor": None, "n_subclasses": 20, "keep": 4},
}

#: Names of the BREEDS datasets handled here (the names :data:`paperlib.names.IMAGENET_DATASETS` lists).
BREEDS_DATASETS: tuple[str, ...] = tuple(BREEDS_SPECS)

#: Image file suffixes accepted by :func:`imagenet_samples` (compared case-insensitively).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png")

_SPLITS = names.SPLITS
_LAYOUT = (
    "expected layout: <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (one folder per "
    "ImageNet class, named by its wnid, e.g. n01440764; this is also the folder torchvision's "
    "ImageNet(root) prepares), or <root>/ILSVRC/Data/CLS-LOC/<split>/<wnid>/; images may be "
    ".JPEG/.jpg/.jpeg/.png"
)


# --------------------------------------------------------------------------- hierarchy
def check_name(name: str) -> None:
    """Raise ``ValueError`` listing the BREEDS datasets if ``name`` is not one (with a hint for ``"<name>-shuffled"``)."""
    if name not in BREEDS_SPECS:
        hint = ""
        if isinstance(name, str) and name.endswith("-shuffled"):
            hint = " (for a shuffled variant load the base hierarchy and call .shuffled(seed))"
        raise ValueError(f"unknown BREEDS dataset {name!r}; valid names: {', '.join(BREEDS_DATASETS)}{hint}")


@cache
def _shipped(name: str) -> dict:
    text = resources.files("paperlib.resources.breeds").joinpath(f"{name}.json").read_text()
    return json.loads(text)


def load_breeds(name: str) -> Hierarchy:
    """The shipped BREEDS hierarchy ``name`` (``paperlib/resources/breeds/<name>.json``).

    The files are written by ``scripts/make_breeds.py`` (``scripts/breeds_builder.py``); no BREEDS files
    are needed at run time. Shuffled variants (``"<name>-shuffled"``) are the caller's job:
    ``load_breeds(name).shuffled(seed)``.

    Parameters
    ----------
    name : {"living17", "nonliving26", "entity13"}
        BREEDS dataset.

    Returns
    -------
    Hierarchy

    Raises
    ------
    ValueError
        If ``name`` is not a known BREEDS dataset.
    """
    check_name(name)
    return Hierarchy.from_dict(_shipped(name))


@lru_cache(maxsize=1)
def _imagenet_id_to_wnid() -> dict[int, str]:
    table: dict[int, str] = {}
    for name in BREEDS_DATASETS:
        d = _shipped(name)
        for g, ws in zip(d["groups"], d["wnids"]):
            for c, w in zip(g, ws):
                table[int(c)] = w
    return table


def breeds_wnids(h: Hierarchy) -> list[list[str]]:
    """ImageNet wnids of a BREEDS-based hierarchy's subclasses, group by group.

    Works for the shipped hierarchies and for their ``.shuffled(seed)`` variants, since the ids are
    ImageNet class indices; the id -> wnid table comes from the shipped JSON files.

    Parameters
    ----------
    h : Hierarchy
        Hierarchy whose subclass ids are ImageNet class indices of BREEDS classes.

    Returns
    -------
    list of list of str
        ``result[s][j]`` is the wnid of ``h.groups[s][j]``.

    Raises
    ------
    KeyError
        If a subclass id is not a class of any shipped BREEDS dataset.
    """
    table = _imagenet_id_to_wnid()
    unknown = [c for g in h.groups for c in g if c not in table]
    if unknown:
        raise KeyError(
            f"hierarchy {h.name!r}: subclass ids {unknown[:5]} ({len(unknown)} in all) are not "
            f"classes of any shipped BREEDS dataset; pass the wnids explicitly"
        )
    return [[table[c] for c in g] for g in h.groups]


# --------------------------------------------------------------------------- ImageNet folders
def _has_class_dirs(folder: Path) -> bool:
    try:
        return any(e.is_dir() and e.name.startswith("n") for e in os.scandir(folder))
    except OSError:
        return False


def find_imagenet_split(root: str | os.PathLike, split: str) -> Path:
    """Folder holding one ``<wnid>/`` sub-folder per ImageNet class for ``split``.

    Accepted layouts, tried in this order:

    * ``root/<split>/<wnid>/`` (the usual one, and what torchvision's ``ImageNet(root)`` prepares);
    * ``root/ILSVRC/Data/CLS-LOC/<split>/<wnid>/`` (the ILSVRC/Kaggle tree, once ``val`` is sorted
      into class folders);
    * ``root`` itself when it is named ``<split>`` and holds wnid folders.

    Parameters
    ----------
    root : str or path-like
        ImageNet root folder.
    split : {"train", "val"}
        Split.

    Returns
    -------
    pathlib.Path
        The split folder.

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"val"``.
    FileNotFoundError
        If ``root`` or the split folder does not exist; the message states the expected layout.
    """
    if split not in _SPLITS:
        raise ValueError(f"unknown ImageNet split {split!r}; valid: {', '.join(_SPLITS)}")
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise FileNotFoundError(
            f"ImageNet root {str(root_path)!r} does not exist or is not a folder (split {split!r}); {_LAYOUT}"
        )
    candidates = [root_path / split, root_path / "ILSVRC" / "Data" / "CLS-LOC" / split]
    for c in candidates:
        if c.is_dir():
            return c
    if root_path.name == split and _has_class_dirs(root_path):
        return root_path
    raise FileNotFoundError(
        f"ImageNet root {str(root_path)!r} has no {split!r} split folder (looked for "
        f"{', '.join(repr(str(c)) for c in candidates)}); {_LAYOUT}"
    )


def _wnid_table(hierarchy: Hierarchy, wnids: Sequence[Sequence[str]] | Mapping[int, str] | None) -> dict[int, str]:
    if wnids is None:
        wnids = breeds_wnids(hierarchy)
    if isinstance(wnids, Mapping):
        table = {int(k): str(v) for k, v in wnids.items()}
        missing = [c for g in hierarchy.groups for c in g if c not in table]
        if missing:
            raise ValueError(f"wnids lack subclass ids {missing[:5]} of {hierarchy.name!r}")
        return {c: table[c] for g in hierarchy.groups for c in g}
    if len(wnids) != len(hierarchy.groups) or any(len(w) != len(g) for w, g in zip(wnids, hierarchy.groups)):
        raise ValueError(
            f"wnids must be parallel to the groups of {hierarchy.name!r} (sizes {hierarchy.subclasses_per_superclass})"
        )
    return {c: str(w) for g, ws in zip(hierarchy.groups, wnids) for c, w in zip(g, ws)}


def imagenet_samples(
    root: str | os.PathLike,
    split: str,
    hierarchy: Hierarchy,
    wnids: Sequence[Sequence[str]] | Mapping[int, str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """List the images of a hierarchy's classes in a local ImageNet split.

    All class folders are checked before any image is listed, so a wrong root fails fast.

    Parameters
    ----------
    root : str or path-like
        ImageNet root (see :func:`find_imagenet_split` for the accepted layouts).
    split : {"train", "val"}
        Split.
    hierarchy : Hierarchy
        Hierarchy whose subclass ids are ImageNet class indices.
    wnids : list of list of str, or mapping int -> str, optional
        wnids parallel to ``hierarchy.groups`` (as from :func:`breeds_wnids`), or a mapping from
        subclass id to wnid. Default: :func:`breeds_wnids` ``(hierarchy)``.

    Returns
    -------
    paths : list of str
        Image paths, sorted by subclass id, then file name.
    subclass_ids : numpy.ndarray of int64
        Subclass id (ImageNet class index) of each image.

    Raises
    ------
    FileNotFoundError
        If the root, the split folder or some class folders are missing, or a class folder holds
        no image; the message names the root, the split, the first missing wnids, how many are
        missing and the expected layout.
    """
    table = _wnid_table(hierarchy, wnids)
    split_dir = find_imagenet_split(root, split)
    order = sorted(table)
    missing = [table[c] for c in order if not (split_dir / table[c]).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"ImageNet root {str(Path(root))!r}, split {split!r} ({str(split_dir)!r}): "
            f"{len(missing)} of {len(order)} class folders of {hierarchy.name!r} are missing, "
            f"e.g. {', '.join(missing[:5])}; {_LAYOUT}"
        )
    paths: list[str] = []
    labels: list[int] = []
    empty: list[str] = []
    for c in order:
        folder = split_dir / table[c]
        files = sorted(
            e.name
            for e in os.scandir(folder)
            if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS and e.is_file()
        )
        if not files:
            empty.append(table[c])
        paths.extend(str(folder / f) for f in files)
        labels.extend([c] * len(files))
    if empty:
        raise FileNotFoundError(
            f"ImageNet root {str(Path(root))!r}, split {split!r} ({str(split_dir)!r}): "
            f"{len(empty)} of {len(order)} class folders of {hierarchy.name!r} hold no image, "
            f"e.g. {', '.join(empty[:5])}; {_LAYOUT}"
        )
    return paths, np.asarray(labels, dtype=np.int64)
