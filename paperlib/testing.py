"""Test fixtures on disk: small datasets in the real on-disk formats, for tests and dry runs.

:func:`write_cifar100_fixture` writes CIFAR-100's python pickles, :func:`write_imagenet_fixture` an
ImageNet-layout folder of generated JPEGs for a BREEDS dataset's classes, :func:`write_folder_fixture`
a researcher's two-level image folder (``"folder:ROOT"``) of the smoke world's images; the library's own readers
(:func:`paperlib.data.load_split`) then read them as they would the real data.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import breeds, names

__all__ = [
    "write_cifar100_fixture",
    "write_imagenet_fixture",
    "write_folder_fixture",
    "write_cifar10_fixture",
    "write_svhn_fixture",
    "write_ood_folder_fixture",
    "write_pets_fixture",
    "Interrupted",
    "interrupt_at",
]


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

    names.check("ImageNet dataset", dataset)
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


def write_folder_fixture(
    root: str | Path,
    per_subclass: int = 10,
    split_folders: bool = False,
    fmt: str = "png",
    size: int = 32,
) -> Path:
    """Write the smoke world as a researcher's image folder, ``ROOT/<superclass>/<subclass>/*.png``.

    The images are :func:`paperlib.data.synthetic_images` (shape family = superclass, member = subclass),
    so a model trained on ``"folder:ROOT"`` faces the smoke profile's situation read from files.

    Parameters
    ----------
    root : path-like
    per_subclass : int
        Images per subclass (split by :data:`paperlib.data.VAL_EVERY`: every 5th is a validation image),
        or per subclass *and split* with ``split_folders``.
    split_folders : bool
        Write ``ROOT/train/...`` and ``ROOT/val/...`` instead of one tree.
    fmt : {"png", "jpg"}
    size : int
        Image side.
    """
    from PIL import Image

    from .data import synthetic

    h = synthetic.synthetic_hierarchy()
    root = Path(root)
    parts = [("train", 11), ("val", 12)] if split_folders else [("", 13)]
    for part, seed in parts:
        subclass = np.repeat(np.arange(h.n_subclasses), per_subclass)
        images = synthetic.synthetic_images(subclass, seed=seed, size=size).permute(0, 2, 3, 1).numpy()
        count = dict.fromkeys(range(h.n_subclasses), 0)
        for img, c in zip(images, subclass):
            s = h.superclass_of(int(c))
            d = root / part / h.superclasses[s] / h.subclass_names[c]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(d / f"img{count[c]:04d}.{fmt}")
            count[c] += 1
    return root


def _class_images(n_classes: int, per_class: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, size, size, 3)`` uint8 whose colour depends on the class, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    base = np.stack([(labels * 37) % 256, (labels * 91) % 256, (labels * 53) % 256], 1)[:, None, None, :]
    img = np.clip(base + rng.normal(0, 25, (len(labels), size, size, 3)), 0, 255).astype(np.uint8)
    return img, labels


def write_cifar10_fixture(root: str | Path, per_class: int = 10, seed: int = 0) -> Path:
    """CIFAR-10's test set in its own format: ``root/cifar-10-batches-py/{test_batch,batches.meta}`` pickles."""
    img, labels = _class_images(10, per_class, 32, seed)
    d = Path(root) / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "test_batch", "wb") as fh:
        pickle.dump({"data": img.transpose(0, 3, 1, 2).reshape(len(img), -1), "labels": labels.tolist()}, fh)
    with open(d / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, fh)
    return Path(root)


def write_svhn_fixture(root: str | Path, per_class: int = 10, seed: int = 0) -> Path:
    """SVHN's test set in its own format: ``root/svhn/test_32x32.mat`` with ``X (32, 32, 3, n)`` and
    ``y (n, 1)`` in 1..10 (10 is the digit 0)."""
    from scipy.io import savemat

    img, labels = _class_images(10, per_class, 32, seed)
    d = Path(root) / "svhn"
    d.mkdir(parents=True, exist_ok=True)
    y = np.where(labels == 0, 10, labels).reshape(-1, 1).astype(np.uint8)
    savemat(str(d / "test_32x32.mat"), {"X": img.transpose(1, 2, 3, 0), "y": y})
    return Path(root)


def write_ood_folder_fixture(
    root: str | Path, name: str, n_classes: int = 3, per_class: int = 4, size: int = 48, fmt: str = "jpg", seed: int = 0
) -> Path:
    """An out-of-distribution set in ImageFolder layout, ``root/ood/<name>/<class>/*.<fmt>``."""
    from PIL import Image

    img, labels = _class_images(n_classes, per_class, size, seed)
    for i, (x, c) in enumerate(zip(img, labels)):
        d = Path(root) / "ood" / name / f"class{c:02d}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x).save(d / f"im{i:04d}.{fmt}")
    return Path(root)


def write_pets_fixture(
    root: str | Path,
    breeds: Sequence[str] = ("Abyssinian", "beagle", "great_pyrenees"),
    per_class: int = 3,
    seed: int = 0,
) -> Path:
    """Oxford-IIIT Pets in torchvision's layout: ``root/oxford-iiit-pet/images/<Breed>_<i>.jpg`` and
    ``annotations/test.txt`` lines ``<image> <class id> <species> <breed id>``."""
    from PIL import Image

    img, labels = _class_images(len(breeds), per_class, 40, seed)
    d = Path(root) / "oxford-iiit-pet"
    (d / "images").mkdir(parents=True, exist_ok=True)
    (d / "annotations").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (x, c) in enumerate(zip(img, labels)):
        stem = f"{breeds[c]}_{100 + i}"
        Image.fromarray(x).save(d / "images" / f"{stem}.jpg")
        lines.append(f"{stem} {c + 1} {1 + (breeds[c][0].islower())} {c + 1}")
    (d / "annotations" / "test.txt").write_text("\n".join(lines) + "\n")
    return Path(root)


class Interrupted(Exception):
    """Raised by the callback of :func:`interrupt_at`: a training run stopped as a kill would stop it."""


def interrupt_at(epoch: int):
    """An ``on_epoch_end`` callback for :func:`paperlib.train.train_model` that raises
    :class:`Interrupted` once ``epoch`` is checkpointed (tests of resumption)."""

    def stop(done: int, record: dict) -> None:
        if done == epoch:
            raise Interrupted(f"interrupted after epoch {epoch}")

    return stop
