"""Tests of :mod:`paperlib.breeds` (BREEDS class lists, ImageNet folder reading) and of the builder
of the class lists, ``scripts/breeds_builder.py`` (fast, CPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from paperlib.breeds import (
    BREEDS_DATASETS,
    breeds_wnids,
    find_imagenet_split,
    imagenet_samples,
    load_breeds,
)
from paperlib.hierarchy import Hierarchy


def _load_builder():
    """``scripts/breeds_builder.py``, loaded by path (the scripts folder is not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "breeds_builder.py"
    spec = importlib.util.spec_from_file_location("breeds_builder", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_builder = _load_builder()
build_breeds, build_breeds_with_wnids = _builder.build_breeds, _builder.build_breeds_with_wnids

INFO_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "breeds"
needs_info = pytest.mark.skipif(
    not INFO_DIR.is_dir(),
    reason=f"BREEDS hierarchy files not found at {INFO_DIR} (../shared/data/breeds of the repo)",
)

SIZES = {"living17": (17, 4), "nonliving26": (26, 4), "entity13": (13, 4)}


def _short(name: str) -> str:
    return name.split(",")[0]


# ------------------------------------------------------------------ shipped class lists
@pytest.mark.parametrize("name", BREEDS_DATASETS)
def test_sizes_and_disjoint(name):
    h = load_breeds(name)
    n_sup, n_sub = SIZES[name]
    assert h.name == name
    assert h.n_superclasses == n_sup
    assert h.subclasses_per_superclass == (n_sub,) * n_sup
    flat = [c for g in h.groups for c in g]
    assert len(set(flat)) == len(flat) == n_sup * n_sub
    assert all(0 <= c < 1000 for c in flat)
    assert len(h.subclass_names) == 1000
    wn = breeds_wnids(h)
    assert [len(w) for w in wn] == [len(g) for g in h.groups]
    assert len({w for ws in wn for w in ws}) == n_sup * n_sub
    assert all(w.startswith("n") and len(w) == 9 for ws in wn for w in ws)


@needs_info
@pytest.mark.parametrize("name", BREEDS_DATASETS)
def test_shipped_json_matches_derivation(name):
    h, wnids, sup_wnids = build_breeds_with_wnids(name, INFO_DIR)
    assert build_breeds(name, INFO_DIR) == h
    assert load_breeds(name) == h
    import paperlib.resources.breeds as res

    shipped = json.loads((Path(res.__file__).parent / f"{name}.json").read_text())
    assert {k: shipped[k] for k in h.to_dict()} == h.to_dict()
    assert shipped["wnids"] == wnids
    assert shipped["superclass_wnids"] == sup_wnids
    assert "source" in shipped
    assert breeds_wnids(h) == wnids


def test_known_superclasses():
    # Superclasses of the BREEDS paper's tables (Santurkar et al. 2021), in BREEDS label order
    # (sorted superclass wnids).
    assert [_short(s) for s in load_breeds("living17").superclasses] == [
        "salamander", "turtle", "lizard", "snake", "spider", "grouse", "parrot", "crab", "dog",
        "wolf", "fox", "domestic cat", "bear", "beetle", "butterfly", "ape", "monkey",
    ]  # fmt: skip
    assert [_short(s) for s in load_breeds("entity13").superclasses] == [
        "garment", "bird", "reptile", "arthropod", "mammal", "accessory", "craft", "equipment",
        "furniture", "instrument", "man-made structure", "wheeled vehicle", "produce",
    ]  # fmt: skip
    nl = [_short(s) for s in load_breeds("nonliving26").superclasses]
    assert nl[:3] == ["bag", "ball", "boat"] and nl[-1] == "squash"
    assert {"digital computer", "keyboard instrument", "timepiece", "truck"} <= set(nl)


def test_known_subclasses():
    h = load_breeds("living17")
    sal = h.groups[h.superclasses.index("salamander")]
    # RandomState(2) draw order: eft, axolotl (BREEDS "rand" source) then common newt, spotted
    # salamander (target).
    assert sal == (27, 29, 26, 28)
    assert [_short(h.subclass_name(c)) for c in sal] == [
        "eft", "axolotl", "common newt", "spotted salamander",
    ]  # fmt: skip
    assert breeds_wnids(h)[h.superclasses.index("salamander")][0] == "n01631663"  # eft
    e = load_breeds("entity13")
    assert e.groups[e.superclasses.index("garment")] == (869, 399, 578, 735)
    # dog subclasses are all dogs (ImageNet 151..268)
    dog = h.groups[h.superclasses.index("dog, domestic dog, Canis familiaris")]
    assert all(151 <= c <= 268 for c in dog)


def test_unknown_name():
    with pytest.raises(ValueError, match="living17.*nonliving26.*entity13"):
        load_breeds("entity30")
    with pytest.raises(ValueError, match="shuffled"):
        load_breeds("entity13-shuffled")
    with pytest.raises(ValueError, match="valid names"):
        build_breeds("nope", INFO_DIR)


def test_shuffled_keeps_wnids():
    h = load_breeds("entity13")
    s = h.shuffled(seed=0)
    table = {c: w for g, ws in zip(h.groups, breeds_wnids(h)) for c, w in zip(g, ws)}
    assert breeds_wnids(s) == [[table[c] for c in g] for g in s.groups]
    with pytest.raises(KeyError):
        breeds_wnids(Hierarchy("x", ("a",), ((999, 998),)))


# --------------------------------------------------------------------------- ImageNet layout
def _write_imagenet(root: Path, split: str, wnids: list[str], exts=(".JPEG", ".jpg")) -> None:
    from PIL import Image

    for i, w in enumerate(wnids):
        d = root / split / w
        d.mkdir(parents=True, exist_ok=True)
        for j, ext in enumerate(exts):
            Image.new("RGB", (8, 8), (i % 256, j * 100, 0)).save(d / f"{w}_{j}{ext}", "JPEG")
        (d / "notes.txt").write_text("not an image")


@pytest.fixture
def living(tmp_path):
    h = load_breeds("living17")
    wn = [w for ws in breeds_wnids(h) for w in ws]
    for split in ("train", "val"):
        _write_imagenet(tmp_path, split, wn)
    return tmp_path, h


def test_imagenet_samples(living):
    root, h = living
    paths, labels = imagenet_samples(root, "val", h)
    assert len(paths) == len(labels) == 2 * h.n_subclasses
    assert labels.dtype == np.int64
    assert np.all(np.bincount(labels, minlength=1000)[list(h.subclasses)] == 2)
    assert list(labels) == sorted(labels)
    table = {c: w for g, ws in zip(h.groups, breeds_wnids(h)) for c, w in zip(g, ws)}
    for p, c in zip(paths, labels):
        assert Path(p).parent.name == table[int(c)] and Path(p).is_file()
        assert not p.endswith(".txt")
    again, _ = imagenet_samples(str(root), "val", h, breeds_wnids(h))
    assert again == paths
    assert find_imagenet_split(root, "train") == root / "train"
    # a mapping of subclass id -> wnid works too; extra classes on disk are ignored
    _write_imagenet(root, "val", ["n09999999"])
    assert imagenet_samples(root, "val", h, table)[0] == paths


def test_imagenet_extensions_case_insensitive(tmp_path):
    h = load_breeds("living17")
    wn = [w for ws in breeds_wnids(h) for w in ws]
    _write_imagenet(tmp_path, "train", wn, exts=(".JPEG", ".jpeg", ".Jpg", ".PNG", ".png"))
    paths, labels = imagenet_samples(tmp_path, "train", h)
    assert len(paths) == 5 * h.n_subclasses


def test_imagenet_split_folder_as_root(living):
    root, h = living
    p1, l1 = imagenet_samples(root / "train", "train", h)
    p2, l2 = imagenet_samples(root, "train", h)
    assert p1 == p2 and np.array_equal(l1, l2)


def test_missing_root(tmp_path):
    h = load_breeds("living17")
    missing = tmp_path / "no_imagenet_here"
    with pytest.raises(FileNotFoundError, match="no_imagenet_here") as e:
        imagenet_samples(missing, "train", h)
    assert "'train'" in str(e.value) and "<root>/train/<wnid>" in str(e.value)


def test_missing_split(living):
    root, h = living
    import shutil

    shutil.rmtree(root / "val")
    with pytest.raises(FileNotFoundError) as e:
        imagenet_samples(root, "val", h)
    msg = str(e.value)
    assert str(root) in msg and "'val'" in msg and "expected layout" in msg
    with pytest.raises(ValueError, match="train, val"):
        find_imagenet_split(root, "test")


def test_missing_wnids(living):
    root, h = living
    import shutil

    gone = [w for ws in breeds_wnids(h) for w in ws][:3]
    for w in gone:
        shutil.rmtree(root / "train" / w)
    with pytest.raises(FileNotFoundError) as e:
        imagenet_samples(root, "train", h)
    msg = str(e.value)
    assert str(root) in msg and "'train'" in msg and "expected layout" in msg
    assert f"3 of {h.n_subclasses} class folders" in msg
    assert all(w in msg for w in gone)


def test_empty_class_folder(living):
    root, h = living
    w = breeds_wnids(h)[0][0]
    for f in (root / "val" / w).iterdir():
        f.unlink()
    with pytest.raises(FileNotFoundError, match=f"hold no image.*{w}"):
        imagenet_samples(root, "val", h)
