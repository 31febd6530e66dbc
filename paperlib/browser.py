"""Look at the clusters (App. D, H): a gallery of one superclass's clusters at one layer, and a browser.

:func:`cluster_view` draws the view for one choice of model, layer, superclass and factor: one
row of images per cluster, each image labelled with its true subclass, and the superclass's AMI
and purity at that layer in the title. :func:`cluster_browser` puts the same view behind
ipywidgets drop-downs, for Jupyter; a built book shows :func:`cluster_view` of its default choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import gallery, metrics
from .hierarchy import Hierarchy

__all__ = ["Clustered", "clustered", "cluster_view", "cluster_browser"]


@dataclass
class Clustered:
    """One model's cached clusters with what a view needs to draw them.

    Attributes
    ----------
    evaluation : paperlib.experiment.Evaluation
        Assignments per layer, shape ``(n_factors, n_images)``; subclass and superclass per image.
    hierarchy : Hierarchy
        The hierarchy the model was trained on (superclass names, subclass names).
    images : paperlib.data.Split
        The validation split the evaluation scored, in the same order.
    factors : sequence of int
        The factors of the evaluation, in its order.
    """

    evaluation: object
    hierarchy: Hierarchy
    images: object
    factors: Sequence[int]


def clustered(
    profile,
    evaluations: Mapping[tuple, object],
    factors: Sequence[int],
    *,
    shuffle_seed: int = 0,
    data_root=None,
    cache_dir=None,
) -> dict[str, Clustered]:
    """:class:`Clustered` views of the evaluations :func:`paperlib.experiment.run` returned.

    Parameters
    ----------
    profile : paperlib.config.Profile
        The profile the evaluations were run with (dataset, validation subset).
    evaluations : mapping of (arch, hierarchy, seed, loss) -> Evaluation
    factors : sequence of int
        The factors they were evaluated at.

    Returns
    -------
    dict of str -> Clustered
        Keyed ``"<arch>, <hierarchy>, seed <seed>"`` (plus the loss when not softmax), in the
        evaluations' order.
    """
    from . import data, experiment

    ecfg = profile.eval_config(factors, "flatten", True)
    ds = data.resolve(profile.dataset, data_root)
    split = experiment.validation_split(
        ds, ecfg.val_per_subclass, ecfg.decode_size, data_root, cache_dir, progress=False
    )
    out = {}
    for (arch, hier, seed, loss), ev in evaluations.items():
        h = ds.hierarchy(hier, shuffle_seed)
        keep = np.flatnonzero(h.superclass_labels(split.subclass) >= 0)
        label = f"{arch}, {hier}, seed {seed}" + ("" if loss == "softmax" else f", {loss}")
        out[label] = Clustered(ev, h, split.subset(keep), list(factors))
    return out


def _superclass_id(h: Hierarchy, superclass: int | str) -> int:
    if isinstance(superclass, str):
        if superclass not in h.superclasses:
            raise ValueError(f"unknown superclass {superclass!r}; valid: {list(h.superclasses)}")
        return h.superclasses.index(superclass)
    if not 0 <= int(superclass) < h.n_superclasses:
        raise ValueError(f"superclass {superclass!r} out of range 0..{h.n_superclasses - 1}")
    return int(superclass)


def cluster_view(
    model: Clustered,
    layer: str,
    superclass: int | str = 0,
    factor: int | None = None,
    *,
    n_per_cluster: int = 8,
    seed: int = 0,
    title: str | None = None,
    order: str = "size",
):
    """One superclass's clusters at one layer: one row per cluster (D.1-D.8, H.5-H.7).

    Parameters
    ----------
    model : Clustered
    layer : str
        A probe point of the model.
    superclass : int or str
        Index or name of the superclass (of the model's training hierarchy).
    factor : int, optional
        Overclustering factor; the smallest evaluated one by default.
    n_per_cluster, seed, order
        See :func:`paperlib.gallery.select_gallery`.

    Returns
    -------
    matplotlib.figure.Figure
        The title gives the superclass, layer, factor, and the AMI and purity of these clusters.
    """
    ev, h = model.evaluation, model.hierarchy
    factors = [int(f) for f in model.factors]
    factor = min(factors) if factor is None else int(factor)
    if factor not in factors:
        raise ValueError(f"factor {factor} was not evaluated; available: {factors}")
    if layer not in ev.assignments:
        raise ValueError(f"unknown layer {layer!r}; valid: {list(ev.assignments)}")
    s = _superclass_id(h, superclass)
    idx = np.flatnonzero(np.asarray(ev.superclass) == s)
    labels = np.asarray(ev.assignments[layer])[factors.index(factor), idx]
    sub = np.asarray(ev.subclass)[idx]
    selection = gallery.select_gallery(labels, sub, n_per_cluster=n_per_cluster, seed=seed, order=order)
    selection = [(cid, [int(idx[i]) for i in chosen]) for cid, chosen in selection]  # positions in the split
    names = {int(c): h.subclass_name(int(c)) for c in np.unique(sub)}
    head = (
        f"{h.superclasses[s]!r}, {layer}, factor {factor}: AMI {metrics.ami(sub, labels):.2f}, "
        f"purity {metrics.purity(sub, labels):.2f}"
    )
    rows = [f"cluster {i + 1} ({int((labels == cid).sum())})" for i, (cid, _) in enumerate(selection)]
    return gallery.plot_gallery(
        model.images,
        selection,
        names,
        subclass_labels=np.asarray(ev.subclass),
        row_labels=rows,
        title=f"{title}: {head}" if title else head,
    )


def cluster_browser(models: Mapping[str, Clustered], *, n_per_cluster: int = 8):
    """An ipywidgets browser: model, layer, superclass and factor -> :func:`cluster_view`.

    Parameters
    ----------
    models : mapping of str -> Clustered
        The models to browse, by the label shown in the drop-down (e.g. ``"resnet_mini, shuffled,
        seed 0"``).

    Returns
    -------
    ipywidgets.VBox
        Drop-downs above an output area that redraws on every change. Display it in Jupyter.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    if not models:
        raise ValueError("no models to browse")
    first = next(iter(models.values()))
    w_model = widgets.Dropdown(options=list(models), description="model")
    w_layer = widgets.Dropdown(options=list(first.evaluation.assignments), description="layer")
    w_sup = widgets.Dropdown(
        options=[(n, i) for i, n in enumerate(first.hierarchy.superclasses)], description="superclass"
    )
    w_factor = widgets.Dropdown(options=[int(f) for f in first.factors], description="factor")
    out = widgets.Output()

    def redraw(*_):
        m = models[w_model.value]
        out.clear_output(wait=True)
        with out:
            fig = cluster_view(
                m, w_layer.value, w_sup.value, w_factor.value, n_per_cluster=n_per_cluster, title=w_model.value
            )
            display(fig)
            plt.close(fig)

    def model_changed(change):
        m = models[change["new"]]
        w_layer.options = list(m.evaluation.assignments)
        w_sup.options = [(n, i) for i, n in enumerate(m.hierarchy.superclasses)]
        w_factor.options = [int(f) for f in m.factors]
        redraw()

    w_model.observe(model_changed, names="value")
    for w in (w_layer, w_sup, w_factor):
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([w_model, w_layer]), widgets.HBox([w_sup, w_factor]), out])
