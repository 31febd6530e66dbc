"""The smoke world is a miniature of natural images; checked on the data, before any network.

Natural images: nuisance (position, scale, rotation, colour, lighting, clutter) dominates the pixels,
so Ward on raw pixels or on the mean colour finds no subclass within a superclass, in the standard
hierarchy or in a shuffled one; subclasses of a superclass are objects of one family; every class
trait survives the training augmentation. The pixel checks here are computed independently of
paperlib's clustering (scipy's Ward, scikit-learn's AMI) on the split paperlib loads.
"""

import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.metrics import adjusted_mutual_info_score

from paperlib import config, data, experiment
from paperlib.data import synthetic

#: Raw-pixel and mean-colour AMI within superclasses stay below this (SPEC.md, "Synthetic").
PIXEL_AMI_LIMIT = 0.1


def test_synthetic_is_deterministic_and_shaped_like_entity13():
    a = data.load_split("synthetic", "train")
    b = data.load_split("synthetic", "train")
    assert torch.equal(a.images, b.images)
    assert a.images.shape == (16 * data.SYN_SIZES["train"], 3, 32, 32) and a.images.dtype == torch.uint8
    h = data.base_hierarchy("synthetic")
    assert h.n_superclasses == 4 and h.subclasses_per_superclass == (4, 4, 4, 4)  # as entity-13 in the paper
    assert (
        h.superclasses == ("round", "angular", "spiky", "bars")
        and tuple(h.subclass_names[i] for i in h.groups[0]) == data.SYN_MEMBERS["round"]
    )
    v = data.load_split("synthetic", "val")
    assert not torch.equal(v.images[:10], a.images[:10])
    with pytest.raises(ValueError, match="0..15"):
        data.synthetic_images(np.array([16]), seed=0)
    with pytest.raises(ValueError, match="unknown shape"):
        data.render_shapes(["blob"], seed=0)


def _ward_ami(features: np.ndarray, subclass: np.ndarray, sup: np.ndarray, k: int = 4) -> float:
    """Mean over superclasses of the AMI of scipy's Ward cut into ``k`` clusters (independent of paperlib)."""
    out = []
    for s in np.unique(sup[sup >= 0]):
        idx = np.flatnonzero(sup == s)
        labels = fcluster(linkage(features[idx], method="ward"), k, criterion="maxclust")
        out.append(adjusted_mutual_info_score(subclass[idx], labels))
    return float(np.mean(out))


@pytest.mark.parametrize(
    "hierarchy, shuffle_seed", [("standard", 0), ("shuffled", 0), ("shuffled", 1), ("shuffled", 2)]
)
def test_raw_pixels_and_mean_colour_find_no_subclass(hierarchy, shuffle_seed):
    val = data.load_split("synthetic", "val")
    sup = data.hierarchy_for("synthetic", hierarchy, shuffle_seed).superclass_labels(val.subclass)
    x = val.images.float().numpy() / 255
    pixels = _ward_ami(x.reshape(len(x), -1), val.subclass, sup)
    colour = _ward_ami(x.mean((2, 3)), val.subclass, sup)
    assert pixels < PIXEL_AMI_LIMIT and colour < PIXEL_AMI_LIMIT, (pixels, colour)


def test_paperlib_pixel_baseline_agrees_with_scipy():
    """experiment.pixel_scores (the chapters' dashed baselines) is read off the same data: near 0 for both."""
    px = experiment.pixel_scores(
        config.get_profile("smoke"), factors=[1, 3], features=["pixels", "colour"], l2_normalize=False
    )
    assert set(px["features"]) == {"pixels", "colour"} and len(px) == 2 * 2 * 2
    assert (px["ami"].abs() < PIXEL_AMI_LIMIT).all(), px
    val = data.load_split("synthetic", "val")
    sup = data.hierarchy_for("synthetic", "standard").superclass_labels(val.subclass)
    x = val.images.float().numpy() / 255
    ours = px.set_index(["features", "hierarchy", "factor"]).loc[("pixels", "standard", 1), "ami"]
    assert ours == pytest.approx(_ward_ami(x.reshape(len(x), -1), val.subclass, sup), abs=1e-6)


def _rotate(mask_fn, angle: float, n: int = 97) -> np.ndarray:
    """The shape's mask on an ``n x n`` grid over [-1.2, 1.2]^2, rotated by ``angle``."""
    g = np.linspace(-1.2, 1.2, n)
    v, u = np.meshgrid(g, g, indexing="ij")
    return mask_fn(u * np.cos(angle) + v * np.sin(angle), -u * np.sin(angle) + v * np.cos(angle))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


@pytest.mark.parametrize("name", data.SYN_SUBCLASSES + synthetic.NOVEL_SHAPES)
def test_every_shape_survives_a_flip(name):
    """Every shape stands upright with a vertical mirror axis, and its tilt is drawn symmetrically
    around upright: a horizontal flip gives an image the world could have drawn of the same shape,
    so the training augmentation never turns one subclass into another."""
    fn = synthetic._SHAPES[name]
    assert _iou(_rotate(lambda u, v: fn(-u, v), 0.0), _rotate(fn, 0.0)) > 0.97, name


def test_shapes_are_distinct_at_every_tilt():
    """No two shapes are the same object: over every tilt the world draws, the best overlap (IoU, at
    equal area) between two shapes stays clearly below 1."""
    shapes = data.SYN_SUBCLASSES + synthetic.NOVEL_SHAPES

    def drawn(name, angle, n=49):  # at the world's equal area, as rendered
        k = np.sqrt(synthetic._area(name) / synthetic.SYN_AREA)
        return _rotate(lambda u, v: synthetic._SHAPES[name](u * k, v * k), angle, n)

    tilt = np.deg2rad(synthetic.SYN_WORLD["rotation"])
    base = {n: drawn(n, 0.0) for n in shapes}
    angles = np.linspace(-2 * tilt, 2 * tilt, 21)  # two tilts apart at most
    for i, a in enumerate(shapes):
        rots = [drawn(a, t) for t in angles]
        for b in shapes[i + 1 :]:
            iou = max(_iou(r, base[b]) for r in rots)
            assert iou < 0.85, (a, b, iou)


def test_out_of_distribution_worlds_novel_and_overlapping():
    novel, novel_names = data.ood_split("synthetic_novel")
    overlap, overlap_names = data.ood_split("synthetic_overlap")
    assert not set(novel_names) & set(data.SYN_SUBCLASSES)  # shares nothing with the training subclasses
    assert set(overlap_names) <= set(data.SYN_SUBCLASSES)  # every class is a training subclass, drawn anew
    assert len(novel) == len(novel_names) * synthetic.OOD_PER_CLASS == len(overlap)
    train = data.load_split("synthetic", "train")
    assert not any(torch.equal(overlap.images[0], im) for im in train.images)  # new draws, not copies


def test_intro_tables_are_what_the_code_computes():
    """book/intro.md's profile table and data-check table are the ones scripts/intro_tables.py makes now."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "intro_tables.py"
    res = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, f"book/intro.md is stale: run python scripts/intro_tables.py\n{res.stderr}"
