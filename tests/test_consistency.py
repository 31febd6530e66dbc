"""Cross-seed consistency (paperlib.consistency): ARI per superclass, seed pairs, layer x layer."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from paperlib import config, consistency, metrics, train

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: the machine is shared


def _random_clustering(rng, sizes=(40, 30, 50), k=4):
    return {s: rng.integers(0, k, n) for s, n in enumerate(sizes)}


def test_identical_and_renamed_clusterings_score_one():
    rng = np.random.default_rng(0)
    a = _random_clustering(rng)
    assert consistency.ari_between_seeds(a, a) == 1.0
    renamed = {}
    for s, lab in a.items():  # a different permutation of cluster names in every superclass
        perm = rng.permutation(4) + 10 * s + 7
        renamed[s] = perm[lab]
    assert consistency.ari_between_seeds(a, renamed) == pytest.approx(1.0)


def test_independent_clusterings_score_about_zero():
    rng = np.random.default_rng(1)
    a = _random_clustering(rng, sizes=(3000, 3000, 3000))
    b = _random_clustering(rng, sizes=(3000, 3000, 3000))
    assert abs(consistency.ari_between_seeds(a, b)) < 0.01


def test_hand_computed_example_and_unweighted_average():
    # Superclass 0 (6 images): a = [0 0 0 1 1 1], b = [0 0 1 1 2 2].
    # Contingency rows (2, 1, 0) and (0, 1, 2): sum C(n_ij, 2) = 1 + 1 = 2;
    # rows 3, 3: sum C(., 2) = 6; columns 2, 2, 2: sum C(., 2) = 3; C(6, 2) = 15.
    # expected = 6 * 3 / 15 = 1.2, max = (6 + 3) / 2 = 4.5, ARI = (2 - 1.2) / (4.5 - 1.2) = 8 / 33.
    # Superclass 1 (3 images): identical partitions, ARI = 1. Unweighted mean: (8/33 + 1) / 2 = 41/66.
    a = {0: np.array([0, 0, 0, 1, 1, 1]), 1: np.array([5, 5, 6])}
    b = {0: np.array([0, 0, 1, 1, 2, 2]), 1: np.array([1, 1, 0])}
    per = consistency.per_superclass_ari(a, b)
    assert per[0] == pytest.approx(8 / 33) and per[1] == pytest.approx(1.0)
    assert consistency.ari_between_seeds(a, b) == pytest.approx(41 / 66)
    # not the image-weighted mean (6 * 8/33 + 3) / 9, nor one ARI over all images pooled
    assert consistency.ari_between_seeds(a, b) != pytest.approx((6 * 8 / 33 + 3) / 9)
    flat_a = np.concatenate([a[0], a[1] + 100])
    flat_b = np.concatenate([b[0], b[1] + 100])
    assert consistency.ari_between_seeds(a, b) != pytest.approx(metrics.ari(flat_a, flat_b))
    # the same through the flat layout and metrics.per_group_mean
    groups = np.repeat([0, 1], [6, 3])
    assert consistency.ari_between_seeds(
        consistency.split_by_superclass(flat_a, groups), consistency.split_by_superclass(flat_b, groups)
    ) == pytest.approx(metrics.per_group_mean(metrics.ari, flat_a, flat_b, groups))


def test_mismatched_clusterings_are_refused():
    a = {0: np.array([0, 1, 1]), 1: np.array([0, 0])}
    with pytest.raises(ValueError, match="different superclasses"):
        consistency.ari_between_seeds(a, {0: np.array([0, 1, 1])})
    with pytest.raises(ValueError, match="same images"):
        consistency.ari_between_seeds(a, {0: np.array([0, 1]), 1: np.array([0, 0])})
    with pytest.raises(TypeError, match="split_by_superclass"):
        consistency.ari_between_seeds(np.array([0, 1]), np.array([0, 1]))


def _runs(n_seeds=3, layers=("conv1", "conv2", "fc6"), seed=0):
    rng = np.random.default_rng(seed)
    return {s: {layer: _random_clustering(rng) for layer in layers} for s in range(n_seeds)}


def test_seed_pair_ari_table():
    runs = _runs()
    runs[2]["fc6"] = runs[0]["fc6"]  # seeds 0 and 2 agree at fc6
    df = consistency.seed_pair_ari(runs)
    assert list(df.columns) == ["layer", "seed_a", "seed_b", "ari", "depth", "rel_depth"]
    assert len(df) == 3 * 3  # 3 layers x 3 pairs
    assert df["layer"].tolist() == ["conv1"] * 3 + ["conv2"] * 3 + ["fc6"] * 3
    assert list(zip(df.seed_a, df.seed_b))[:3] == [(0, 1), (0, 2), (1, 2)]
    row = df[(df.layer == "fc6") & (df.seed_a == 0) & (df.seed_b == 2)]
    assert row["ari"].item() == 1.0
    r = df[(df.layer == "conv2") & (df.seed_a == 0) & (df.seed_b == 1)]["ari"].item()
    assert r == consistency.ari_between_seeds(runs[0]["conv2"], runs[1]["conv2"])
    assert df["rel_depth"].tolist()[::3] == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="at least two seeds"):
        consistency.seed_pair_ari({0: runs[0]})
    with pytest.raises(ValueError, match="different layers"):
        consistency.seed_pair_ari({0: runs[0], 1: {"conv1": runs[1]["conv1"]}})


def test_layer_by_layer_matrix():
    runs = _runs(n_seeds=2, layers=("a", "b", "c", "d"))
    runs[0]["c"] = runs[0]["a"]  # two layers of one run that cluster alike
    same = consistency.layer_by_layer_ari(runs[0], runs[0])
    assert same.shape == (4, 4) and same.index.tolist() == ["a", "b", "c", "d"]
    np.testing.assert_allclose(np.diag(same.to_numpy()), 1.0)
    np.testing.assert_allclose(same.to_numpy(), same.to_numpy().T)
    assert same.loc["a", "c"] == pytest.approx(1.0)
    # a copy (not the same object) gives the same matrix, computed in full
    copy = {k: dict(v) for k, v in runs[0].items()}
    pd.testing.assert_frame_equal(consistency.layer_by_layer_ari(runs[0], copy), same)
    cross = consistency.layer_by_layer_ari(runs[0], {k: runs[1][k] for k in ("a", "b")})
    assert cross.shape == (4, 2) and cross.columns.tolist() == ["a", "b"]
    assert cross.loc["d", "b"] == consistency.ari_between_seeds(runs[0]["d"], runs[1]["b"])
    assert (cross.abs().to_numpy() < 0.2).all()  # independent random clusterings


def test_assignments_at_factor_from_an_evaluation():
    # two factors, 7 images, superclasses [1 0 1 1 0 -1 0]; ids unique across superclasses as evaluate stores them
    sup = np.array([1, 0, 1, 1, 0, -1, 0])
    assign = {"l1": np.array([[10003, 5, 10001, 10003, 5, -1, 4], [10000, 1, 10001, 10002, 2, -1, 0]], dtype=np.int32)}
    ev = SimpleNamespace(assignments=assign, superclass=sup)
    f1 = consistency.assignments_at_factor(ev, [1, 2], 1)
    assert list(f1) == ["l1"] and sorted(f1["l1"]) == [0, 1]
    np.testing.assert_array_equal(f1["l1"][0], [1, 1, 0])  # images 1, 4, 6
    np.testing.assert_array_equal(f1["l1"][1], [1, 0, 1])  # images 0, 2, 3
    f2 = consistency.assignments_at_factor(ev, [1, 2], 2)
    np.testing.assert_array_equal(f2["l1"][1], [0, 1, 2])
    idx = consistency.superclass_index(sup)
    assert idx[0].tolist() == [1, 4, 6] and idx[1].tolist() == [0, 2, 3] and -1 not in idx
    with pytest.raises(ValueError, match="not evaluated"):
        consistency.assignments_at_factor(ev, [1, 2], 3)
    with pytest.raises(ValueError, match="unknown layer"):
        consistency.assignments_at_factor(ev, [1, 2], 1, layers=["nope"])


def test_model_assignments_on_the_smoke_model():
    """One tiny model against itself: ARI 1 at every layer; the clusters are the cached Ward cuts."""
    prof = config.get_profile("smoke", epochs=1, widths={"resnet_mini": 2, "vgg_mini": 2})
    trained = train.train_model(prof.train_config("resnet"), progress=False)
    ecfg = prof.eval_config([1, 2])
    lab = consistency.model_assignments(trained, ecfg, factor=2, progress=False)
    names = [p.name for p in trained.model.probe_points]
    assert list(lab) == names
    assert sorted(lab[names[0]]) == [0, 1, 2, 3]  # 4 superclasses
    for assignment in lab["penultimate"].values():
        assert assignment.shape == (160,) and len(np.unique(assignment)) == 4 * 2  # 4 subclasses x factor 2
    df = consistency.seed_pair_ari({0: lab, 1: lab})
    np.testing.assert_allclose(df["ari"], 1.0)
    m = consistency.layer_by_layer_ari(lab, lab)
    np.testing.assert_allclose(np.diag(m.to_numpy()), 1.0)
