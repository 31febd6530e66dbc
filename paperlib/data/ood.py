"""Out-of-distribution image sets (paper Sec. 5.2): flat class sets clustered as a whole.

Each set is read from the data root in its own on-disk format, never downloaded unless asked
(:func:`ensure_ood` with ``download=True``, which only the command line's ``--download`` and
``make book`` pass):

``synthetic_novel``, ``synthetic_overlap`` (profile ``smoke``)
    The held-out synthetic worlds, made in code (:func:`paperlib.data.synthetic.ood_synthetic_split`):
    eight shapes no training subclass is (the analogue of tf_flowers and UC Merced), and eight
    training subclasses drawn anew (the analogue of Pets, whose breeds overlap ImageNet's).
``cifar10``, ``svhn`` (``quick``, ``cifar``)
    CIFAR-10's test set, ``<root>/cifar-10-batches-py/{test_batch,batches.meta}`` (python pickles),
    and SVHN's test set, ``<root>/svhn/test_32x32.mat`` (MATLAB), as torchvision writes them: one
    with much in common with CIFAR-100's images, one with nothing.
``tf_flowers``, ``uc_merced``, ``pets``, ``cars`` (``paper``)
    ImageFolder layout ``<root>/ood/<set>/<class>/*.jpg|jpeg|png|tif|tiff`` (the paper's splits:
    all of tf_flowers and UC Merced, which have one split, and the *test* split of Pets and Cars);
    Oxford-IIIT Pets is also read in torchvision's own layout,
    ``<root>/oxford-iiit-pet/{images/*.jpg,annotations/test.txt}``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .. import config, names
from .split import DataNotFound, Split
from .synthetic import ood_synthetic_split

__all__ = ["OOD_FOLDER_EXTENSIONS", "ood_split", "check_ood", "ensure_ood", "OOD_SOURCES"]

#: File endings of images in an out-of-distribution class folder (UC Merced ships TIFFs).
OOD_FOLDER_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")

#: Where each set comes from, quoted in the error when it is missing.
OOD_SOURCES = {
    "cifar10": "CIFAR-10 (python version, cifar-10-python.tar.gz, 163 MB) unpacked as <root>/cifar-10-batches-py/",
    "svhn": "SVHN's test_32x32.mat (format 2, 64 MB) as <root>/svhn/test_32x32.mat",
    "tf_flowers": "tf_flowers (flower_photos.tgz, 5 classes) unpacked as <root>/ood/tf_flowers/<class>/*.jpg",
    "uc_merced": "UC Merced land use (UCMerced_LandUse.zip, 21 classes) as <root>/ood/uc_merced/<class>/*.tif",
    "pets": (
        "Oxford-IIIT Pets' test split as <root>/ood/pets/<breed>/*.jpg, or torchvision's layout "
        "<root>/oxford-iiit-pet/ (images.tar.gz and annotations.tar.gz unpacked)"
    ),
    "cars": "Stanford Cars (Cars196) test split as <root>/ood/cars/<model>/*.jpg",
}


def _not_found(name: str, root: Path, looked: str) -> DataNotFound:
    dl = (
        " or let torchvision download it with `python -m paperlib data --profile quick --download`"
        if name in ("cifar10", "svhn")
        else ""
    )
    return DataNotFound(
        f"the out-of-distribution set {name!r} is not in the data root {root} (looked for {looked}).\n"
        f"Put {OOD_SOURCES[name]}{dl}. Choose another root with data_root=... or $PAPERLIB_DATA.\n"
        "Offline, build the book on synthetic data instead: `make book PROFILE=smoke`."
    )


def _per_class(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Positions of the first ``per_class`` items of every class, in file order (all when None)."""
    if per_class is None:
        return np.arange(len(labels))
    keep = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        keep[np.flatnonzero(labels == c)[:per_class]] = True
    return np.flatnonzero(keep)


def _cifar10(root: Path) -> tuple[Split, tuple[str, ...]]:
    d = root / "cifar-10-batches-py"
    if not (d / "test_batch").is_file() or not (d / "batches.meta").is_file():
        raise _not_found("cifar10", root, f"{d}/test_batch and {d}/batches.meta")
    with open(d / "test_batch", "rb") as fh:
        blob = pickle.load(fh, encoding="latin1")
    with open(d / "batches.meta", "rb") as fh:
        meta = pickle.load(fh, encoding="latin1")
    images = np.asarray(blob["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return (
        Split(
            "ood:cifar10", "test", np.asarray(blob["labels"], dtype=np.int64), images=torch.from_numpy(images.copy())
        ),
        tuple(meta["label_names"]),
    )


def _svhn(root: Path) -> tuple[Split, tuple[str, ...]]:
    f = root / "svhn" / "test_32x32.mat"
    if not f.is_file():
        raise _not_found("svhn", root, str(f))
    from scipy.io import loadmat

    m = loadmat(str(f))
    images = np.ascontiguousarray(
        np.transpose(m["X"], (3, 2, 0, 1)), dtype=np.uint8
    )  # (32, 32, 3, n) -> (n, 3, 32, 32)
    labels = np.asarray(m["y"], dtype=np.int64).reshape(-1) % 10  # SVHN labels the digit 0 as 10
    return Split("ood:svhn", "test", labels, images=torch.from_numpy(images)), tuple(str(i) for i in range(10))


def _folder(name: str, d: Path) -> tuple[Split, tuple[str, ...]]:
    classes = sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith("."))
    paths, labels = [], []
    for i, c in enumerate(classes):
        files = sorted(p for p in c.iterdir() if p.is_file() and p.suffix.lower() in OOD_FOLDER_EXTENSIONS)
        paths += [str(p) for p in files]
        labels += [i] * len(files)
    if len(classes) < 2 or not paths:
        raise DataNotFound(
            f"{d}: the out-of-distribution set {name!r} needs at least 2 class folders of images "
            f"({', '.join(OOD_FOLDER_EXTENSIONS)}); found {len(classes)} folders, {len(paths)} images"
        )
    return Split(f"ood:{name}", "test", np.asarray(labels, dtype=np.int64), paths=paths), tuple(c.name for c in classes)


def _pets_torchvision(d: Path) -> tuple[Split, tuple[str, ...]]:
    """Oxford-IIIT Pets' test split in torchvision's layout: ``annotations/test.txt`` lines
    ``<image> <class id 1..37> <species> <breed id>``; the breed name is the image name before its number."""
    rows = [ln.split() for ln in (d / "annotations" / "test.txt").read_text().splitlines() if ln.strip()]
    ids = np.asarray([int(r[1]) - 1 for r in rows], dtype=np.int64)
    names_by_id = {int(r[1]) - 1: r[0].rsplit("_", 1)[0] for r in rows}
    paths = [str(d / "images" / f"{r[0]}.jpg") for r in rows]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise DataNotFound(f"{d}: {len(missing)} images of annotations/test.txt are missing, e.g. {missing[0]}")
    return Split("ood:pets", "test", ids, paths=paths), tuple(names_by_id[i] for i in range(max(names_by_id) + 1))


def _read(name: str, root: Path) -> tuple[Split, tuple[str, ...]]:
    if name in names.SYNTHETIC_OOD_SETS:
        return ood_synthetic_split(name)
    if name == "cifar10":
        return _cifar10(root)
    if name == "svhn":
        return _svhn(root)
    folder = root / "ood" / name
    if folder.is_dir():
        return _folder(name, folder)
    if name == "pets" and (root / "oxford-iiit-pet" / "annotations" / "test.txt").is_file():
        return _pets_torchvision(root / "oxford-iiit-pet")
    looked = str(folder) + (f" and {root}/oxford-iiit-pet/annotations/test.txt" if name == "pets" else "")
    raise _not_found(name, root, looked)


def ood_split(
    name: str, data_root: str | Path | None = None, per_class: int | None = None
) -> tuple[Split, tuple[str, ...]]:
    """Read an out-of-distribution set.

    Parameters
    ----------
    name : str
        One of :data:`paperlib.names.OOD_SETS`.
    data_root : path-like, optional
        See :func:`paperlib.config.data_root`.
    per_class : int, optional
        Keep the first ``per_class`` images of every class (file order); all when None.

    Returns
    -------
    split : Split
        ``subclass`` holds the class ids ``0..n_classes - 1``; ``dataset`` is ``"ood:<name>"``
        (``"synthetic"`` for the held-out world); images in memory or as files.
    class_names : tuple of str

    Raises
    ------
    DataNotFound
        If the set is not under the data root; the message says what to put where.
    """
    names.check("OOD set", name)
    root = config.data_root(data_root)
    split, classes = _read(name, root)
    return split.subset(_per_class(split.subclass, per_class)), classes


def check_ood(name: str, data_root: str | Path | None = None) -> None:
    """Raise :class:`DataNotFound` now, before any compute, if the set is not there."""
    names.check("OOD set", name)
    if name in names.SYNTHETIC_OOD_SETS:
        return
    root = config.data_root(data_root)
    if name == "cifar10" and not (root / "cifar-10-batches-py" / "test_batch").is_file():
        raise _not_found(name, root, f"{root}/cifar-10-batches-py/test_batch")
    if name == "svhn" and not (root / "svhn" / "test_32x32.mat").is_file():
        raise _not_found(name, root, f"{root}/svhn/test_32x32.mat")
    if name not in ("cifar10", "svhn"):
        _read(name, root)


def ensure_ood(name: str, data_root: str | Path | None = None, download: bool = False) -> None:
    """Make sure a set is under the data root, downloading CIFAR-10 or SVHN only if ``download``."""
    names.check("OOD set", name)
    root = config.data_root(data_root)
    if download and name in ("cifar10", "svhn"):
        try:
            check_ood(name, root)
        except DataNotFound:
            import torchvision

            root.mkdir(parents=True, exist_ok=True)
            try:
                if name == "cifar10":
                    torchvision.datasets.CIFAR10(str(root), train=False, download=True)
                else:
                    torchvision.datasets.SVHN(str(root / "svhn"), split="test", download=True)
            except Exception as exc:  # noqa: BLE001 - any network failure ends in the same advice
                raise DataNotFound(f"downloading {name} failed ({exc}).\n" + str(_not_found(name, root, "it"))) from exc
    check_ood(name, root)
