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

__all__ = ["PAPER_TABLE_B1", "method_purity", "metric_agreement"]

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
    n_permutations: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """Purity of each clustering method, within each superclass, averaged over superclasses (Table B.1).

    Beside each purity: its AMI, and the purity of the same clusters with their labels permuted among
    the images of the superclass (``chance_purity``: the same number and sizes of clusters, drawn
    without regard to the images). Purity rises with the number of clusters and favours unequal sizes
    (single linkage's one large cluster and singletons), so a purity means little without its chance
    level; AMI is corrected for chance by construction.

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
    n_permutations : int
        Permutations averaged for ``chance_purity`` (per superclass, seeded by ``seed``).
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``factor``, ``purity``, ``chance_purity``, ``ami``: each the unweighted mean
        over superclasses, as the paper's code averages.
    """
    X = np.asarray(X)
    subclass, superclass = np.asarray(subclass), np.asarray(superclass)
    if not (len(X) == len(subclass) == len(superclass)):
        raise ValueError(f"X, subclass and superclass differ in length: {len(X)}, {len(subclass)}, {len(superclass)}")
    unknown = [m for m in methods if m not in cluster.CLUSTER_METHODS]
    if unknown:
        raise ValueError(f"unknown clustering method(s) {unknown}; valid: {list(cluster.CLUSTER_METHODS)}")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    rows = []
    for method in methods:
        for f in factors:
            per, chance, ami = [], [], []
            rng = np.random.default_rng(seed)
            for s in np.unique(superclass):
                idx = np.flatnonzero(superclass == s)
                k = cluster.n_clusters_for(len(np.unique(subclass[idx])), [f])[0]
                labels = cluster.cluster_labels(X[idx], k, method)
                per.append(metrics.purity(subclass[idx], labels))
                ami.append(metrics.ami(subclass[idx], labels))
                chance.append(
                    np.mean([metrics.purity(subclass[idx], rng.permutation(labels)) for _ in range(n_permutations)])
                )
            rows.append(
                {
                    "method": method,
                    "factor": int(f),
                    "purity": float(np.mean(per)),
                    "chance_purity": float(np.mean(chance)),
                    "ami": float(np.mean(ami)),
                }
            )
    return pd.DataFrame(rows)


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
