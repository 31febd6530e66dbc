"""A researcher's own image folder ``ROOT/<superclass>/<subclass>/*.{jpg,jpeg,png}`` as a split and its hierarchy.

:func:`folder_split` reads the layout (nothing decoded); :func:`find_bad_images` decodes every file
once, at reduced JPEG scale, to find the unreadable or truncated ones before any model is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..hierarchy import Hierarchy
from .images import image_problem
from .split import DataNotFound, Split

__all__ = [
    "FOLDER_DATASET",
    "IMAGE_EXTENSIONS",
    "LAYOUT",
    "VAL_EVERY",
    "FolderLayoutError",
    "BadImageError",
    "folder_split",
    "find_bad_images",
    "drop_bad_images",
    "folder_root",
    "folder_dataset_split",
    "folder_dataset_hierarchy",
    "inspect_images",
    "content_digests",
    "set_skip_bad_images",
    "skip_bad_images",
    "MIN_VAL_PER_SUBCLASS",
    "SKIP_BAD_ENV",
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
    """An image file of the dataset: a visible file (not ``.x``, nor AppleDouble ``._x.png``) with an image ending."""
    return not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()


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
                "superclass needs at least 2 subclasses.",
                root,
            )
        if loose:
            warnings.warn(f"{sdir}: ignoring {len(loose)} images directly in a superclass folder", stacklevel=2)
        group = []
        for cdir in subs:
            images = sorted((p for p in cdir.iterdir() if _is_image(p)), key=lambda p: p.name)
            if not images:
                deeper = _subdirs(cdir)
                hint = f" (it has sub-folders {[d.name for d in deeper[:3]]}: too deep a layout)" if deeper else ""
                raise _layout_error(
                    f"subclass folder {cdir} has no images ({', '.join(IMAGE_EXTENSIONS)}){hint}.", root
                )
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
    """Why ``path`` cannot be decoded, or None (:func:`paperlib.data.images.image_problem`)."""
    return image_problem(path)


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
            "Remove or replace them, or skip them with --skip-bad-images (skip_bad_images=True)."
        )
    gone = {p for p, _ in bad}
    keep = np.array([p not in gone for p in split.paths], dtype=bool)
    counts = np.bincount(split.subclass[keep], minlength=h.n_subclasses)
    empty = [h.subclass_names[c] for c in range(h.n_subclasses) if counts[c] == 0]
    if empty:
        raise BadImageError(
            f"no decodable images left in subclass folders {empty} after skipping {len(bad)} bad files:\n{shown}{more}"
        )
    print(f"skipping {len(bad)} image files that cannot be decoded:\n{shown}{more}", file=stream)
    return Split(split.dataset, split.split, split.subclass[keep], paths=[p for p, k in zip(split.paths, keep) if k])


# --------------------------------------------------------------------------- "folder:ROOT" as a dataset
#: Without ``ROOT/train`` and ``ROOT/val``, every ``VAL_EVERY``-th image of a subclass (by file name:
#: positions 4, 9, 14, ...) is a validation image, the others are training images.
VAL_EVERY = 5
#: Every subclass needs at least this many validation images: one without any would leave its
#: superclass clustered against fewer subclasses (its AMI silently lower).
MIN_VAL_PER_SUBCLASS = 1
#: Environment variable that :func:`set_skip_bad_images` sets, so that the jobs a command starts
#: (``train --launcher``) read the folder as it does.
SKIP_BAD_ENV = "PAPERLIB_SKIP_BAD_IMAGES"


def set_skip_bad_images(skip: bool) -> None:
    """Leave out (``True``) or refuse (``False``, the default) the image files of ``"folder:ROOT"``
    datasets that cannot be decoded, in this process and the jobs it starts (through :data:`SKIP_BAD_ENV`).
    What is left out is no part of the data, so it is not in the data's identity either."""
    if skip:
        os.environ[SKIP_BAD_ENV] = "1"
    else:
        os.environ.pop(SKIP_BAD_ENV, None)


def skip_bad_images() -> bool:
    """Whether bad image files of folder datasets are left out (:func:`set_skip_bad_images`)."""
    return os.environ.get(SKIP_BAD_ENV, "") not in ("", "0")


#: ``{(absolute path, size, mtime_ns): (sha256, problem or None)}`` of every file looked at in this process.
_SEEN: dict[tuple[str, int, int], tuple[str, str | None]] = {}
#: ``(root, files left out)`` already reported by this process (one message per folder and set of bad files).
_WARNED: set[tuple[str, tuple[str, ...]]] = set()


def _index_file(root: Path) -> Path:
    """Where what :func:`inspect_images` found in ``root`` is kept between processes."""
    from .. import config

    return config.cache_root() / "folder-index" / f"{hashlib.sha256(str(root).encode()).hexdigest()[:16]}.json"


def _load_index(root: Path) -> None:
    try:
        rows = json.loads(_index_file(root).read_text())
        _SEEN.update({(p, size, mtime): (sha, why) for p, size, mtime, sha, why in rows})
    except (OSError, ValueError, TypeError):
        pass  # no index yet, or unreadable: every file is read again


def _save_index(root: Path) -> None:
    from ..cache import write_atomic

    prefix = str(root) + os.sep
    rows = [[p, size, mtime, sha, why] for (p, size, mtime), (sha, why) in _SEEN.items() if p.startswith(prefix)]
    try:
        write_atomic(_index_file(root), json.dumps(rows).encode())
    except OSError:
        pass  # a read-only cache: only slower next time


def _inspect_one(path: str) -> tuple[str, str | None]:
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _SEEN:
        with open(path, "rb") as fh:
            blob = fh.read()
        _SEEN[key] = (hashlib.sha256(blob).hexdigest(), image_problem(path, blob))
    return _SEEN[key]


def inspect_images(paths: Sequence[str], root: str | Path) -> dict[str, tuple[str, str | None]]:
    """Every file's content hash and problem: ``{path: (sha256, why it cannot be decoded or None)}``.

    Each file is read once, hashed and decoded (:func:`paperlib.data.images.image_problem`); what was
    found is remembered by (path, size, modification time), in this process and in
    ``<cache>/folder-index/`` for ``root``, so that looking again costs a ``stat`` per file.
    """
    root = Path(os.path.abspath(Path(root).expanduser()))
    if not any(k[0].startswith(str(root) + os.sep) for k in _SEEN):
        _load_index(root)
    before = len(_SEEN)
    out = {str(p): _inspect_one(os.path.abspath(p)) for p in paths}
    if len(_SEEN) != before:
        _save_index(root)
    return out


def content_digests(paths: Sequence[str], root: str | Path) -> list[str]:
    """The SHA-256 of each file's content, in the order of ``paths`` (remembered: :func:`inspect_images`)."""
    found = inspect_images(paths, root)
    return [found[str(p)][0] for p in paths]


def _bad_list(bad: list[tuple[str, str]]) -> str:
    shown = "\n".join(f"  {p} ({why})" for p, why in bad[:50])
    return shown + (f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else "")


def _checked(out: dict, root: Path) -> dict:
    """``out`` of :func:`_read` with every image of both splits checked before any compute: bad files
    listed together (:class:`BadImageError`) or, with :func:`skip_bad_images`, left out; then every
    subclass must keep :data:`MIN_VAL_PER_SUBCLASS` validation images."""
    h = out["hierarchy"]
    found = inspect_images([p for s in ("train", "val") for p in out[s][0]], root)
    bad = [(p, found[p][1]) for s in ("train", "val") for p in out[s][0] if found[p][1] is not None]
    if bad and not skip_bad_images():
        n = len(out["train"][0]) + len(out["val"][0])
        raise BadImageError(
            f"{len(bad)} of {n} image files of {root} cannot be decoded:\n{_bad_list(bad)}\n"
            "Remove or replace them, or leave them out with --skip-bad-images "
            "(paperlib.data.folder.set_skip_bad_images(True))."
        )
    if bad:
        gone = {p for p, _ in bad}
        for s in ("train", "val"):
            paths, sub = out[s]
            keep = np.array([p not in gone for p in paths], dtype=bool)
            out[s] = ([p for p, k in zip(paths, keep) if k], np.asarray(sub)[keep])
        key = (str(root), tuple(sorted(gone)))
        if key not in _WARNED:
            _WARNED.add(key)
            print(
                f"skipping {len(bad)} image files of {root} that cannot be decoded:\n{_bad_list(bad)}", file=sys.stderr
            )
    for s, least in (("train", 1), ("val", MIN_VAL_PER_SUBCLASS)):
        counts = np.bincount(np.asarray(out[s][1], dtype=np.int64), minlength=h.n_subclasses)
        few = [f"{h.subclass_names[c]} ({counts[c]})" for c in range(h.n_subclasses) if counts[c] < least]
        if few:
            rule = (
                ""
                if _split_layout(root)
                else f" (every {VAL_EVERY}th image of a subclass folder, by name, is a "
                f"validation image: a subclass folder needs at least {VAL_EVERY * least} images)"
            )
            raise FolderLayoutError(
                f"{root}: {len(few)} subclasses have fewer than {least} {s} images{rule}: {', '.join(few[:20])}"
                + (" ..." if len(few) > 20 else "")
                + "; add images to them, or remove those subclass folders"
            )
    return out


def folder_root(dataset: str) -> Path:
    """The ``ROOT`` of a ``"folder:ROOT"`` dataset name (user home expanded)."""
    from .. import names

    if not names.is_folder(dataset):
        raise ValueError(f"not a folder dataset: {dataset!r} (expected {names.FOLDER_PREFIX}ROOT)")
    return Path(dataset[len(names.FOLDER_PREFIX) :].strip()).expanduser()


def _split_layout(root: Path) -> bool:
    """Whether ``root`` is split by the user: exactly ``train`` and ``val`` folders at the top."""
    if not root.is_dir():
        return False
    tops = {c.name for c in _subdirs(root)}
    return tops == {"train", "val"}


def _read(dataset: str) -> dict:
    root = folder_root(dataset)
    if not root.exists():
        raise DataNotFound(
            f"image folder {root} (dataset {dataset!r}) does not exist.\nExpected layout: {LAYOUT}, "
            f"optionally split as ROOT/train/... and ROOT/val/..."
        )
    if _split_layout(root):
        tr, h = folder_split(root / "train")
        va, hv = folder_split(root / "val")
        if (h.superclasses, h.subclass_names, h.groups) != (hv.superclasses, hv.subclass_names, hv.groups):
            raise FolderLayoutError(
                f"{root}/train and {root}/val hold different superclass or subclass folders; "
                "both need the same <superclass>/<subclass> folders"
            )
        h = Hierarchy(root.resolve().name, h.superclasses, h.groups, h.subclass_names)
        return _checked({"hierarchy": h, "train": (tr.paths, tr.subclass), "val": (va.paths, va.subclass)}, root)
    whole, h = folder_split(root)
    pos = np.zeros(len(whole), dtype=np.int64)  # position of each image within its subclass (files sorted by name)
    for c in np.unique(whole.subclass):
        idx = np.flatnonzero(whole.subclass == c)
        pos[idx] = np.arange(len(idx))
    val = pos % VAL_EVERY == VAL_EVERY - 1
    out = {"hierarchy": h}
    for name, mask in (("train", ~val), ("val", val)):
        out[name] = ([p for p, m in zip(whole.paths, mask) if m], whole.subclass[mask])
    return _checked(out, root)


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
        raise FolderLayoutError(
            f"{folder_root(dataset)}: no {split} images (a subclass folder needs at least "
            f"{VAL_EVERY} images for one of them to be a validation image)"
        )
    return Split(dataset, split, np.asarray(subclass, dtype=np.int64), paths=list(paths))
