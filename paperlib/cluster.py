"""Clustering of embeddings: one Ward tree, cut at every requested number of clusters.

The paper clusters each superclass's embeddings with Ward-linkage agglomerative clustering
(scikit-learn) into ``subclasses x factor`` clusters, factor 1..10. Fitting scikit-learn once per
factor rebuilds the same tree ten times; here the tree is built once and cut ten times, which gives
exactly the same partitions (scikit-learn's Ward without connectivity is SciPy's Ward tree, cut by
undoing its last merges).

The tree is built from pairwise distances computed through the Gram matrix ``X @ X.T`` in float64
with torch (optionally on a GPU), which is much faster than ``pdist`` on wide, flattened feature
maps. :func:`cluster_labels` offers the other methods of the paper's Table B.1 (k-means, average,
complete, single linkage) through scikit-learn.

All functions are pure; importing this module has no side effects.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from scipy.cluster.hierarchy import linkage
from sklearn.cluster import AgglomerativeClustering, KMeans

from .devices import float64_device

__all__ = [
    "CLUSTER_METHODS",
    "cluster_labels",
    "cut_tree_at",
    "gram_sq_distances",
    "n_clusters_for",
    "ward_labels",
    "ward_tree",
]

CLUSTER_METHODS: tuple[str, ...] = ("kmeans", "ward", "average", "complete", "single")
"""Methods accepted by :func:`cluster_labels` (paper Table B.1)."""

_BLOCK_BYTES = 256 * 2**20  # float64 feature block moved to the device at a time


def _as_2d_tensor(X) -> torch.Tensor:
    """``X`` as a 2-D torch tensor (no copy where possible), validated."""
    if isinstance(X, torch.Tensor):
        t = X.detach()
    else:
        arr = np.ascontiguousarray(np.asarray(X))
        try:
            with warnings.catch_warnings():  # read-only arrays (memmaps) are fine: never written
                warnings.simplefilter("ignore", UserWarning)
                t = torch.from_numpy(arr)
        except TypeError as err:
            raise ValueError(f"X must hold real numbers, got dtype {arr.dtype}") from err
    if t.ndim != 2:
        raise ValueError(f"X must be 2-D of shape (n_samples, n_features), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError("X has no samples")
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise ValueError(f"X must hold real numbers, got dtype {t.dtype}")
    return t


def gram_sq_distances(X, device=None) -> np.ndarray:
    """Pairwise squared Euclidean distances through a float64 Gram matrix.

    ``D[i, j] = |x_i|^2 + |x_j|^2 - 2 x_i . x_j`` with the Gram matrix ``X @ X.T`` computed by torch
    in float64 (the input is cast to float64 *before* the product, block of features by block of
    features so memory stays bounded for wide, flattened feature maps).

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor, shape ``(n_samples, n_features)``
        Embeddings, any real dtype (float32 is fine).
    device : str or torch.device, optional
        Where to compute the product, e.g. ``"cuda"``. Default: the tensor's own device for a torch
        input, CPU (BLAS) for a numpy input.

    Returns
    -------
    numpy.ndarray of float64, shape ``(n_samples, n_samples)``
        Symmetric squared distances, clipped at 0, with an exactly zero diagonal.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, has no samples, is not real-valued, or holds non-finite values.

    Examples
    --------
    >>> gram_sq_distances(np.array([[0.0, 0.0], [3.0, 4.0]]))
    array([[ 0., 25.],
           [25.,  0.]])
    """
    t = _as_2d_tensor(X)
    dev = float64_device(torch.device(device) if device is not None else t.device)  # not MPS: no float64
    n, d = t.shape
    with torch.no_grad():
        gram = torch.zeros((n, n), dtype=torch.float64, device=dev)
        step = max(1, _BLOCK_BYTES // (8 * n)) if d > 0 else 1
        for start in range(0, d, step):
            block = t[:, start : start + step].to(device=dev, dtype=torch.float64)
            gram.addmm_(block, block.T)
        sq = torch.diagonal(gram).clone()
        dist = sq[:, None] + sq[None, :] - 2.0 * gram
        dist = 0.5 * (dist + dist.T)  # exact symmetry despite rounding in the product
        dist.clamp_(min=0.0)
        dist.fill_diagonal_(0.0)
        out = dist.cpu().numpy()
    if not np.isfinite(out).all():
        raise ValueError("X holds non-finite values (inf or nan): distances are not finite")
    return out


def ward_tree(X, device=None) -> np.ndarray:
    """Ward-linkage tree of the rows of ``X``, as a SciPy linkage matrix.

    Builds :func:`scipy.cluster.hierarchy.linkage` with ``method="ward"`` on the condensed
    Euclidean distances (square roots of :func:`gram_sq_distances`). SciPy's Ward update
    (Lance-Williams) is exact for Euclidean input distances, so this is Ward's minimum-variance
    clustering of the raw vectors: the same tree as ``scipy.cluster.hierarchy.ward(X)`` and hence
    as scikit-learn's ``AgglomerativeClustering(linkage="ward")``, up to floating-point rounding of
    the distances.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor, shape ``(n_samples, n_features)``
        Embeddings, any real dtype.
    device : str or torch.device, optional
        Device for the Gram matrix, e.g. ``"cuda"`` (see :func:`gram_sq_distances`).

    Returns
    -------
    numpy.ndarray of float64, shape ``(n_samples - 1, 4)``
        Row ``i`` merges clusters ``Z[i, 0]`` and ``Z[i, 1]`` (ids ``< n`` are samples, id
        ``n + j`` is the cluster made by row ``j``) at height ``Z[i, 2]`` into a cluster of
        ``Z[i, 3]`` samples. Empty ``(0, 4)`` for a single sample.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, has no samples, or holds non-finite values.

    Examples
    --------
    >>> ward_tree(np.array([[0.0], [1.0], [10.0]]))[:, [0, 1, 3]]
    array([[0., 1., 2.],
           [2., 3., 3.]])
    """
    d2 = gram_sq_distances(X, device=device)
    n = d2.shape[0]
    if n == 1:
        return np.zeros((0, 4), dtype=np.float64)
    iu = np.triu_indices(n, k=1)
    condensed = np.sqrt(d2[iu])
    return linkage(condensed, method="ward")


def _check_counts(n_clusters) -> list[int]:
    counts = [n_clusters] if np.isscalar(n_clusters) else list(n_clusters)
    out = []
    for k in counts:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"numbers of clusters must be integers, got {k!r}")
        if k < 1:
            raise ValueError(f"numbers of clusters must be >= 1, got {k}")
        out.append(int(k))
    return out


def cut_tree_at(Z, n_clusters: Sequence[int]) -> np.ndarray:
    """Flat clusterings of a linkage tree at given numbers of clusters.

    The cut at ``k`` clusters keeps the first ``n - k`` merges of ``Z`` (the scikit-learn and
    R ``cutree`` convention). It is computed directly from the merge order, not with
    :func:`scipy.cluster.hierarchy.cut_tree` (which can return wrong cluster counts, SciPy
    issues #7977, #8063, #9818).

    Parameters
    ----------
    Z : array_like, shape ``(n_samples - 1, 4)``
        SciPy linkage matrix (only its first two columns are used).
    n_clusters : sequence of int
        Requested numbers of clusters, each ``>= 1``; counts above ``n_samples`` give one cluster
        per sample.

    Returns
    -------
    numpy.ndarray of int64, shape ``(len(n_clusters), n_samples)``
        Row ``r`` labels every sample with a cluster id in ``0 .. min(k_r, n_samples) - 1``,
        numbered in order of first appearance (sample 0 is always in cluster 0).

    Raises
    ------
    ValueError
        If ``Z`` is not a valid ``(m, 4)`` linkage or a count is not an integer ``>= 1``.

    Examples
    --------
    >>> Z = ward_tree(np.array([[0.0], [1.0], [10.0], [11.0]]))
    >>> cut_tree_at(Z, [1, 2, 4])
    array([[0, 0, 0, 0],
           [0, 0, 1, 1],
           [0, 1, 2, 3]])
    """
    counts = _check_counts(n_clusters)
    Z = np.asarray(Z)
    if Z.ndim != 2 or Z.shape[1] != 4:
        raise ValueError(f"Z must be a linkage matrix of shape (n_samples - 1, 4), got shape {Z.shape}")
    n = Z.shape[0] + 1
    children = Z[:, :2].astype(np.int64)
    if children.size and (
        (children < 0).any()
        or (children >= n + np.arange(n - 1)[:, None]).any()
        or np.bincount(children.ravel(), minlength=2 * n - 1)[: 2 * n - 2].max() != 1
    ):
        raise ValueError("Z is not a valid linkage matrix: every node must be merged exactly once, after it is made")
    # parent[node] = node made by the merge that absorbs it; the root is its own parent
    parent = np.arange(2 * n - 1, dtype=np.int64)
    if n > 1:
        parent[children[:, 0]] = n + np.arange(n - 1)
        parent[children[:, 1]] = n + np.arange(n - 1)
    out = np.empty((len(counts), n), dtype=np.int64)
    for r, k in enumerate(counts):
        k = min(k, n)
        n_nodes = 2 * n - k  # leaves plus the first n - k merges
        # follow parents but never into a merge made after the cut
        anc = parent[:n_nodes].copy()
        anc[anc >= n_nodes] = np.nonzero(anc >= n_nodes)[0]
        while True:  # pointer jumping: O(log depth) vectorised steps
            nxt = anc[anc]
            if np.array_equal(nxt, anc):
                break
            anc = nxt
        roots = anc[:n]
        _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        out[r] = rank[inverse.ravel()]
    return out


def ward_labels(X, n_clusters: Sequence[int], device=None) -> np.ndarray:
    """Ward clusterings of ``X`` at several numbers of clusters, from one tree.

    Equivalent to fitting ``AgglomerativeClustering(n_clusters=k, linkage="ward")`` for every ``k``
    (same partitions, cluster ids renamed), at the cost of one fit.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor, shape ``(n_samples, n_features)``
        Embeddings, any real dtype.
    n_clusters : sequence of int
        Requested numbers of clusters, each ``>= 1`` (clipped at ``n_samples``).
    device : str or torch.device, optional
        Device for the Gram matrix, e.g. ``"cuda"``.

    Returns
    -------
    numpy.ndarray of int64, shape ``(len(n_clusters), n_samples)``
        Cluster ids, row ``r`` for ``n_clusters[r]`` (see :func:`cut_tree_at`).

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0], [9.0, 0.0]])
    >>> ward_labels(X, [2, 3])
    array([[0, 0, 1, 1, 1],
           [0, 0, 1, 1, 2]])
    """
    counts = _check_counts(n_clusters)
    return cut_tree_at(ward_tree(X, device=device), counts)


def cluster_labels(X, n_clusters: int, method: str) -> np.ndarray:
    """One flat clustering of ``X`` with one of the paper's Table B.1 methods (scikit-learn).

    Parameters
    ----------
    X : array_like, shape ``(n_samples, n_features)``
        Embeddings.
    n_clusters : int
        Number of clusters, ``>= 1`` (clipped at ``n_samples``).
    method : str
        One of :data:`CLUSTER_METHODS`: ``"kmeans"`` (``KMeans(n_init=10, random_state=0)``), or
        ``"ward"``, ``"average"``, ``"complete"``, ``"single"``
        (``AgglomerativeClustering(linkage=method)``, Euclidean).

    Returns
    -------
    numpy.ndarray of int64, shape ``(n_samples,)``
        Cluster id of every sample, in ``0 .. min(n_clusters, n_samples) - 1``.

    Raises
    ------
    ValueError
        For an unknown method (the message lists the valid ones), a bad count, or bad ``X``.

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> labels = cluster_labels(X, 2, "average")
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    if method not in CLUSTER_METHODS:
        raise ValueError(f"unknown clustering method {method!r}; valid methods: {', '.join(CLUSTER_METHODS)}")
    (k,) = _check_counts([n_clusters])
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be 2-D of shape (n_samples, n_features) with samples, got shape {X.shape}")
    n = X.shape[0]
    k = min(k, n)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=10, random_state=0)
    else:
        model = AgglomerativeClustering(n_clusters=k, linkage=method)
    return np.asarray(model.fit_predict(X), dtype=np.int64)


def n_clusters_for(n_subclasses: int, factors: Sequence[int]) -> list[int]:
    """Numbers of clusters for overclustering factors: ``n_subclasses * factor``.

    Parameters
    ----------
    n_subclasses : int
        Subclasses per superclass (or classes of an out-of-distribution set), ``>= 1``.
    factors : sequence of int
        Overclustering factors, each an integer ``>= 1`` (the paper uses 1..10).

    Returns
    -------
    list of int
        ``[n_subclasses * f for f in factors]``, same order.

    Raises
    ------
    ValueError
        If ``n_subclasses`` or a factor is not an integer ``>= 1``.

    Examples
    --------
    >>> n_clusters_for(4, [1, 2, 10])
    [4, 8, 40]
    """

    def _is_pos_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1

    if not _is_pos_int(n_subclasses):
        raise ValueError(f"n_subclasses must be an integer >= 1, got {n_subclasses!r}")
    factors = [factors] if np.isscalar(factors) else list(factors)
    for f in factors:
        if not _is_pos_int(f):
            raise ValueError(f"overclustering factors must be integers >= 1, got {f!r}")
    n_sub = int(n_subclasses)
    return [n_sub * int(f) for f in factors]
