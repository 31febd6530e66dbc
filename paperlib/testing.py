"""Test fixtures on disk: small datasets in the real on-disk formats, for tests and dry runs.

:func:`write_cifar100_fixture` writes CIFAR-100's python pickles, :func:`write_imagenet_fixture` an
ImageNet-layout folder of generated JPEGs for a BREEDS dataset's classes; the library's own readers
(:func:`paperlib.data.load_split`) then read them as they would the real data.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from . import breeds, names

__all__ = ["write_cifar100_fixture", "write_imagenet_fixture"]


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
