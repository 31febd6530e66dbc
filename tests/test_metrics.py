"""Tests for paperlib.metrics: hand-worked cases, agreement with scikit-learn, invariances, errors."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from paperlib import metrics
from paperlib.metrics import METRICS, ami, ari, get_metric, per_group_mean, per_group_scores, purity


# --------------------------------------------------------------------------- purity
def test_purity_hand_worked():
    # cluster 10: true [1, 1, 1, 2]  -> majority 1, 3 right
    # cluster 20: true [2, 2, 3]     -> majority 2, 2 right
    # cluster 30: true [3, 1, 4]     -> majority (tie, any) 1 right
    # purity = (3 + 2 + 1) / 10 = 0.6
    true = [1, 1, 1, 2, 2, 2, 3, 3, 1, 4]
    pred = [10, 10, 10, 10, 20, 20, 20, 30, 30, 30]
    assert purity(true, pred) == pytest.approx(0.6)


def test_purity_string_and_arbitrary_labels():
    # cluster "u": [a, a, b] -> 2 right; cluster "v": [b, b, c] -> 2 right; 4 / 6
    assert purity(list("aabbbc"), list("uuuvvv")) == pytest.approx(4 / 6)
    assert purity(np.array([-5, -5, 7]), np.array([100, 100, -3])) == 1.0


def test_purity_perfect_and_extremes():
    true = np.array([3, 3, 8, 8, 9])
    assert purity(true, [0, 0, 1, 1, 2]) == 1.0
    # one cluster per sample is trivially pure
    assert purity(true, np.arange(5)) == 1.0
    # a single cluster: fraction of the most common label
    assert purity(true, np.zeros(5, int)) == pytest.approx(2 / 5)
    assert purity([4], [7]) == 1.0


def test_purity_matches_contingency_definition():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, 300)
    pred = rng.integers(0, 12, 300)
    expected = sum(np.bincount(true[pred == c]).max() for c in np.unique(pred)) / 300
    assert purity(true, pred) == pytest.approx(expected)


def test_purity_permutation_invariance():
    rng = np.random.default_rng(1)
    true = rng.integers(0, 4, 200)
    pred = rng.integers(0, 9, 200)
    base = purity(true, pred)
    # renaming true labels or cluster ids changes nothing
    assert purity(rng.permutation(4)[true] + 100, pred) == pytest.approx(base)
    assert purity(true, rng.permutation(9)[pred] * 7) == pytest.approx(base)
    # permuting the samples (both vectors together) changes nothing
    order = rng.permutation(200)
    assert purity(true[order], pred[order]) == pytest.approx(base)


def test_purity_never_decreases_when_splitting():
    rng = np.random.default_rng(2)
    true = rng.integers(0, 4, 200)
    coarse = rng.integers(0, 5, 200)
    fine = coarse * 2 + rng.integers(0, 2, 200)  # each coarse cluster split in two
    assert purity(true, fine) >= purity(true, coarse)


# ----------------------------------------------------------------------- ami / ari
def test_ami_and_ari_match_sklearn():
    rng = np.random.default_rng(3)
    for _ in range(5):
        a = rng.integers(0, 4, 150)
        b = np.where(rng.random(150) < 0.6, a, rng.integers(0, 7, 150))
        assert ami(a, b) == pytest.approx(adjusted_mutual_info_score(a, b, average_method="arithmetic"))
        assert ari(a, b) == pytest.approx(adjusted_rand_score(a, b))
        assert isinstance(ami(a, b), float) and isinstance(ari(a, b), float)


def test_ami_arithmetic_differs_from_other_normalisations_sometimes():
    # guard that the arithmetic mean (not sklearn's other options) is what we compute
    rng = np.random.default_rng(4)
    a = rng.integers(0, 3, 100)
    b = np.where(rng.random(100) < 0.5, a, rng.integers(0, 10, 100))
    assert ami(a, b) == pytest.approx(adjusted_mutual_info_score(a, b, average_method="arithmetic"))
    assert ami(a, b) != pytest.approx(adjusted_mutual_info_score(a, b, average_method="max"))


def test_perfect_and_renamed_give_one():
    a = np.array([0, 0, 1, 1, 2, 2, 2])
    renamed = np.array([9, 9, 4, 4, 1, 1, 1])
    assert ami(a, renamed) == pytest.approx(1.0)
    assert ari(a, renamed) == pytest.approx(1.0)
    assert purity(a, renamed) == 1.0


def test_ami_ari_permutation_invariance():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, 120)
    b = rng.integers(0, 6, 120)
    assert ami(rng.permutation(4)[a], b) == pytest.approx(ami(a, b))
    assert ari(a, rng.permutation(6)[b] + 50) == pytest.approx(ari(a, b))
    assert ari(a, b) == pytest.approx(ari(b, a))  # symmetric


# ------------------------------------------------------------------ per-group mean
def test_per_group_mean_is_unweighted():
    # group 0: 6 samples, perfect clustering           -> purity 1.0
    # group 1: 2 samples, both in one cluster, labels differ -> purity 0.5
    # unweighted mean = 0.75; sample-weighted mean = (6 * 1 + 2 * 0.5) / 8 = 0.875
    true = [0, 0, 0, 1, 1, 1, 2, 3]
    pred = [0, 0, 0, 1, 1, 1, 0, 0]
    groups = [0, 0, 0, 0, 0, 0, 1, 1]
    assert per_group_scores("purity", true, pred, groups) == {0: 1.0, 1: 0.5}
    assert per_group_mean("purity", true, pred, groups) == pytest.approx(0.75)
    assert per_group_mean(purity, true, pred, groups) != pytest.approx(0.875)


def test_per_group_mean_computes_within_groups():
    # the same cluster id in two groups is two different clusters
    true = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 0, 0])
    groups = np.array(["a", "a", "b", "b"])
    assert per_group_mean("purity", true, pred, groups) == 1.0  # pooled purity would be 0.5
    assert purity(true, pred) == 0.5


def test_per_group_mean_matches_manual_loop():
    rng = np.random.default_rng(6)
    n = 400
    groups = rng.integers(0, 7, n) * 3  # non-contiguous group ids, unequal sizes
    true = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.5, true, rng.integers(0, 8, n))
    for name, fn in [("ami", ami), ("purity", purity), (None, ari)]:
        manual = np.mean([fn(true[groups == g], pred[groups == g]) for g in np.unique(groups)])
        assert per_group_mean(name or fn, true, pred, groups) == pytest.approx(manual)
    scores = per_group_scores("ami", true, pred, groups)
    assert list(scores) == sorted(np.unique(groups).tolist())
    assert all(type(k) is int for k in scores)


# ----------------------------------------------------------------------- registry
def test_registry():
    assert METRICS == {"purity": purity, "ami": ami}
    assert get_metric("ami") is ami
    with pytest.raises(ValueError, match="ami.*purity"):
        get_metric("nmi")
    with pytest.raises(ValueError, match="unknown metric"):
        per_group_mean("accuracy", [0], [0], [0])


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize("fn", [purity, ami, ari])
def test_bad_inputs(fn):
    with pytest.raises(ValueError, match="differ in length"):
        fn([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="1-D"):
        fn([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match="1-D"):
        fn(np.int64(3), np.int64(3))


def test_per_group_bad_inputs():
    with pytest.raises(ValueError, match="groups"):
        per_group_mean("purity", [0, 1], [0, 1], [0])
    with pytest.raises(ValueError, match="differ in length"):
        per_group_mean("ami", [0, 1], [0], [0, 0])
    with pytest.raises(ValueError, match="callable"):
        per_group_mean(3, [0, 1], [0, 1], [0, 0])


def test_module_docstring_examples():
    import doctest

    failures, _ = doctest.testmod(metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
