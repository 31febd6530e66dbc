"""Cross-seed consistency of clusterings (paper Sec. 8, App. H; Fig. 8, H.1-H.4).

Two networks trained from different seeds are clustered on the same validation images, within
each superclass, at every layer. How alike the two clusterings are is the adjusted Rand index
(ARI, Hubert & Arabie; scikit-learn's ``adjusted_rand_score``) between the two cluster
assignments of a superclass's images, averaged over superclasses *unweighted*: every superclass
counts once, as for AMI and purity (SPEC.md, "Scores"; App. H says no more). ARI is 1 for
identical partitions whatever the cluster ids, about 0 for independent ones.

Data layout used throughout: a clustering of one layer is a *per-superclass* mapping
``{superclass: labels}``, where ``labels`` is a 1-D integer array holding the cluster of each of
that superclass's validation images, in the validation split's order (the same images, in the same
order, for every seed of one hierarchy). :func:`assignments_at_factor` makes that layout from a
:class:`paperlib.experiment.Evaluation` (the existing cached Ward clustering; nothing is
re-clustered here) and :func:`model_assignments` from a trained model.

All functions but :func:`model_assignments` are pure.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

__all__ = [
    "ari_table",
    "ari_between_seeds",
    "assignments_at_factor",
    "layer_by_layer_ari",
    "model_assignments",
    "per_superclass_ari",
    "seed_pair_ari",
    "split_by_superclass",
    "superclass_index",
]

PerSuperclass = Mapping[Hashable, np.ndarray]
"""``{superclass: labels (n_s,)}``: one layer's clustering, superclass by superclass."""


def _check_same_images(labels_a: PerSuperclass, labels_b: PerSuperclass) -> list:
    if not isinstance(labels_a, Mapping) or not isinstance(labels_b, Mapping):
        raise TypeError(
            "labels must be mappings {superclass: 1-D labels}; "
            "use split_by_superclass(labels, superclass) for flat arrays"
        )
    ka, kb = set(labels_a), set(labels_b)
    if ka != kb:
        raise ValueError(
            f"the two clusterings cover different superclasses: only in the first "
            f"{sorted(ka - kb, key=repr)[:10]}, only in the second {sorted(kb - ka, key=repr)[:10]}"
        )
    if not ka:
        raise ValueError("no superclass to compare")
    keys = sorted(ka, key=lambda k: (str(type(k)), k))
    for k in keys:
        a, b = np.asarray(labels_a[k]), np.asarray(labels_b[k])
        if a.ndim != 1 or b.ndim != 1:
            raise ValueError(f"superclass {k!r}: labels must be 1-D, got shapes {a.shape} and {b.shape}")
        if a.shape != b.shape:
            raise ValueError(
                f"superclass {k!r}: the clusterings label {a.shape[0]} and {b.shape[0]} images; "
                "they must label the same images"
            )
        if a.shape[0] == 0:
            raise ValueError(f"superclass {k!r} has no images")
    return keys


def per_superclass_ari(labels_a: PerSuperclass, labels_b: PerSuperclass) -> dict:
    """ARI between two clusterings of the same images, superclass by superclass.

    Parameters
    ----------
    labels_a, labels_b : mapping of superclass -> numpy.ndarray of shape ``(n_s,)``
        Cluster of each image of each superclass; the same superclasses and images, in the same
        order, in both.

    Returns
    -------
    dict
        ``{superclass: adjusted_rand_score(labels_a[s], labels_b[s])}``, in sorted superclass order.

    Raises
    ------
    ValueError
        If the superclasses or the numbers of images differ.
    """
    keys = _check_same_images(labels_a, labels_b)
    return {k: float(adjusted_rand_score(np.asarray(labels_a[k]), np.asarray(labels_b[k]))) for k in keys}


def ari_between_seeds(labels_a: PerSuperclass, labels_b: PerSuperclass) -> float:
    """Adjusted Rand index between two clusterings of the same images (paper Sec. 8).

    ARI is computed within every superclass (the clusters live within a superclass) and averaged
    over superclasses, unweighted.

    Parameters
    ----------
    labels_a, labels_b : mapping of superclass -> numpy.ndarray of shape ``(n_s,)``
        The clusterings of one layer by two seeds (:func:`assignments_at_factor` gives them).

    Returns
    -------
    float
        ``mean over s of adjusted_rand_score(labels_a[s], labels_b[s])``: 1 for identical
        partitions (cluster ids may differ), about 0 for independent ones, possibly negative.

    Raises
    ------
    ValueError, TypeError
        If the two do not label the same images superclass by superclass.

    Examples
    --------
    >>> ari_between_seeds({0: [0, 0, 1, 1], 1: [0, 1, 2]}, {0: [1, 1, 0, 0], 1: [2, 0, 1]})
    1.0
    """
    return float(np.mean(list(per_superclass_ari(labels_a, labels_b).values())))


def _layers_of(clusterings: Mapping) -> list[str]:
    """Layer names of a ``{layer: per-superclass labels}`` mapping, in its order."""
    if not isinstance(clusterings, Mapping) or not clusterings:
        raise ValueError("expected a non-empty mapping {layer: {superclass: labels}}")
    return list(clusterings)


def seed_pair_ari(cluster_labels: Mapping[Hashable, Mapping[str, PerSuperclass]]) -> pd.DataFrame:
    """ARI between every pair of seeds at every layer (Fig. 8, H.1-H.3, bottom rows).

    Parameters
    ----------
    cluster_labels : mapping of seed -> (mapping of layer -> (mapping of superclass -> labels))
        Per seed, per layer, the cluster of every validation image of every superclass
        (``labels``: 1-D arrays of shape ``(n_s,)``). Every seed must have the same layers.

    Returns
    -------
    pandas.DataFrame
        One row per (layer, unordered seed pair): ``layer``, ``seed_a``, ``seed_b`` (pairs as
        :func:`itertools.combinations` of the seeds in the mapping's order), ``ari`` (unweighted
        mean over superclasses, :func:`ari_between_seeds`), plus ``depth`` (position of the layer
        in the first seed's order) and ``rel_depth`` (0..1). Layers in depth order, then pairs.

    Raises
    ------
    ValueError
        Fewer than two seeds, seeds with different layers, or clusterings of different images.
    """
    seeds = list(cluster_labels)
    if len(seeds) < 2:
        raise ValueError(f"need at least two seeds to compare, got {seeds}")
    layers = _layers_of(cluster_labels[seeds[0]])
    for s in seeds[1:]:
        other = _layers_of(cluster_labels[s])
        if set(other) != set(layers):
            raise ValueError(f"seeds {seeds[0]!r} and {s!r} have different layers: {sorted(set(layers) ^ set(other))}")
    rows = []
    for depth, layer in enumerate(layers):
        for a, b in itertools.combinations(seeds, 2):
            rows.append(
                {
                    "layer": layer,
                    "seed_a": a,
                    "seed_b": b,
                    "ari": ari_between_seeds(cluster_labels[a][layer], cluster_labels[b][layer]),
                    "depth": depth,
                    "rel_depth": depth / max(1, len(layers) - 1),
                }
            )
    return pd.DataFrame(rows, columns=["layer", "seed_a", "seed_b", "ari", "depth", "rel_depth"])


def layer_by_layer_ari(
    labels_seed_a: Mapping[str, PerSuperclass], labels_seed_b: Mapping[str, PerSuperclass]
) -> pd.DataFrame:
    """ARI between every layer of one run and every layer of another (Fig. H.4).

    Parameters
    ----------
    labels_seed_a, labels_seed_b : mapping of layer -> (mapping of superclass -> labels)
        The clusterings of two runs (or the same run twice) of the same images.

    Returns
    -------
    pandas.DataFrame, shape ``(n_layers_a, n_layers_b)``
        Entry ``[i, j]``: :func:`ari_between_seeds` between layer ``i`` of the first run and layer
        ``j`` of the second. Index (named ``layer_a``): the first run's layers in order; columns
        (named ``layer_b``): the second's. For a run against itself the matrix is symmetric with
        ones on the diagonal.
    """
    la, lb = _layers_of(labels_seed_a), _layers_of(labels_seed_b)
    mirror = labels_seed_a is labels_seed_b  # ARI is symmetric: compute each pair of layers once
    out = np.empty((len(la), len(lb)))
    for i, a in enumerate(la):
        for j, b in enumerate(lb):
            out[i, j] = out[j, i] if mirror and j < i else ari_between_seeds(labels_seed_a[a], labels_seed_b[b])
    return pd.DataFrame(out, index=pd.Index(la, name="layer_a"), columns=pd.Index(lb, name="layer_b"))


# --------------------------------------------------------------------------- from the cached pipeline
def split_by_superclass(labels, superclass) -> dict:
    """Flat per-image labels -> ``{superclass: labels of its images}`` (validation order kept).

    Parameters
    ----------
    labels : array_like, shape ``(n_images,)``
    superclass : array_like, shape ``(n_images,)``
        Superclass of every image; images with a negative superclass (outside the hierarchy) are
        dropped.

    Returns
    -------
    dict of superclass (int or label) -> numpy.ndarray, shape ``(n_s,)``
        In sorted superclass order; cluster ids renumbered ``0 .. k_s - 1`` within each superclass,
        keeping their order.

    Examples
    --------
    >>> split_by_superclass([10005, 10003, 7, 10005], [1, 1, 0, 1])
    {0: array([0]), 1: array([1, 0, 1])}
    """
    labels, superclass = np.asarray(labels), np.asarray(superclass)
    if labels.ndim != 1 or labels.shape != superclass.shape:
        raise ValueError(f"labels and superclass must be 1-D of one length, got {labels.shape} and {superclass.shape}")
    out = {}
    for s in np.unique(superclass):
        if np.issubdtype(superclass.dtype, np.number) and s < 0:
            continue
        _, inv = np.unique(labels[superclass == s], return_inverse=True)
        out[s.item() if hasattr(s, "item") else s] = inv.ravel().astype(np.int64)
    return out


def superclass_index(superclass) -> dict:
    """``{superclass: positions of its images in the validation split}`` (1-D int64 arrays).

    The positions line up with :func:`split_by_superclass`'s labels, so ``index[s][i]`` is the
    image that ``labels[s][i]`` labels (use it to fetch images for a gallery).
    """
    superclass = np.asarray(superclass)
    return {
        s.item(): np.flatnonzero(superclass == s)
        for s in np.unique(superclass)
        if not (np.issubdtype(superclass.dtype, np.number) and s < 0)
    }


def assignments_at_factor(
    evaluation, factors: Sequence[int], factor: int, layers: Sequence[str] | None = None
) -> dict[str, dict]:
    """The cached Ward clusterings of one model at one overclustering factor, per layer and superclass.

    Parameters
    ----------
    evaluation : paperlib.experiment.Evaluation
        Its ``assignments[layer]`` has shape ``(len(factors), n_images)``; ``superclass`` has shape
        ``(n_images,)``.
    factors : sequence of int
        The factors the evaluation was computed at, in its order (``ecfg.factors``).
    factor : int
        The factor wanted (the paper's Fig. 8 uses 1: as many clusters as subclasses).
    layers : sequence of str, optional
        Default: every layer of the evaluation, in depth order.

    Returns
    -------
    dict of layer -> (dict of superclass -> numpy.ndarray of int64, shape ``(n_s,)``)
        See :func:`split_by_superclass`.
    """
    factors = [int(f) for f in factors]
    if int(factor) not in factors:
        raise ValueError(f"factor {factor} was not evaluated; available: {factors}")
    row = factors.index(int(factor))
    names = list(evaluation.assignments) if layers is None else list(layers)
    bad = [n for n in names if n not in evaluation.assignments]
    if bad:
        raise ValueError(f"unknown layer(s) {bad}; valid: {list(evaluation.assignments)}")
    out = {}
    for n in names:
        a = np.asarray(evaluation.assignments[n])
        if a.ndim != 2 or a.shape[0] != len(factors):
            raise ValueError(f"layer {n!r}: assignments of shape {a.shape} do not match {len(factors)} factors")
        out[n] = split_by_superclass(a[row], evaluation.superclass)
    return out


def model_assignments(
    trained,
    ecfg,
    factor: int = 1,
    *,
    layers: Sequence[str] | None = None,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device="auto",
    progress: bool = True,
    batch_size: int = 256,
) -> dict[str, dict]:
    """Per-layer, per-superclass Ward clusterings of a trained model at one factor (cached).

    Runs (or loads) :func:`paperlib.experiment.evaluate` (extract, then Ward within each
    superclass) and slices its cached assignments with :func:`assignments_at_factor`.

    Parameters
    ----------
    trained : paperlib.train.Trained
    ecfg : paperlib.config.EvalConfig
        Must contain ``factor`` in ``ecfg.factors``.
    factor : int
    layers : sequence of str, optional

    Returns
    -------
    dict of layer -> (dict of superclass -> numpy.ndarray, shape ``(n_s,)``)
        Feed ``{seed: model_assignments(...)}`` to :func:`seed_pair_ari`.
    """
    from . import experiment

    ev = experiment.evaluate(
        trained, ecfg, data_root=data_root, cache_dir=cache_dir, device=device, progress=progress, batch_size=batch_size
    )
    return assignments_at_factor(ev, ecfg.factors, factor, layers)


def ari_table(evaluations: Mapping[tuple, object], factors: Sequence[int], factor: int | None = None) -> pd.DataFrame:
    """ARI between every pair of seeds, per layer, for every model group of :func:`paperlib.experiment.run`.

    Parameters
    ----------
    evaluations : mapping of (arch, hierarchy, seed, loss) -> Evaluation
        As :func:`paperlib.experiment.run` returns them.
    factors : sequence of int
        The factors they were evaluated at, in order.
    factor : int, optional
        The factor whose clusters are compared; default every factor in ``factors``.

    Returns
    -------
    pandas.DataFrame
        ``arch``, ``hierarchy``, ``loss``, ``factor``, ``layer``, ``depth``, ``rel_depth``, ``seed_a``,
        ``seed_b``, ``ari``; groups with a single seed give no rows.
    """
    groups: dict[tuple, dict] = {}
    for (arch, hier, seed, loss), ev in evaluations.items():
        groups.setdefault((arch, hier, loss), {})[seed] = ev
    wanted = list(factors) if factor is None else [factor]
    frames = []
    for (arch, hier, loss), by_seed in groups.items():
        if len(by_seed) < 2:
            continue
        for f in wanted:
            labels = {s: assignments_at_factor(ev, factors, f) for s, ev in sorted(by_seed.items())}
            frames.append(seed_pair_ari(labels).assign(arch=arch, hierarchy=hier, loss=loss, factor=int(f)))
    cols = ["arch", "hierarchy", "loss", "factor", "layer", "depth", "rel_depth", "seed_a", "seed_b", "ari"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
