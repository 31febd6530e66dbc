"""The method itself under test (Sec. 3, App. B-C): clustering algorithms compared, and AMI vs purity.

Pure functions of embeddings and labels; the chapter ``03_method`` feeds them an
:class:`paperlib.experiment.Evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from . import cluster, metrics

__all__ = ["PAPER_TABLE_B1", "CHANCE_PERMUTATIONS", "chance_purity", "method_purity", "metric_agreement"]

#: Seeded permutations averaged in a chance purity (:func:`chance_purity`).
CHANCE_PERMUTATIONS = 10

# The paper's Table B.1 (SPEC "Reference numbers"): purity of each method on the raw penultimate
# embeddings of a VGG-16, per BREEDS dataset. Printed beside ours; nothing is computed from it.
PAPER_TABLE_B1 = pd.DataFrame(
    {
        "entity13": [0.368, 0.368, 0.324, 0.337, 0.268],
        "living17": [0.360, 0.364, 0.324, 0.340, 0.269],
        "nonliving26": [0.371, 0.377, 0.303, 0.344, 0.266],
    },
    index=pd.Index(["kmeans", "ward", "average", "complete", "single"], name="method"),
)


def method_purity(
    X: np.ndarray,
    subclass: np.ndarray,
    superclass: np.ndarray,
    factors: Sequence[int] = (1,),
    methods: Sequence[str] = cluster.CLUSTER_METHODS,
    n_permutations: int = CHANCE_PERMUTATIONS,
    seed: int = 0,
) -> pd.DataFrame:
    """Purity of each clustering method, within each superclass, averaged over superclasses (Table B.1).

    Beside each purity: the AMI of the same clusters, and the purity the same cluster *sizes* reach
    by chance (:func:`chance_purity`), so that a purity is read against what a labelling of no
    information gets. Purity rises with the number of clusters and falls with the number of
    subclasses, so a purity near the paper's means nothing until it is above its chance value.

    Parameters
    ----------
    X : np.ndarray, shape (n_images, dim)
        Embeddings (the paper: raw penultimate-layer embeddings of the validation images).
    subclass, superclass : np.ndarray of int, shape (n_images,)
        True subclass and superclass of each image.
    factors : sequence of int
        Overclustering factors; a superclass with ``s`` subclasses is cut into ``s * factor`` clusters.
    methods : sequence of str
        Names from :data:`paperlib.cluster.CLUSTER_METHODS` (k-means, Ward, average, complete, single).
    n_permutations, seed : int
        Permutations of the cluster labels averaged in the chance purity, and their seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``factor``, ``purity``, ``chance_purity`` (the mean over
        ``n_permutations`` seeded permutations of each superclass's cluster labels) and ``ami``:
        each the unweighted mean over superclasses, as the paper's code averages.
    """
    X = np.asarray(X)
    subclass, superclass = np.asarray(subclass), np.asarray(superclass)
    if not (len(X) == len(subclass) == len(superclass)):
        raise ValueError(f"X, subclass and superclass differ in length: {len(X)}, {len(subclass)}, {len(superclass)}")
    unknown = [m for m in methods if m not in cluster.CLUSTER_METHODS]
    if unknown:
        raise ValueError(f"unknown clustering method(s) {unknown}; valid: {list(cluster.CLUSTER_METHODS)}")
    _check_permutations(n_permutations, seed)
    rows = []
    for method in methods:
        for f in factors:
            per = []
            for s in np.unique(superclass):
                idx = np.flatnonzero(superclass == s)
                k = cluster.n_clusters_for(len(np.unique(subclass[idx])), [f])[0]
                labels = cluster.cluster_labels(X[idx], k, method)
                per.append(
                    (
                        metrics.purity(subclass[idx], labels),
                        chance_purity(subclass[idx], labels, n_permutations=n_permutations, seed=seed),
                        metrics.ami(subclass[idx], labels),
                    )
                )
            purity, chance, ami = np.mean(per, axis=0)
            rows.append(
                {
                    "method": method,
                    "factor": int(f),
                    "purity": float(purity),
                    "chance_purity": float(chance),
                    "ami": float(ami),
                }
            )
    return pd.DataFrame(rows)


def _check_permutations(n_permutations: int, seed: int) -> None:
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def chance_purity(labels_true, labels_pred, n_permutations: int = CHANCE_PERMUTATIONS, seed: int = 0) -> float:
    """Purity of random cluster labels with the same cluster sizes: the mean over seeded permutations.

    Each permutation shuffles ``labels_pred`` over the samples (a uniformly random clustering with
    exactly the same cluster sizes, independent of the true labels) and scores its
    :func:`paperlib.metrics.purity`; the mean over ``n_permutations`` of them is the purity a
    clustering of these sizes reaches by chance.

    Parameters
    ----------
    labels_true, labels_pred : array_like, shape (n_samples,)
        True labels and cluster ids.
    n_permutations : int
        Permutations averaged.
    seed : int
        Seed of ``numpy.random.default_rng`` drawing the permutations.

    Returns
    -------
    float
        In ``(0, 1]``.

    Examples
    --------
    One cluster holds everything whatever the permutation: chance purity is the largest class's share.

    >>> chance_purity([0, 0, 0, 1], [5, 5, 5, 5])
    0.75
    """
    _check_permutations(n_permutations, seed)
    y = np.asarray(labels_true)
    lab = np.asarray(labels_pred)
    metrics.purity(y, lab)  # checks shapes and lengths before any permutation
    rng = np.random.default_rng(seed)
    return float(np.mean([metrics.purity(y, rng.permutation(lab)) for _ in range(n_permutations)]))


def metric_agreement(
    scores: pd.DataFrame, a: str = "ami", b: str = "purity", by: Sequence[str] = ("factor",)
) -> pd.DataFrame:
    """Spearman rank correlation of two metrics across layers, per group (App. C).

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per layer within each group, with columns ``layer``, ``a``, ``b`` and the ``by``
        columns (e.g. :attr:`paperlib.experiment.Evaluation.scores`, or a mean over seeds).
    by : sequence of str
        The columns that make a group (default: the factor).

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, ``spearman``, ``n_layers``.

    Examples
    --------
    >>> df = pd.DataFrame({"layer": list("abc"), "factor": 1, "ami": [.1, .2, .3], "purity": [.5, .6, .9]})
    >>> float(metric_agreement(df)["spearman"].iloc[0])
    1.0
    """
    by = list(by)
    rows = []
    for key, g in scores.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rho = stats.spearmanr(g[a], g[b]).statistic if len(g) > 2 else float("nan")
        rows.append(
            {
                **{c: (int(v) if c == "factor" else v) for c, v in zip(by, key)},
                "spearman": float(rho),
                "n_layers": len(g),
            }
        )
    return pd.DataFrame(rows)
