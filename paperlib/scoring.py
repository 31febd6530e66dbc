"""The paper's score of a model: per layer, how well Ward clusters within each superclass find the hidden subclasses.

Per superclass, every probe point's embeddings are clustered with Ward linkage into
``subclasses x factor`` clusters for every overclustering factor (one tree, cut at every factor:
:func:`paperlib.cluster.ward_labels`), and each cut is scored against the subclass labels
(:func:`paperlib.metrics.ami`, :func:`paperlib.metrics.purity`); the scores are then averaged over
superclasses without weights. :func:`score_layers` does it for a model and a split, one superclass at
a time (:func:`paperlib.extract.iter_superclasses`); it is what both the cached pipeline
(:func:`paperlib.experiment.evaluate`) and the probe of one's own model (:func:`paperlib.report.report`)
run. :func:`score_superclass` scores one superclass's embeddings; :func:`score_tables` averages.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import cluster, extract, metrics
from .data import Preprocess, Split
from .hierarchy import Hierarchy

__all__ = ["SCORE_COLUMNS", "LayerScores", "score_superclass", "score_tables", "score_layers"]

#: Columns of the per-layer profile (:meth:`LayerScores.tables`), in order.
SCORE_COLUMNS = ["layer", "depth", "rel_depth", "factor", "ami", "purity"]

#: Cluster ids of superclass ``s`` are offset by ``s * CLUSTER_ID_STRIDE`` in :attr:`LayerScores.assignments`.
CLUSTER_ID_STRIDE = 10_000


def score_superclass(
    emb: dict[str, np.ndarray],
    subclass: np.ndarray,
    n_subclasses: int,
    factors,
    superclass: int,
    device: str | torch.device | None = None,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Ward-cluster one superclass's embeddings at every layer and factor, and score the cuts.

    Layers are consumed (popped from ``emb``) one at a time, so each flattened map is freed as soon
    as it is clustered.

    Parameters
    ----------
    emb : dict of str -> numpy.ndarray or torch.Tensor, shape ``(n_s, n_features)``
        Embeddings of the superclass's images per probe point, in depth order (tensors on a GPU
        stay there: their Gram matrix is computed on it).
    subclass : numpy.ndarray, shape ``(n_s,)``
        Their subclasses.
    n_subclasses : int
        Subclasses of this superclass; clusters = ``n_subclasses * factor``.
    factors : sequence of int
    superclass : int
        Recorded in the rows.
    device : str or torch.device, optional
        The Gram matrix is computed there when it is a CUDA device.

    Returns
    -------
    rows : list of dict
        ``superclass``, ``layer``, ``factor``, ``ami``, ``purity`` per layer and factor.
    labels : dict of str -> numpy.ndarray, shape ``(len(factors), n_s)``
        The cluster of every image at every factor, per layer.
    """
    ks = cluster.n_clusters_for(n_subclasses, factors)
    gram_device = device if device is not None and torch.device(device).type == "cuda" else None
    # (a tensor already on a GPU is multiplied where it is: ward_labels' default device is the tensor's)
    rows, labels = [], {}
    for name in list(emb):
        lab = cluster.ward_labels(emb.pop(name), ks, device=gram_device)
        labels[name] = lab
        for fi, f in enumerate(factors):
            rows.append(
                {
                    "superclass": superclass,
                    "layer": name,
                    "factor": int(f),
                    "ami": metrics.ami(subclass, lab[fi]),
                    "purity": metrics.purity(subclass, lab[fi]),
                }
            )
    return rows, labels


def _check_finite(emb: dict, model: str, superclass: str) -> None:
    """Refuse embeddings with non-finite values before any clustering, naming the model and the layers."""
    bad = [
        name
        for name, e in emb.items()
        if not (torch.isfinite(e).all() if isinstance(e, torch.Tensor) else np.isfinite(e).all())
    ]
    if bad:
        raise ValueError(
            f"model {model}: the embeddings of superclass {superclass!r} hold non-finite values (inf or "
            f"nan) at {', '.join(bad)}; the model's weights or activations diverged. Retrain it (a lower "
            f"learning rate) before clustering"
        )


def score_tables(rows: list[dict], names: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-superclass score rows -> the profile (unweighted means over superclasses) and the rows as a table.

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`score_superclass`.
    names : sequence of str
        The probe points in depth order (``depth`` is the position in it).

    Returns
    -------
    mean : pandas.DataFrame
        One row per (layer, factor), sorted by depth then factor: ``layer``, ``factor``, ``ami``,
        ``purity`` (means over superclasses), ``depth`` (0-based), ``rel_depth`` (0..1).
    per_superclass : pandas.DataFrame
        ``rows`` with ``depth`` and ``rel_depth`` added.

    Raises
    ------
    ValueError
        If there are no rows.
    """
    if not rows:
        raise ValueError("no images of the hierarchy's subclasses in the split")
    per = pd.DataFrame(rows)
    # one column order, whether the rows were just computed or read back from JSON (keys sorted)
    first = [c for c in ("superclass", "layer", "factor", "ami", "purity") if c in per.columns]
    per = per[first + [c for c in per.columns if c not in first]]
    depth = {n: i for i, n in enumerate(names)}
    mean = per.groupby(["layer", "factor"], sort=False)[["ami", "purity"]].mean().reset_index()
    for df in (per, mean):
        df["depth"] = df["layer"].map(depth)
        df["rel_depth"] = df["depth"] / max(1, len(names) - 1)
    mean = mean.sort_values(["depth", "factor"]).reset_index(drop=True)
    return mean, per


@dataclass
class LayerScores:
    """What :func:`score_layers` found, for the ``n_images`` images of the hierarchy's subclasses.

    Attributes
    ----------
    rows : list of dict
        ``superclass``, ``layer``, ``factor``, ``ami``, ``purity`` per superclass, layer and factor.
    names : list of str
        The probe points scored, in depth order.
    assignments : dict of str -> numpy.ndarray of int32, shape ``(n_factors, n_images)``
        Cluster of every image at every factor, per layer; the ids of superclass ``s`` are offset
        by ``s * 10_000``, so they are unique across superclasses.
    subclass : numpy.ndarray of int64, shape ``(n_images,)``
    superclass : numpy.ndarray of int64, shape ``(n_images,)``
        Superclass (of the hierarchy scored) of every image.
    accuracy : float
        Fraction of images whose largest logit is their superclass (NaN for a model without outputs).
    last : numpy.ndarray of float32, shape ``(n_images, n_features)``, or None
        The embedding at the last probe point scored (the pooled penultimate layer when all are
        scored), if asked for (``keep_last``); None if no image was scored.
    """

    rows: list[dict]
    names: list[str]
    assignments: dict[str, np.ndarray]
    subclass: np.ndarray
    superclass: np.ndarray
    accuracy: float
    last: np.ndarray | None = None

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:func:`score_tables` of these rows: the per-layer profile and the per-superclass rows."""
        return score_tables(self.rows, self.names)


def score_layers(
    model: torch.nn.Module,
    split: Split,
    hierarchy: Hierarchy,
    factors: Sequence[int],
    *,
    layers: Sequence[str] | None = None,
    pool: str = "flatten",
    l2_normalize: bool = True,
    batch_size: int = 256,
    image_size: int | None = None,
    device: str | torch.device = "cpu",
    amp: bool = False,
    num_workers: int = 0,
    preprocess: Preprocess | None = None,
    keep_last: bool = False,
    progress: bool = False,
    desc: str | None = None,
) -> LayerScores:
    """Cluster every probe point's embeddings within each superclass and score the cuts (the paper's probe).

    The split is restricted to the images of the hierarchy's subclasses; then, superclass by
    superclass, all probe points are extracted in one forward pass per batch
    (:func:`paperlib.extract.iter_superclasses`) and scored (:func:`score_superclass`).

    Parameters
    ----------
    model : torch.nn.Module
        Carries ``probe_points``; in eval mode, on ``device``.
    split : paperlib.data.Split
        ``n`` images with subclass ids.
    hierarchy : paperlib.hierarchy.Hierarchy
        The superclasses to cluster within; clusters per superclass = its subclasses x factor.
    factors : sequence of int
        Overclustering factors, each ``>= 1``.
    layers : sequence of str, optional
        Probe point names to score (default all).
    pool : {"flatten", "avg"}
    l2_normalize : bool
        Scale embeddings to unit norm before clustering.
    batch_size, image_size, device, amp, num_workers, preprocess
        Extraction settings (:func:`paperlib.extract.extract`); the Gram matrices of the Ward trees
        are computed on ``device`` when it is a GPU.
    keep_last : bool
        Keep the embedding at the last probe point scored (:attr:`LayerScores.last`).
    progress : bool
        Show a progress bar over superclasses (stderr), labelled ``desc``.

    Returns
    -------
    LayerScores
        Its :meth:`~LayerScores.tables` are the per-layer profile (``n_layers * len(factors)``
        rows with the columns of :data:`SCORE_COLUMNS`) and the per-superclass rows.
    """
    from tqdm.std import tqdm

    names = [p.name for p in extract.resolve_layers(model, layers)]
    sup = hierarchy.superclass_labels(split.subclass)
    keep = np.flatnonzero(sup >= 0)
    split, sup = split.subset(keep), sup[keep]
    assign = {n: np.full((len(factors), len(split)), -1, dtype=np.int32) for n in names}
    last, rows, correct, counted = None, [], 0, True
    bar = tqdm(
        total=hierarchy.n_superclasses,
        disable=not progress,
        file=sys.stderr,
        mininterval=2.0,
        desc=desc or f"cluster {getattr(model, 'arch', '')}",
        unit="superclass",
    )
    for s, index, emb, logits in extract.iter_superclasses(
        model,
        split,
        hierarchy,
        layers=layers,
        pool=pool,
        l2_normalize=l2_normalize,
        batch_size=batch_size,
        image_size=image_size,
        device=device,
        amp=amp,
        num_workers=num_workers,
        preprocess=preprocess,
        keep="auto",  # on a GPU with room, the embeddings stay there for their Gram matrices
    ):
        if logits.shape[-1]:
            correct += int((logits.argmax(1) == s).sum())
        else:  # a headless model: no superclass prediction
            counted = False
        if keep_last:
            e = emb[names[-1]]
            e = e.cpu().numpy() if isinstance(e, torch.Tensor) else e
            if last is None:
                last = np.zeros((len(split), e.shape[1]), dtype=np.float32)
            last[index] = e
        _check_finite(emb, desc or getattr(model, "arch", type(model).__name__), hierarchy.superclasses[s])
        new_rows, labels = score_superclass(emb, split.subclass[index], len(hierarchy.groups[s]), factors, s, device)
        rows += new_rows
        for name, lab in labels.items():
            assign[name][:, index] = lab + s * CLUSTER_ID_STRIDE
        bar.update(1)
    bar.close()
    accuracy = correct / len(split) if counted and len(split) else float("nan")
    return LayerScores(rows, names, assign, split.subclass, sup, accuracy, last)
