"""Tests for paperlib.cluster: one Ward tree cut many times equals scikit-learn fitted per count."""

import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import ward as scipy_ward
from scipy.spatial.distance import cdist
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from paperlib import cluster
from paperlib.cluster import (
    CLUSTER_METHODS,
    cluster_labels,
    cut_tree_at,
    gram_sq_distances,
    n_clusters_for,
    ward_labels,
    ward_tree,
)


def _blobs(seed=0, n=200, d=50, centers=8, spread=0.6):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d)) * 3
    return c[rng.integers(0, centers, n)] + rng.normal(size=(n, d)) * spread


def _noise(seed=1, n=200, d=50):
    return np.random.default_rng(seed).normal(size=(n, d))


def _same_partition(a, b):
    """Equal up to renaming: a bijection between ids (stricter than comparing ARI with 1)."""
    a, b = np.asarray(a), np.asarray(b)
    pairs = np.unique(np.stack([a, b]), axis=1)
    return pairs.shape[1] == np.unique(a).size == np.unique(b).size


DATASETS = {
    "blobs": _blobs(),
    "noise": _noise(),
    "blobs32": _blobs(seed=2).astype(np.float32),
    "noise32": _noise(seed=3).astype(np.float32),
    "wide32": np.random.default_rng(4).normal(size=(60, 3000)).astype(np.float32) + 5.0,
}
KS = [1, 2, 4, 8, 13, 20, 40]


# ------------------------------------------------------------------- distances
@pytest.mark.parametrize("name", ["blobs", "noise32", "wide32"])
def test_gram_sq_distances_match_cdist(name):
    X = DATASETS[name]
    d2 = gram_sq_distances(X)
    ref = cdist(X.astype(np.float64), X.astype(np.float64), "sqeuclidean")
    assert d2.dtype == np.float64 and d2.shape == (len(X), len(X))
    np.testing.assert_allclose(d2, ref, rtol=1e-9, atol=1e-8 * ref.max())
    assert (np.diag(d2) == 0).all()
    assert (d2 >= 0).all()
    assert (d2 == d2.T).all()


def test_gram_sq_distances_torch_and_duplicates():
    X = np.array([[1e4, 1.0], [1e4, 1.0], [0.0, 3.0]], dtype=np.float32)  # duplicate rows
    d2 = gram_sq_distances(torch.from_numpy(X))
    assert d2[0, 1] == 0.0 and d2[1, 0] == 0.0  # clipped, never negative
    assert (np.diag(d2) == 0).all()
    np.testing.assert_allclose(d2, cdist(X.astype(float), X.astype(float), "sqeuclidean"), rtol=1e-12)
    # integer input, explicit cpu device
    Xi = np.array([[0, 0], [3, 4]])
    np.testing.assert_array_equal(gram_sq_distances(Xi, device="cpu"), [[0, 25], [25, 0]])


def test_gram_sq_distances_blocks(monkeypatch):
    # force many feature blocks: same result as one block
    X = DATASETS["wide32"]
    full = gram_sq_distances(X)
    monkeypatch.setattr(cluster, "_BLOCK_BYTES", 8 * 60 * 70)  # 70 features per block, 43 blocks
    np.testing.assert_allclose(gram_sq_distances(X), full, rtol=1e-12, atol=1e-9)


def test_gram_sq_distances_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        gram_sq_distances(np.zeros(5))
    with pytest.raises(ValueError, match="no samples"):
        gram_sq_distances(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        gram_sq_distances(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="real numbers"):
        gram_sq_distances(np.array([["a", "b"], ["c", "d"]]))


def test_read_only_input_no_warning(recwarn):
    X = DATASETS["blobs"].copy()
    X.setflags(write=False)  # e.g. a memory-mapped cache file
    np.testing.assert_array_equal(ward_labels(X, [5]), ward_labels(DATASETS["blobs"], [5]))
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# ------------------------------------------------------------------------ tree
@pytest.mark.parametrize("name", ["blobs", "noise32"])
def test_ward_tree_matches_scipy_ward_on_vectors(name):
    X = DATASETS[name]
    Z = ward_tree(X)
    ref = scipy_ward(X.astype(np.float64))
    assert Z.shape == (len(X) - 1, 4)
    np.testing.assert_array_equal(np.sort(Z[:, :2], axis=1), np.sort(ref[:, :2], axis=1))
    np.testing.assert_allclose(Z[:, 2:], ref[:, 2:], rtol=1e-8)


def test_ward_tree_small_n():
    assert ward_tree(np.ones((1, 3))).shape == (0, 4)
    Z = ward_tree(np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(Z, [[0, 1, 5, 2]])
    assert cut_tree_at(ward_tree(np.ones((1, 3))), [1, 5]).tolist() == [[0], [0]]
    assert cut_tree_at(Z, [1, 2, 3]).tolist() == [[0, 0], [0, 1], [0, 1]]


# ------------------------------------------------- ward cuts == sklearn per k
@pytest.mark.parametrize("name", list(DATASETS))
def test_ward_labels_equal_sklearn(name):
    X = DATASETS[name]
    ks = [k for k in KS if k <= len(X)]
    labels = ward_labels(X, ks)
    assert labels.shape == (len(ks), len(X))
    assert labels.dtype == np.int64
    for k, row in zip(ks, labels):
        ref = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(X)
        assert adjusted_rand_score(ref, row) == 1.0
        assert _same_partition(ref, row), k
        assert np.unique(row).size == k
        np.testing.assert_array_equal(np.unique(row), np.arange(k))


def test_ward_labels_torch_input_same_as_numpy():
    X = DATASETS["blobs32"]
    np.testing.assert_array_equal(ward_labels(torch.from_numpy(X), [4, 12]), ward_labels(X, [4, 12]))


def test_cuts_are_nested_and_counts_exact():
    X = DATASETS["noise"]
    ks = list(range(1, 201, 7)) + [199, 200, 250]
    labels = cut_tree_at(ward_tree(X), ks)
    for k, row in zip(ks, labels):
        assert np.unique(row).size == min(k, len(X))
        assert row[0] == 0  # ids numbered by first appearance
    # finer cuts refine coarser ones: every fine cluster sits inside one coarse cluster
    for coarse, fine in zip(labels[:-1], labels[1:]):
        pairs = np.unique(np.stack([fine, coarse]), axis=1)
        assert pairs.shape[1] == np.unique(fine).size


def test_cut_order_and_duplicates_in_request():
    Z = ward_tree(DATASETS["blobs"])
    a = cut_tree_at(Z, [10, 3, 10, 1])
    np.testing.assert_array_equal(a[0], a[2])
    np.testing.assert_array_equal(a[1], cut_tree_at(Z, [3])[0])
    assert (a[3] == 0).all()


def test_cut_tree_at_bad_input():
    Z = ward_tree(DATASETS["blobs"][:10])
    with pytest.raises(ValueError, match=">= 1"):
        cut_tree_at(Z, [0])
    with pytest.raises(ValueError, match="integers"):
        cut_tree_at(Z, [2.5])
    with pytest.raises(ValueError, match="shape"):
        cut_tree_at(Z[:, :3], [2])
    bad = Z.copy()
    bad[1, :2] = bad[0, :2]  # reuses nodes
    with pytest.raises(ValueError, match="valid linkage"):
        cut_tree_at(bad, [2])


# ------------------------------------------------------------- other methods
@pytest.mark.parametrize("method", CLUSTER_METHODS)
def test_cluster_labels_every_method(method):
    X = DATASETS["blobs"]
    labels = cluster_labels(X, 8, method)
    assert labels.shape == (len(X),) and labels.dtype == np.int64
    assert np.unique(labels).size == 8
    if method == "ward":
        assert _same_partition(labels, ward_labels(X, [8])[0])
    # clipped at n_samples; one sample is one cluster
    assert np.unique(cluster_labels(X[:5], 9, method)).size == 5
    assert cluster_labels(X[:1], 3, method).tolist() == [0]


def test_cluster_labels_kmeans_deterministic():
    X = DATASETS["noise32"]
    np.testing.assert_array_equal(cluster_labels(X, 6, "kmeans"), cluster_labels(X, 6, "kmeans"))


def test_cluster_labels_unknown_method():
    with pytest.raises(ValueError, match="kmeans, ward, average, complete, single"):
        cluster_labels(DATASETS["blobs"], 4, "spectral")
    with pytest.raises(ValueError, match=">= 1"):
        cluster_labels(DATASETS["blobs"], 0, "ward")


# ------------------------------------------------------------------ factors
def test_n_clusters_for():
    assert n_clusters_for(4, range(1, 11)) == [4 * f for f in range(1, 11)]
    assert n_clusters_for(5, [np.int64(3)]) == [15]
    for bad in ([0], [1.5], [True], [-2]):
        with pytest.raises(ValueError, match="factors"):
            n_clusters_for(4, bad)
    with pytest.raises(ValueError, match="n_subclasses"):
        n_clusters_for(0, [1])


def test_module_docstring_examples():
    import doctest

    failures, _ = doctest.testmod(cluster, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_matches_cpu():
    X = DATASETS["noise32"]
    np.testing.assert_allclose(gram_sq_distances(X, device="cuda"), gram_sq_distances(X), rtol=1e-10, atol=1e-9)
    np.testing.assert_array_equal(ward_labels(X, KS, device="cuda"), ward_labels(X, KS))
