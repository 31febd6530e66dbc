"""A researcher's own image folder ``ROOT/<superclass>/<subclass>/*.{jpg,jpeg,png}`` as a split and its hierarchy.

:func:`folder_split` reads the layout (nothing decoded); :func:`find_bad_images` decodes every file
once, at reduced JPEG scale, to find the unreadable or truncated ones before any model is built.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..hierarchy import Hierarchy
from .split import DataNotFound, Split

__all__ = [
    "FOLDER_DATASET", "IMAGE_EXTENSIONS", "LAYOUT", "VAL_EVERY", "FolderLayoutError", "BadImageError", "folder_split",
    "find_bad_images", "drop_bad_images", "folder_root", "folder_dataset_split",
    "folder_dataset_hierarchy",
]

#: Dataset name of folder splits; :func:`paperlib.data.normalize` uses ImageNet statistics for it.
FOLDER_DATASET = "imagefolder"
#: File name endings accepted as images (compared case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
#: The folder layout :func:`folder_split` expects, quoted in its error messages.
LAYOUT = "ROOT/<superclass>/<subclass>/<image>.{jpg,jpeg,png}"


class FolderLayoutError(ValueError):
    """An image folder does not have the two-level layout; the message names the folder."""


class BadImageError(ValueError):
    """Image files of a folder cannot be decoded (truncated, corrupt, not images); the message lists them."""


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS


def _subdirs(p: Path) -> list[Path]:
    return sorted((c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".")), key=lambda c: c.name)


def _layout_error(msg: str, root: Path) -> FolderLayoutError:
    return FolderLayoutError(
        f"{msg}\nExpected layout: {LAYOUT}, i.e. {root}/<superclass>/<subclass>/*.jpg with at least "
        "2 subclass folders in every superclass folder and at least one image in every subclass folder."
    )


def folder_split(root: str | Path, max_per_subclass: int | None = None) -> tuple[Split, Hierarchy]:
    """Read a two-level image folder into a split and its hierarchy.

    Superclasses are the sorted folder names under ``root``, subclasses the sorted folder names
    under each superclass (hidden folders, starting with ``.``, are skipped); subclass ids run
    ``0 .. n_subclasses - 1`` in that order. Images are the files ending in ``.jpg``, ``.jpeg`` or
    ``.png`` (any case), sorted by name; nothing is decoded here.

    Parameters
    ----------
    root : path-like
        ``ROOT`` of ``ROOT/<superclass>/<subclass>/*.{jpg,jpeg,png}``.
    max_per_subclass : int, optional
        Keep only the first ``max_per_subclass`` images (by file name) of every subclass.

    Returns
    -------
    split : paperlib.Split
        ``dataset="imagefolder"``, ``split="val"``, ``paths`` (``n_images`` files) and
        ``subclass`` (int64, shape ``(n_images,)``).
    hierarchy : paperlib.hierarchy.Hierarchy
        Named after the folder; ``superclasses`` and ``subclass_names`` are the folder names.

    Raises
    ------
    paperlib.DataNotFound
        If ``root`` does not exist or is not a folder.
    FolderLayoutError
        If ``root`` has no superclass folders, a superclass folder has fewer than 2 subclass
        folders, or a subclass folder has no images; the message names the folder.
    """
    root = Path(root).expanduser()
    if max_per_subclass is not None and int(max_per_subclass) < 1:
        raise ValueError(f"max_per_subclass must be >= 1, got {max_per_subclass}")
    if not root.exists():
        raise DataNotFound(f"image folder {root} does not exist.\nExpected layout: {LAYOUT}")
    if not root.is_dir():
        raise DataNotFound(f"{root} is not a folder.\nExpected layout: {LAYOUT}")
    supers = _subdirs(root)
    if not supers:
        loose = sum(_is_image(p) for p in root.iterdir())
        hint = f" (it holds {loose} image files directly: move them into subclass folders)" if loose else ""
        raise _layout_error(f"{root} has no superclass folders{hint}.", root)
    paths: list[str] = []
    subclass: list[int] = []
    groups, sub_names = [], []
    for sdir in supers:
        subs = _subdirs(sdir)
        loose = [p for p in sdir.iterdir() if _is_image(p)]
        if not subs:
            hint = f"; it holds {len(loose)} images directly, which need a subclass folder level" if loose else ""
            raise _layout_error(f"superclass folder {sdir} has no subclass folders{hint}.", root)
        if len(subs) < 2:
            raise _layout_error(
                f"superclass folder {sdir} has only 1 subclass folder ({subs[0].name}); clustering within a "
                "superclass needs at least 2 subclasses.", root)
        if loose:
            warnings.warn(f"{sdir}: ignoring {len(loose)} images directly in a superclass folder", stacklevel=2)
        group = []
        for cdir in subs:
            images = sorted((p for p in cdir.iterdir() if _is_image(p)), key=lambda p: p.name)
            if not images:
                deeper = _subdirs(cdir)
                hint = f" (it has sub-folders {[d.name for d in deeper[:3]]}: too deep a layout)" if deeper else ""
                raise _layout_error(
                    f"subclass folder {cdir} has no images ({', '.join(IMAGE_EXTENSIONS)}){hint}.", root)
            if max_per_subclass is not None:
                images = images[: int(max_per_subclass)]
            c = len(sub_names)
            sub_names.append(cdir.name)
            group.append(c)
            paths += [str(p) for p in images]
            subclass += [c] * len(images)
        groups.append(tuple(group))
    h = Hierarchy(root.resolve().name or "imagefolder", tuple(s.name for s in supers), tuple(groups), tuple(sub_names))
    split = Split(FOLDER_DATASET, "val", np.asarray(subclass, dtype=np.int64), paths=paths)
    return split, h


def _image_problem(path: str) -> str | None:
    """Why ``path`` cannot be decoded, or None. JPEGs are decoded at 1/8 scale (``draft``): every
    byte of the entropy-coded data is still read, so truncation is caught, at about half the cost of a
    full decode (``Image.verify`` alone does not notice a truncated JPEG)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft(im.mode, (1, 1))  # no-op for formats other than JPEG
            im.load()
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError ... for bad data
        return f"{type(exc).__name__}: {exc}"
    return None


def find_bad_images(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """Image files that cannot be decoded, as ``(path, reason)`` pairs in the order of ``paths``.

    Every file is opened and decoded with PIL (JPEGs at reduced scale), which catches files that
    are not images, corrupt files and truncated files (unless
    ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` was set). About 1 ms per image on one CPU core.
    """
    bad = []
    for p in paths:
        why = _image_problem(str(p))
        if why is not None:
            bad.append((str(p), why))
    return bad


def drop_bad_images(split: Split, h: Hierarchy, skip: bool, stream) -> Split:
    """Check every image of ``split`` (:func:`find_bad_images`); raise :class:`BadImageError` or skip them.

    With ``skip``, the files that cannot be decoded are left out and listed on ``stream`` (a text
    file); :class:`BadImageError` if that empties a subclass. Returns the split of the good images.
    """
    bad = find_bad_images(split.paths)
    if not bad:
        return split
    shown = "\n".join(f"  {p} ({why})" for p, why in bad[:50])
    more = f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else ""
    if not skip:
        raise BadImageError(
            f"{len(bad)} of {len(split)} image files cannot be decoded:\n{shown}{more}\n"
            "Remove or replace them, or skip them with --skip-bad-images (skip_bad_images=True).")
    gone = {p for p, _ in bad}
    keep = np.array([p not in gone for p in split.paths], dtype=bool)
    counts = np.bincount(split.subclass[keep], minlength=h.n_subclasses)
    empty = [h.subclass_names[c] for c in range(h.n_subclasses) if counts[c] == 0]
    if empty:
        raise BadImageError(f"no decodable images left in subclass folders {empty} after skipping "
                            f"{len(bad)} bad files:\n{shown}{more}")
    print(f"skipping {len(bad)} image files that cannot be decoded:\n{shown}{more}", file=stream)
    return Split(split.dataset, split.split, split.subclass[keep],
                      paths=[p for p, k in zip(split.paths, keep) if k])


# --------------------------------------------------------------------------- "folder:ROOT" as a dataset
#: Without ``ROOT/train`` and ``ROOT/val``, every ``VAL_EVERY``-th image of a subclass (by file name:
#: positions 4, 9, 14, ...) is a validation image, the others are training images.
VAL_EVERY = 5


def folder_root(dataset: str) -> Path:
    """The ``ROOT`` of a ``"folder:ROOT"`` dataset name (user home expanded)."""
    from .. import names

    if not names.is_folder(dataset):
        raise ValueError(f"not a folder dataset: {dataset!r} (expected {names.FOLDER_PREFIX}ROOT)")
    return Path(dataset[len(names.FOLDER_PREFIX):].strip()).expanduser()


def _split_layout(root: Path) -> bool:
    """Whether ``root`` is split by the user: exactly ``train`` and ``val`` folders at the top."""
    if not root.is_dir():
        return False
    tops = {c.name for c in _subdirs(root)}
    return tops == {"train", "val"}


def _read(dataset: str) -> dict:
    root = folder_root(dataset)
    if not root.exists():
        raise DataNotFound(f"image folder {root} (dataset {dataset!r}) does not exist.\nExpected layout: {LAYOUT}, "
                           f"optionally split as ROOT/train/... and ROOT/val/...")
    if _split_layout(root):
        tr, h = folder_split(root / "train")
        va, hv = folder_split(root / "val")
        if (h.superclasses, h.subclass_names, h.groups) != (hv.superclasses, hv.subclass_names, hv.groups):
            raise FolderLayoutError(f"{root}/train and {root}/val hold different superclass or subclass folders; "
                                    "both need the same <superclass>/<subclass> folders")
        h = Hierarchy(root.resolve().name, h.superclasses, h.groups, h.subclass_names)
        return {"hierarchy": h, "train": (tr.paths, tr.subclass),
                "val": (va.paths, va.subclass)}
    whole, h = folder_split(root)
    pos = np.zeros(len(whole), dtype=np.int64)  # position of each image within its subclass (files sorted by name)
    for c in np.unique(whole.subclass):
        idx = np.flatnonzero(whole.subclass == c)
        pos[idx] = np.arange(len(idx))
    val = pos % VAL_EVERY == VAL_EVERY - 1
    out = {"hierarchy": h}
    for name, mask in (("train", ~val), ("val", val)):
        out[name] = ([p for p, m in zip(whole.paths, mask) if m], whole.subclass[mask])
    return out


def folder_dataset_hierarchy(dataset: str) -> Hierarchy:
    """The hierarchy of a ``"folder:ROOT"`` dataset: its superclass and subclass folder names."""
    return _read(dataset)["hierarchy"]


def folder_dataset_split(dataset: str, split: str) -> Split:
    """One split of a ``"folder:ROOT"`` dataset.

    ``ROOT/train/<superclass>/<subclass>/*`` and ``ROOT/val/...`` when ``ROOT`` holds exactly those two
    folders; otherwise ``ROOT/<superclass>/<subclass>/*`` split by file name within each subclass:
    every :data:`VAL_EVERY`-th image (positions 4, 9, 14, ... of the sorted names) is a validation
    image, the rest are training images. Nothing is decoded.

    Returns
    -------
    Split
        ``dataset`` is the name given (ImageNet statistics normalise it), ``paths`` and ``subclass``.
    """
    paths, subclass = _read(dataset)[split]
    if len(paths) == 0:
        raise FolderLayoutError(f"{folder_root(dataset)}: no {split} images (a subclass folder needs at least "
                                f"{VAL_EVERY} images for one of them to be a validation image)")
    return Split(dataset, split, np.asarray(subclass, dtype=np.int64), paths=list(paths))
