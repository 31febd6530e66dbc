"""One dataset, resolved once: :class:`Dataset` and :func:`resolve`.

A dataset reaches paperlib as a string: a name of :data:`paperlib.names.DATASETS` (``"synthetic"``,
``"cifar100"``, a BREEDS set) or ``"folder:ROOT"``, a researcher's own image folder. The entry points
(the command line, :mod:`paperlib.config`) hold that string, since it is part of every cache key;
:func:`resolve` turns it into a :class:`Dataset` once, at the top of each public function that reads
data, and every layer below receives the object. The object knows its *kind* and answers every
question that depends on it (its hierarchy, its splits, whether it is there, its identity for a cache
key, its normalisation statistics, whether its images are files worth decoding once), so no module
outside :mod:`paperlib.data` asks which kind of dataset it holds.

Examples
--------
>>> ds = resolve("synthetic")
>>> ds.kind, ds.name, ds.decodes_files
('synthetic', 'synthetic', False)
>>> resolve(ds) is ds
True
>>> resolve("imagenet21k")
Traceback (most recent call last):
...
ValueError: unknown dataset 'imagenet21k'; valid: ['synthetic', 'cifar100', 'living17', 'nonliving26', 'entity13'] or folder:ROOT (your own ROOT/<superclass>/<subclass>/*.jpg)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import config, names
from ..hierarchy import Hierarchy
from .cifar import cifar_hierarchy, cifar_split, missing_files, not_found, split_files
from .folder import content_digests, folder_dataset_hierarchy, folder_dataset_split, folder_root
from .imagenet import breeds_hierarchy, breeds_split, check_imagenet
from .kinds import STATISTICS, parse
from .preprocess import NORMALIZE, statistics_of
from .split import DataNotFound, Split
from .synthetic import synthetic_hierarchy, synthetic_split

__all__ = ["Dataset", "data_identity", "resolve", "statistics_known"]


@dataclass(frozen=True)
class Dataset:
    """A dataset: its canonical name, its kind and where its files are.

    Made by :func:`resolve`, never by hand. The methods read the files when called (nothing is held), so
    a folder whose images change is read afresh, as the readers' own memos allow.

    Attributes
    ----------
    name : str
        The canonical name (a folder's ``ROOT`` absolute and resolved): what cache keys and tables hold.
    kind : {"synthetic", "cifar100", "breeds", "folder"}
        :data:`paperlib.data.KINDS`.
    root : pathlib.Path or None
        The data root (``cifar100``, ``breeds``: :func:`paperlib.config.data_root`), the folder itself
        (``folder``); a synthetic dataset, made in code, reads nothing there.
    """

    name: str
    kind: str
    root: Path

    def __str__(self) -> str:
        return self.name

    # -- what depends on the kind --------------------------------------------------------------
    @property
    def statistics(self) -> str:
        """The key of :data:`paperlib.data.NORMALIZE` its images are normalised with."""
        return STATISTICS[self.kind]

    @property
    def mean(self) -> tuple[float, float, float]:
        """Per-channel mean on the 0-1 scale (:attr:`statistics`)."""
        return NORMALIZE[self.statistics][0]

    @property
    def std(self) -> tuple[float, float, float]:
        """Per-channel standard deviation on the 0-1 scale (:attr:`statistics`)."""
        return NORMALIZE[self.statistics][1]

    @property
    def decodes_files(self) -> bool:
        """Whether its images are image files (BREEDS, folders), which :func:`paperlib.data.decode_once`
        can decode once instead of every epoch; in-memory arrays (synthetic, CIFAR-100) are not."""
        return self.kind in ("breeds", "folder")

    @property
    def cheap_identity(self) -> bool:
        """Whether :meth:`identity` costs little (no walk over image files): synthetic, CIFAR-100."""
        return self.kind in ("synthetic", "cifar100")

    def base_hierarchy(self) -> Hierarchy:
        """Its own superclass -> subclass hierarchy."""
        if self.kind == "folder":
            return folder_dataset_hierarchy(self.name)
        if self.kind == "synthetic":
            return synthetic_hierarchy()
        if self.kind == "cifar100":
            return cifar_hierarchy(self.root)
        return breeds_hierarchy(self.name)

    def hierarchy(self, variant: str = "standard", shuffle_seed: int = 0) -> Hierarchy:
        """The hierarchy a model trains on: its own, its seeded shuffle (Sec. 5.1), or the subclasses
        themselves (``"subclass"``, Sec. 5.2)."""
        names.check("training labels", variant)
        h = self.base_hierarchy()
        if variant == "subclass":  # every subclass its own class (Sec. 5.2)
            return h.fine()
        return h if variant == "standard" else h.shuffled(shuffle_seed)

    def split(self, split: str, *, per_subclass: int | None = None) -> Split:
        """One split (``"train"`` or ``"val"``), the first ``per_subclass`` images of every subclass if
        given; never downloads (:class:`DataNotFound` if the files are not there)."""
        names.check("split", split)
        if self.kind == "folder":
            s = folder_dataset_split(self.name, split)
        elif self.kind == "synthetic":
            s = synthetic_split(split)
        elif self.kind == "cifar100":
            s = cifar_split(self.root, split)
        else:
            s = breeds_split(self.name, self.root, split)
        return s.per_subclass(per_subclass)

    def check(self) -> None:
        """Raise :class:`DataNotFound` (or :class:`paperlib.data.FolderLayoutError`, naming the bad
        files) now, before any compute, if it is not there."""
        if self.kind == "folder":  # reads the layout and checks every image: a wrong folder stops here
            folder_dataset_split(self.name, "train"), folder_dataset_split(self.name, "val")
        elif self.kind == "cifar100":
            missing = missing_files(self.root)
            if missing:
                raise not_found(self.root, missing)
        elif self.kind == "breeds":
            check_imagenet(self.name, self.root)

    def ensure(self, download: bool = False) -> Path:
        """Make sure it is there, downloading CIFAR-100 only if ``download`` (ImageNet cannot be
        downloaded; synthetic data needs nothing). Returns its root (the folder, or the data root)."""
        if self.kind == "folder":  # the user's own folder: nothing to fetch
            self.check()
            return self.root
        root = self.root
        if self.kind == "cifar100" and missing_files(root) and download:
            import torchvision

            root.mkdir(parents=True, exist_ok=True)
            try:
                torchvision.datasets.CIFAR100(str(root), train=True, download=True)
            except Exception as exc:  # noqa: BLE001 - any network failure ends in the same advice
                raise DataNotFound(
                    f"downloading CIFAR-100 failed ({exc}).\n" + str(not_found(root, missing_files(root)))
                ) from exc
        self.check()
        return root

    def identity(self, splits=("train", "val")) -> dict[str, Any]:
        """What its splits read, as JSON-ready data for a cache key (:func:`data_identity` documents the
        fields of each kind)."""
        from .. import breeds, provenance

        splits = tuple(sorted(set(splits)))
        for s in splits:
            names.check("split", s)
        out: dict[str, Any] = {"dataset": self.name, "splits": list(splits)}
        if self.kind == "synthetic":
            fp = tuple(provenance.module_fingerprint(m) for m in ("data.split", "data.synthetic"))
            for s in splits:
                out.setdefault("images", {})[s] = dict(_synthetic_identity(s, fp))
        elif self.kind == "folder":
            root = self.root  # canonical: resolved when the name was parsed
            h = self.base_hierarchy()
            out["hierarchy"] = provenance.text_digest(json.dumps(h.to_dict(), sort_keys=True, default=str))
            for s in splits:
                sp = self.split(s)
                digests = content_digests(sp.paths, root)
                rel = sorted((os.path.relpath(p, root), d, int(c)) for p, d, c in zip(sp.paths, digests, sp.subclass))
                out.setdefault("images", {})[s] = {
                    "n_files": len(rel),
                    "sha256": provenance.text_digest(json.dumps(rel)),
                }
        elif self.kind == "cifar100":
            self.check()
            files = sorted({f for s in splits for f in split_files(s)})
            out["files"] = {
                f: {"size": (self.root / f).stat().st_size, "sha256": provenance.file_digest(self.root / f)[:16]}
                for f in files
            }
        else:
            h = breeds.load_breeds(self.name)
            out["hierarchy"] = provenance.text_digest(json.dumps(h.to_dict(), sort_keys=True, default=str))
            for s in splits:
                split_dir = breeds.find_imagenet_split(self.root, s)
                dirs = [split_dir / w for g in breeds.breeds_wnids(h) for w in g]
                sig = tuple(
                    (str(d), d.stat().st_mtime_ns, len(os.listdir(d))) if d.is_dir() else (str(d), None) for d in dirs
                )
                out.setdefault("files", {})[s] = dict(_breeds_identity(self.name, s, self.root, sig))
        out["sha256"] = provenance.text_digest(json.dumps(out, sort_keys=True))
        return out


def data_identity(dataset, data_root: str | os.PathLike | None = None, *, splits=("train", "val")) -> dict:
    """What the splits of a dataset read, as JSON-ready data for a cache key.

    Parameters
    ----------
    dataset : str or paperlib.data.Dataset
        One of :data:`paperlib.data.DATASETS`, ``"folder:ROOT"``, or a resolved dataset
        (:func:`paperlib.data.resolve`; :meth:`paperlib.data.Dataset.identity` computes this).
    data_root : path-like, optional
        See :func:`paperlib.config.data_root`.
    splits : sequence of {"train", "val"}
        The splits that the artifact reads (models: ``("train",)``; scores: both).

    Returns
    -------
    dict
        ``dataset``, ``splits``, ``sha256`` (a digest of all that follows) and per dataset:

        - ``"synthetic"``: the digest of the generated images and labels of each split (made in
          code; memoised per process on the fingerprints of :mod:`paperlib.data.split` and
          :mod:`paperlib.data.synthetic`, so a change of ``SYN_SIZES`` or of the generator is seen);
        - ``"cifar100"``: ``files``: size and SHA-256 of each file the splits read (the
          ``meta`` file and ``train`` and/or ``test``), hashed once per process per
          (path, size, mtime);
        - ``"folder:ROOT"``: per split ``n_files`` and a digest of the sorted (path relative to
          ``ROOT``, SHA-256 of the file's content, subclass) of every image it reads (bad files left
          out with :func:`paperlib.data.folder.set_skip_bad_images` are not), plus the hierarchy; the
          content hashes are remembered by path, size and modification time
          (:func:`paperlib.data.folder.content_digests`);
        - BREEDS datasets: ``n_files`` per split and a digest of the sorted (path relative to the
          data root, size) of every image the split reads, plus the hierarchy (memoised per
          process on the class folders' modification times and numbers of entries).

        Nothing depends on where the data root is, so a moved data root keeps its identity.

    Raises
    ------
    paperlib.data.DataNotFound, FileNotFoundError
        If the dataset's files are not there.
    """
    return resolve(dataset, data_root).identity(splits)


# The identities of splits, memoised per process by what identifies them (an lru_cache, not a module-level
# dict: provenance.module_fingerprint describes a dict by its contents, a cached function by its source).
@functools.lru_cache(maxsize=64)
def _synthetic_identity(split: str, fingerprint: tuple) -> dict[str, Any]:
    """``n_images`` and a digest of the generated images and subclass labels of a synthetic split; cached
    on the fingerprints of the generator's modules, so a change of ``SYN_SIZES`` or of the generator is seen."""
    sp = synthetic_split(split)
    h = hashlib.sha256(np.ascontiguousarray(sp.subclass, dtype=np.int64).tobytes())
    h.update(sp.images.contiguous().numpy().tobytes())
    return {"n_images": len(sp), "sha256": h.hexdigest()[:16]}


@functools.lru_cache(maxsize=64)
def _breeds_identity(name: str, split: str, root: Path, signature: tuple) -> dict[str, Any]:
    """``n_files`` and a digest of the sorted (path relative to the data root, size, subclass) of every
    image a BREEDS split reads; cached on the class folders' ``signature`` (modification times, entries)."""
    from .. import breeds, provenance

    paths, subclass = breeds.imagenet_samples(root, split, breeds.load_breeds(name))
    lines = [f"{os.path.relpath(p, root)}\t{os.stat(p).st_size}\t{c}" for p, c in zip(paths, subclass)]
    return {"n_files": len(paths), "sha256": provenance.text_digest("\n".join(sorted(lines)))}


def resolve(dataset: str | Dataset, data_root: str | os.PathLike | None = None) -> Dataset:
    """The :class:`Dataset` a string names (``dataset`` itself if it is one already).

    Parameters
    ----------
    dataset : str or Dataset
        One of :data:`paperlib.names.DATASETS`, or ``"folder:ROOT"`` (``ROOT/<superclass>/<subclass>/
        *.{jpg,jpeg,png}``, :func:`paperlib.data.folder_dataset_split`).
    data_root : path-like, optional
        Where CIFAR-100 and ImageNet are (:func:`paperlib.config.data_root`: this, else
        ``$PAPERLIB_DATA``, else the user cache). Ignored for a :class:`Dataset`, which has its root.

    Raises
    ------
    ValueError
        If ``dataset`` names no dataset (the message lists the valid names).
    """
    if isinstance(dataset, Dataset):
        return dataset
    if not isinstance(dataset, str):
        names.check("dataset", dataset)  # raises, listing the valid names
    name, kind = parse(dataset)
    if kind == "folder":
        root = folder_root(name)
    else:  # read by CIFAR-100 and BREEDS; synthetic data, made in code, only reports it (ensure_data)
        root = config.data_root(data_root)
    return Dataset(name, kind, root)


def statistics_known(dataset) -> bool:
    """Whether ``dataset`` (a dataset name, ``"folder:ROOT"``, a :class:`Dataset`, or a key of
    :data:`paperlib.data.NORMALIZE`) has known normalisation statistics.

    Examples
    --------
    >>> statistics_known("living17"), statistics_known("imagenet"), statistics_known("my-birds")
    (True, True, False)
    """
    try:
        statistics_of(dataset)
    except (ValueError, TypeError):
        return False
    return True
