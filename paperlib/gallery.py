"""Galleries: a few images of every cluster of a superclass (paper App. D, Fig. D.1-D.8; App. H, H.5-H.7).

The paper shows, for one superclass and one layer, one row per cluster with sample images, each
labelled with its true subclass name. :func:`select_gallery` picks the images (seeded, so a
figure is reproducible) and :func:`plot_gallery` draws them with matplotlib.

The paper does not say how its sample images were chosen; ours are a uniformly random sample
without replacement of each cluster (all of its images if it has fewer than asked), drawn from a
generator seeded by ``(seed, position of the cluster among the sorted cluster ids)``, so one
cluster's sample does not depend on which other clusters are shown, and shown in increasing index
order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["ORDERS", "cluster_purity", "plot_gallery", "select_gallery"]

ORDERS = ("size", "purity", "id")
"""Row orders of :func:`select_gallery`."""


def _check_labels(cluster_labels, subclass_labels) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.asarray(cluster_labels), np.asarray(subclass_labels)
    if c.ndim != 1 or s.ndim != 1 or c.shape != s.shape:
        raise ValueError(f"cluster_labels and subclass_labels must be 1-D of one length, got {c.shape} and {s.shape}")
    if c.shape[0] == 0:
        raise ValueError("no images")
    return c, s


def cluster_purity(cluster_labels, subclass_labels) -> dict:
    """Per cluster: the fraction of its images that carry its most frequent subclass.

    Parameters
    ----------
    cluster_labels, subclass_labels : array_like, shape ``(n,)``

    Returns
    -------
    dict of cluster id -> float in ``(0, 1]``, in sorted cluster order.

    Examples
    --------
    >>> cluster_purity([0, 0, 0, 1], [5, 5, 6, 7])
    {0: 0.6666666666666666, 1: 1.0}
    """
    c, s = _check_labels(cluster_labels, subclass_labels)
    out = {}
    for k in np.unique(c):
        _, counts = np.unique(s[c == k], return_counts=True)
        out[k.item() if hasattr(k, "item") else k] = float(counts.max() / counts.sum())
    return out


def select_gallery(
    cluster_labels,
    subclass_labels,
    n_per_cluster: int = 8,
    seed: int = 0,
    order: str = "size",
    max_clusters: int | None = None,
) -> list[tuple[int, list[int]]]:
    """Choose sample images of every cluster, deterministically for a seed.

    Parameters
    ----------
    cluster_labels : array_like, shape ``(n,)``
        Cluster of each image (e.g. one superclass's clusters at one layer).
    subclass_labels : array_like, shape ``(n,)``
        True subclass of each image (used for ``order="purity"``).
    n_per_cluster : int
        Images per cluster; a cluster with fewer images gives all of them.
    seed : int
        Seeds the sample.
    order : {"size", "purity", "id"}
        Row order: ``"size"``: largest cluster first; ``"purity"``: purest first (the fraction of
        its images of its majority subclass, :func:`cluster_purity`), then larger first; ``"id"``:
        by cluster id. Remaining ties are broken by cluster id.
    max_clusters : int, optional
        Keep only the first this many clusters of that order.

    Returns
    -------
    list of (cluster_id, list of int)
        Per cluster, in that order: its id and the positions (into ``cluster_labels``) of its
        chosen images, increasing; each list has ``min(n_per_cluster, cluster size)`` entries.

    Examples
    --------
    >>> select_gallery([0, 1, 1, 1, 0], [0, 0, 0, 1, 1], n_per_cluster=5)
    [(1, [1, 2, 3]), (0, [0, 4])]
    """
    c, s = _check_labels(cluster_labels, subclass_labels)
    if isinstance(n_per_cluster, bool) or not isinstance(n_per_cluster, (int, np.integer)) or n_per_cluster < 1:
        raise ValueError(f"n_per_cluster must be an integer >= 1, got {n_per_cluster!r}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; valid: {list(ORDERS)}")
    ids, sizes = np.unique(c, return_counts=True)
    pur = cluster_purity(c, s) if order == "purity" else None
    rank = list(range(len(ids)))
    if order == "size":
        rank.sort(key=lambda i: (-sizes[i], i))
    elif order == "purity":
        rank.sort(key=lambda i: (-pur[ids[i].item()], -sizes[i], i))
    if max_clusters is not None:
        rank = rank[: int(max_clusters)]
    out = []
    for i in rank:
        members = np.flatnonzero(c == ids[i])
        rng = np.random.default_rng([int(seed), i])
        chosen = members if len(members) <= n_per_cluster else rng.choice(members, n_per_cluster, replace=False)
        out.append((ids[i].item(), sorted(int(j) for j in chosen)))
    return out


def _load_image(item, thumb: int | None) -> np.ndarray:
    """One image as float ``(H, W, 3)`` or ``(H, W)`` in 0..1."""
    if isinstance(item, (str, Path)):
        from PIL import Image, ImageOps

        from .data.images import to_rgb

        with Image.open(item) as im:
            im = to_rgb(im)  # as the models see it: 16-bit scaled, transparency on white
            if thumb:
                im = ImageOps.fit(im, (thumb, thumb))
            return np.asarray(im, dtype=np.float32) / 255.0
    a = item.detach().cpu().numpy() if hasattr(item, "detach") else np.asarray(item)
    if a.ndim != 3:
        raise ValueError(f"images must be (C, H, W), got an image of shape {a.shape}")
    a = np.moveaxis(a, 0, -1)  # (H, W, C)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    else:
        a = np.clip(a.astype(np.float32), 0.0, 1.0)
    if a.shape[-1] == 1:
        a = a[..., 0]
    elif a.shape[-1] != 3:
        raise ValueError(f"images must have 1 or 3 channels, got {a.shape[-1]}")
    return a


def _image_source(images):
    """``images`` as an indexable sequence of arrays or paths (a Split gives its images or paths)."""
    if hasattr(images, "images") and hasattr(images, "paths"):  # a paperlib.data.Split
        return images.images if images.images is not None else images.paths
    return images


def plot_gallery(
    images,
    selection: Sequence[tuple[int, Sequence[int]]],
    subclass_names: Sequence[str] | Mapping[int, str],
    *,
    subclass_labels,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    thumb: int | None = 128,
    cell_inches: float = 1.4,
    fontsize: float = 7.0,
):
    """Draw a gallery: one row per cluster, each image titled with its true subclass name.

    Parameters
    ----------
    images : array-like of shape ``(n, C, H, W)``, sequence of paths, or paperlib.data.Split
        The images the selection indexes (uint8 0..255 or float 0..1, ``C`` 1 or 3; files are
        read with PIL and centre-cropped to ``thumb`` pixels; a Split gives its in-memory images
        or its files). Only the selected images are read.
    selection : list of (cluster_id, list of int)
        From :func:`select_gallery`; positions index ``images`` and ``subclass_labels``.
    subclass_names : sequence of str or mapping of int -> str
        Name of each subclass id (e.g. ``hierarchy.subclass_names``).
    subclass_labels : array_like of int, shape ``(n,)``
        True subclass of each image.
    row_labels : sequence of str, optional
        One per row; default ``"cluster <id>"``.
    title : str, optional
        Figure title (e.g. ``"'ball', stage4_block1, seed 1"``).
    thumb : int, optional
        Side, in pixels, of images read from files (default 128; None: full size).
    cell_inches, fontsize : float
        Size of one image cell and of the labels.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(selection)`` rows x ``max(len(indices))`` columns of axes; axes past a short row's
        images are blank and hidden.
    """
    import matplotlib.pyplot as plt

    if not selection:
        raise ValueError("empty selection: nothing to draw")
    labels = np.asarray(subclass_labels)
    src = _image_source(images)
    n_rows = len(selection)
    n_cols = max(1, max(len(idx) for _, idx in selection))
    if row_labels is not None and len(row_labels) != n_rows:
        raise ValueError(f"{len(row_labels)} row labels for {n_rows} rows")
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(cell_inches * n_cols + 0.6, cell_inches * n_rows + (0.4 if title else 0.1)),
        squeeze=False,
    )
    for r, (cid, idx) in enumerate(selection):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(idx):
                ax.set_axis_off()
                continue
            i = int(idx[c])
            if not 0 <= i < len(labels):
                raise IndexError(f"image index {i} out of range for {len(labels)} subclass labels")
            img = _load_image(src[i], thumb)
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
            sub = labels[i].item()
            name = (
                subclass_names[sub]
                if (isinstance(subclass_names, Mapping) or 0 <= sub < len(subclass_names))
                else str(sub)
            )
            ax.set_title(str(name), fontsize=fontsize, pad=2)
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[r, 0].set_ylabel(row_labels[r] if row_labels is not None else f"cluster {cid}", fontsize=fontsize + 1)
        if len(idx) == 0:  # an empty row still names its cluster
            axes[r, 0].set_axis_on()
            axes[r, 0].set_frame_on(False)
    if title:
        fig.suptitle(title, fontsize=fontsize + 2)
    fig.tight_layout()
    return fig
