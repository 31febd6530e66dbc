"""Cluster scores: purity, adjusted mutual information, adjusted Rand index, per-group means.

The paper scores the clusters found *within each superclass* against the hidden subclass labels,
then averages over superclasses **unweighted** (the authors' code): :func:`per_group_mean` does that
for any metric. Purity and AMI compare clusters with true labels; the adjusted Rand index compares
two clusterings of the same images (Sec. 8, runs with different seeds).

All functions are pure; labels may be any hashable, sortable values (ints, strings), not
necessarily ``0..k-1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

__all__ = [
    "METRICS",
    "ami",
    "ari",
    "get_metric",
    "per_group_mean",
    "per_group_scores",
    "purity",
]

Metric = Callable[[Any, Any], float]


def _check_pair(a, b, names: tuple[str, str] = ("labels_true", "labels_pred")) -> tuple[np.ndarray, np.ndarray]:
    """Validate two label vectors: 1-D, non-empty, same length. Returns them as arrays."""
    a = np.asarray(a)
    b = np.asarray(b)
    for arr, name in zip((a, b), names):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D of shape (n_samples,), got shape {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError(f"{name} is empty: need at least one sample")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{names[0]} and {names[1]} differ in length: {a.shape[0]} != {b.shape[0]}")
    return a, b


def purity(labels_true, labels_pred) -> float:
    """Purity of a clustering against true labels.

    Each predicted cluster is labelled with the true label most frequent in it; purity is the
    fraction of samples whose true label is their cluster's majority label. It is 1 for a perfect
    clustering (and for one cluster per sample), and it never decreases when clusters are split.

    Parameters
    ----------
    labels_true : array_like, shape ``(n_samples,)``
        True labels (here: subclass ids), any hashable values.
    labels_pred : array_like, shape ``(n_samples,)``
        Cluster ids, any hashable values.

    Returns
    -------
    float
        Purity in ``(0, 1]``.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, are empty, or differ in length.

    Examples
    --------
    Cluster 0 holds true labels ``[a, a, b]`` (majority ``a``: 2 right), cluster 1 holds
    ``[b, b, c]`` (majority ``b``: 2 right), so purity is ``4 / 6``.

    >>> round(purity(["a", "a", "b", "b", "b", "c"], [0, 0, 0, 1, 1, 1]), 4)
    0.6667
    """
    t, p = _check_pair(labels_true, labels_pred)
    _, t_idx = np.unique(t, return_inverse=True)
    _, p_idx = np.unique(p, return_inverse=True)
    t_idx = t_idx.ravel()
    p_idx = p_idx.ravel()
    n_t = int(t_idx.max()) + 1
    n_p = int(p_idx.max()) + 1
    # contingency[c, s]: number of samples in predicted cluster c with true label s
    contingency = np.bincount(p_idx * n_t + t_idx, minlength=n_p * n_t).reshape(n_p, n_t)
    return float(contingency.max(axis=1).sum() / t.shape[0])


def ami(labels_true, labels_pred) -> float:
    """Adjusted mutual information, arithmetic normalisation (scikit-learn).

    Parameters
    ----------
    labels_true : array_like, shape ``(n_samples,)``
        True labels (here: subclass ids).
    labels_pred : array_like, shape ``(n_samples,)``
        Cluster ids.

    Returns
    -------
    float
        ``sklearn.metrics.adjusted_mutual_info_score(labels_true, labels_pred,
        average_method="arithmetic")``: 1 for identical partitions, about 0 for chance.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, are empty, or differ in length.

    Examples
    --------
    >>> ami([0, 0, 1, 1], [5, 5, 7, 7])
    1.0
    """
    t, p = _check_pair(labels_true, labels_pred)
    return float(adjusted_mutual_info_score(t, p, average_method="arithmetic"))


def ari(labels_a, labels_b) -> float:
    """Adjusted Rand index between two labelings of the same samples (scikit-learn).

    Parameters
    ----------
    labels_a : array_like, shape ``(n_samples,)``
        First labeling (e.g. clusters from one training seed).
    labels_b : array_like, shape ``(n_samples,)``
        Second labeling of the same samples, in the same order.

    Returns
    -------
    float
        ``sklearn.metrics.adjusted_rand_score(labels_a, labels_b)``: 1 for identical partitions,
        about 0 for chance (can be negative). Symmetric.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, are empty, or differ in length.

    Examples
    --------
    >>> ari([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    a, b = _check_pair(labels_a, labels_b, ("labels_a", "labels_b"))
    return float(adjusted_rand_score(a, b))


METRICS: dict[str, Metric] = {"purity": purity, "ami": ami}
"""Registry of the scores computed against true labels, by name."""


def get_metric(name: str) -> Metric:
    """Look a metric up in :data:`METRICS` by name.

    Parameters
    ----------
    name : str
        ``"purity"`` or ``"ami"``.

    Returns
    -------
    callable
        ``metric(labels_true, labels_pred) -> float``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> get_metric("purity") is purity
    True
    """
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown metric {name!r}; valid names: {', '.join(sorted(METRICS))}") from None


def _resolve(metric: str | Metric) -> Metric:
    if isinstance(metric, str):
        return get_metric(metric)
    if not callable(metric):
        raise ValueError(f"metric must be a name in {sorted(METRICS)} or a callable, got {metric!r}")
    return metric


def per_group_scores(metric: str | Metric, labels_a, labels_b, groups) -> dict[Any, float]:
    """Compute ``metric`` separately within each group.

    Parameters
    ----------
    metric : str or callable
        A name in :data:`METRICS` or any ``metric(labels_a, labels_b) -> float`` (e.g. :func:`ari`).
    labels_a : array_like, shape ``(n_samples,)``
        First argument of ``metric`` (true labels for purity and AMI).
    labels_b : array_like, shape ``(n_samples,)``
        Second argument of ``metric`` (cluster ids).
    groups : array_like, shape ``(n_samples,)``
        Group id of every sample, e.g. its superclass.

    Returns
    -------
    dict
        ``{group id: score}`` for every group present, in sorted group order; group ids are
        returned as Python scalars.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, are empty, differ in length, or ``metric`` is unknown.

    Examples
    --------
    >>> per_group_scores("purity", [0, 1, 0, 1], [0, 0, 1, 1], ["x", "x", "y", "y"])
    {'x': 0.5, 'y': 0.5}
    """
    fn = _resolve(metric)
    a, b = _check_pair(labels_a, labels_b, ("labels_a", "labels_b"))
    _, g = _check_pair(a, groups, ("labels_a", "groups"))
    keys, g_idx = np.unique(g, return_inverse=True)
    g_idx = g_idx.ravel()
    out: dict[Any, float] = {}
    for i, key in enumerate(keys):
        mask = g_idx == i
        out[key.item() if hasattr(key, "item") else key] = float(fn(a[mask], b[mask]))
    return out


def per_group_mean(metric: str | Metric, labels_a, labels_b, groups) -> float:
    """Unweighted mean over groups of ``metric`` computed within each group.

    This is how the paper averages over superclasses (code): every superclass counts once,
    whatever its number of images.

    Parameters
    ----------
    metric : str or callable
        A name in :data:`METRICS` or any ``metric(labels_a, labels_b) -> float`` (e.g. :func:`ari`).
    labels_a : array_like, shape ``(n_samples,)``
        First argument of ``metric`` (true labels for purity and AMI).
    labels_b : array_like, shape ``(n_samples,)``
        Second argument of ``metric`` (cluster ids; they need not be unique across groups).
    groups : array_like, shape ``(n_samples,)``
        Group id of every sample, e.g. its superclass.

    Returns
    -------
    float
        ``mean(per_group_scores(...).values())``.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, are empty, differ in length, or ``metric`` is unknown.

    Examples
    --------
    Group ``x`` (4 samples) is perfect, group ``y`` (2 samples) has purity 0.5: the unweighted
    mean is 0.75 (a sample-weighted mean would give 5/6).

    >>> per_group_mean("purity", [0, 0, 1, 1, 0, 1], [0, 0, 1, 1, 0, 0], list("xxxxyy"))
    0.75
    """
    scores = per_group_scores(metric, labels_a, labels_b, groups)
    return float(np.mean(list(scores.values())))
