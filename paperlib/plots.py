"""Figures: every function takes scores and draws them, on a given matplotlib ``ax`` or on a figure of its own; none computes scores."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

__all__ = [
    "HIERARCHY_COLORS",
    "FAMILY_COLORS",
    "layer_profile",
    "factor_grid",
    "plot_profile",
    "over_training",
    "heatmap",
    "relative_depth",
    "ood_purity",
    "stack",
]

HIERARCHY_COLORS = {"standard": "tab:green", "shuffled": "tab:orange"}
#: One colour per architecture family (Fig. 7): the VGGs in blues, ResNet red, ViT purple.
FAMILY_COLORS = {"vgg": "tab:blue", "vgg_bn": "tab:cyan", "vgg_ln": "navy", "resnet": "tab:red", "vit": "tab:purple"}


def layer_profile(
    ax: plt.Axes,
    scores: pd.DataFrame,
    *,
    metric: str = "ami",
    hue: str = "hierarchy",
    colors: dict | None = None,
    title: str | None = None,
    label_every: int = 1,
) -> plt.Axes:
    """Score per layer, one line per value of ``hue`` (mean over seeds, band = min..max).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    scores : pandas.DataFrame
        Rows of one architecture and one factor, with columns ``layer``, ``depth``, ``seed``,
        ``metric`` and ``hue``.
    metric : str
        Column to plot (``"ami"`` or ``"purity"``).
    hue : str
        Column whose values get one line each.
    """
    colors = colors or HIERARCHY_COLORS
    for value, g in scores.groupby(hue, sort=False):
        stats = g.groupby(["depth", "layer"])[metric].agg(["mean", "min", "max"]).reset_index().sort_values("depth")
        c = colors.get(value)
        ax.plot(stats["depth"], stats["mean"], marker="o", ms=3, label=str(value), color=c)
        if g["seed"].nunique() > 1:
            ax.fill_between(stats["depth"], stats["min"], stats["max"], alpha=0.2, color=c)
    layers = scores.drop_duplicates("depth").sort_values("depth")
    ticks = layers.iloc[::label_every]
    ax.set_xticks(ticks["depth"], ticks["layer"], rotation=90, fontsize=7)
    ax.set_ylabel(metric.upper() if metric == "ami" else metric)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def factor_grid(
    scores: pd.DataFrame,
    *,
    metric: str = "ami",
    hue: str = "hierarchy",
    col: str = "arch",
    row: str = "factor",
    col_order: Sequence | None = None,
    titles: dict | None = None,
    baseline: pd.DataFrame | None = None,
) -> plt.Figure:
    """A grid of :func:`layer_profile` panels: one row per ``row`` value, one column per ``col`` value.

    Parameters
    ----------
    scores : pandas.DataFrame
        Tidy scores (:func:`paperlib.experiment.run`).
    baseline : pandas.DataFrame, optional
        A score that does not depend on the layer, drawn as a dashed line per ``hue`` value in every
        panel of its ``row`` value, e.g. Ward on raw pixels (:func:`paperlib.experiment.pixel_scores`:
        columns ``hue``, ``row`` and ``metric``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = sorted(scores[row].unique())
    cols = list(col_order) if col_order is not None else list(scores[col].unique())
    fig, axes = plt.subplots(
        len(rows),
        len(cols),
        figsize=(4.2 * len(cols), 2.6 * len(rows)),
        squeeze=False,
        sharey="row",
        constrained_layout=True,
    )
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            sub = scores[(scores[row] == r) & (scores[col] == c)]
            t = f"{(titles or {}).get(c, c)}, {row} {r}"
            layer_profile(axes[i, j], sub, metric=metric, hue=hue, title=t)
            if baseline is not None:
                for _, b in baseline[baseline[row] == r].iterrows():
                    axes[i, j].axhline(
                        b[metric],
                        ls="--",
                        lw=1,
                        color=HIERARCHY_COLORS.get(b[hue], "grey"),
                        label=f"{b[hue]}, raw pixels",
                    )
            if i < len(rows) - 1:
                axes[i, j].set_xticklabels([])
    axes[0, -1].legend(fontsize=8, title=hue, title_fontsize=8)
    return fig


def plot_profile(profile: pd.DataFrame, title: str | None = None):
    """AMI and purity per layer of one model, one line per factor (:func:`layer_profile`).

    Parameters
    ----------
    profile : pandas.DataFrame
        A per-layer profile (:func:`paperlib.report.layer_profile`): columns ``layer``, ``depth``,
        ``factor``, ``ami``, ``purity``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two panels (AMI, purity); not registered with pyplot.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    factors = sorted(profile["factor"].unique())
    cmap = colormaps["viridis"]
    colors = {f: cmap(i / max(1, len(factors) - 1) * 0.85) for i, f in enumerate(factors)}
    n_layers = profile["layer"].nunique()
    fig = Figure(figsize=(max(6.0, 0.32 * n_layers + 2.5), 6.4), constrained_layout=True)
    axes = fig.subplots(2, 1, sharex=True)
    scores = profile.assign(seed=0)  # one model: no spread band
    every = max(1, n_layers // 40)
    for ax, metric in zip(axes, ("ami", "purity")):
        layer_profile(ax, scores, metric=metric, hue="factor", colors=colors, label_every=every)
    axes[0].legend(fontsize=8, title="factor", title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def over_training(scores: pd.DataFrame, *, metric: str = "ami", factor: int | None = None) -> plt.Figure:
    """Score per layer at each training snapshot (Fig. D.10): one panel per architecture and hierarchy.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`paperlib.timeline.over_training`'s scores: ``arch``, ``hierarchy``, ``epoch``,
        ``layer``, ``depth``, ``factor`` and ``metric``.
    factor : int, optional
        The factor to draw; the smallest one by default.

    Returns
    -------
    matplotlib.figure.Figure
        Lines coloured from light (early epochs) to dark (the last).
    """
    from matplotlib import colormaps

    factor = min(scores["factor"]) if factor is None else factor
    scores = scores[scores["factor"] == factor]
    panels = list(scores.groupby(["arch", "hierarchy"], sort=False))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels), 3.2), squeeze=False, sharey=True, constrained_layout=True
    )
    epochs = sorted(scores["epoch"].unique())
    cmap = colormaps["viridis_r"]
    colors = {e: cmap(0.1 + 0.8 * i / max(1, len(epochs) - 1)) for i, e in enumerate(epochs)}
    for ax, ((arch, hier), g) in zip(axes[0], panels):
        layer_profile(
            ax, g.assign(seed=0), metric=metric, hue="epoch", colors=colors, title=f"{arch}, {hier}, factor {factor}"
        )
    axes[0, -1].legend(fontsize=8, title="epoch", title_fontsize=8)
    return fig


def heatmap(
    ax: plt.Axes,
    matrix: pd.DataFrame,
    *,
    title: str | None = None,
    label: str = "",
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> plt.Axes:
    """A layer x layer matrix (e.g. :func:`paperlib.consistency.layer_by_layer_ari`) as an image.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    matrix : pandas.DataFrame, shape (n_rows, n_cols)
        Rows and columns named by layer; the row index name and column name label the axes.
    label : str
        Colour bar label.
    """
    im = ax.imshow(matrix.to_numpy(), vmin=vmin, vmax=vmax, cmap="viridis", origin="upper")
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=7)
    ax.set_xlabel(matrix.columns.name or "")
    ax.set_ylabel(matrix.index.name or "")
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.colorbar(im, ax=ax, label=label, shrink=0.8)
    return ax


def relative_depth(
    scores: pd.DataFrame,
    *,
    metric: str = "ami",
    hue: str = "family",
    col: str = "hierarchy",
    peaks: pd.DataFrame | None = None,
) -> plt.Figure:
    """Score against relative depth (0 = first probe point, 1 = the penultimate layer), one line per
    ``hue`` value, one panel per ``col`` value (the paper's Fig. 7 and G.1).

    Parameters
    ----------
    scores : pandas.DataFrame
        Tidy scores of one factor (:func:`paperlib.experiment.run`): ``rel_depth``, ``seed``,
        ``metric``, ``hue`` and ``col``. Lines are means over seeds; bands min..max when several.
    peaks : pandas.DataFrame, optional
        :func:`paperlib.architecture.peak_layers` of the same table: each line's peak is marked.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols = list(scores[col].unique())
    fig, axes = plt.subplots(
        1, len(cols), figsize=(5.2 * len(cols), 3.6), squeeze=False, sharey=True, constrained_layout=True
    )
    for ax, c in zip(axes[0], cols):
        sub = scores[scores[col] == c]
        for value, g in sub.groupby(hue, sort=False):
            st = g.groupby("rel_depth")[metric].agg(["mean", "min", "max"]).reset_index()
            color = FAMILY_COLORS.get(value)
            ax.plot(
                st["rel_depth"],
                st["mean"],
                marker="o",
                ms=3,
                label=f"{value} ({g['arch'].iloc[0]})" if "arch" in g else str(value),
                color=color,
            )
            if g["seed"].nunique() > 1:
                ax.fill_between(st["rel_depth"], st["min"], st["max"], alpha=0.2, color=color)
            if peaks is not None:
                pk = peaks[(peaks[hue] == value) & (peaks[col] == c)]
                for r in pk.itertuples():
                    ax.plot([r.peak_rel_depth], [r.peak], marker="*", ms=11, color=color, mec="black", mew=0.5)
        ax.set_xlabel("relative depth (probe point / last probe point)")
        ax.set_title(f"{col} {c}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(metric.upper() if metric == "ami" else metric)
    axes[0, -1].legend(fontsize=8, title=hue, title_fontsize=8)
    return fig


def ood_purity(
    ood: pd.DataFrame,
    *,
    hue: str = "loss",
    col: str = "set",
    metric: str = "purity",
    highlight: Sequence[str] = ("softmax", "squared_error"),
) -> plt.Figure:
    """Out-of-distribution purity against the overclustering factor (the paper's Fig. 3, 5 and 6).

    Parameters
    ----------
    ood : pandas.DataFrame
        :func:`paperlib.transfer.transfer_grid`'s scores: ``factor``, ``seed``, ``metric``, ``hue``, ``col``.
    highlight : sequence of str
        ``hue`` values drawn thick (the others thin).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per ``col`` value, one line per ``hue`` value (mean over seeds; band min..max).
    """
    cols = list(ood[col].unique())
    fig, axes = plt.subplots(1, len(cols), figsize=(5.0 * len(cols), 3.6), squeeze=False, constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    for ax, c in zip(axes[0], cols):
        sub = ood[ood[col] == c]
        for i, (value, g) in enumerate(sub.groupby(hue, sort=False)):
            st = g.groupby("factor")[metric].agg(["mean", "min", "max"]).reset_index()
            lw = 2.4 if value in highlight else 1.0
            ax.plot(st["factor"], st["mean"], marker="o", ms=3, lw=lw, label=str(value), color=cmap(i % 10))
            if g["seed"].nunique() > 1:
                ax.fill_between(st["factor"], st["min"], st["max"], alpha=0.15, color=cmap(i % 10))
        ax.set_xlabel("overclustering factor (clusters / classes)")
        ax.set_title(
            f"{c} ({int(sub['n_classes'].iloc[0])} classes, {int(sub['n_images'].iloc[0])} images)"
            if "n_classes" in sub
            else str(c),
            fontsize=10,
        )
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(metric)
    axes[0, -1].legend(fontsize=7, title=hue, title_fontsize=8)
    return fig


def stack(figures: Sequence[plt.Figure], *, dpi: int = 100) -> plt.Figure:
    """Several finished figures one above the other, as one figure (e.g. one gallery per seed).

    Each figure is rendered to pixels at ``dpi`` and drawn in its own row, at its own aspect, so a
    chapter glues one figure whatever the number of panels. Galleries are images already: nothing is
    lost that the page would show. The input figures are left open (close them).

    Parameters
    ----------
    figures : sequence of matplotlib.figure.Figure
        At least one.

    Returns
    -------
    matplotlib.figure.Figure
        Width of the widest input; height the sum of theirs.
    """
    import numpy as np

    if not figures:
        raise ValueError("stack needs at least one figure")
    images = []
    for f in figures:
        f.set_dpi(dpi)
        f.canvas.draw()
        images.append(np.asarray(f.canvas.buffer_rgba()))
    width = max(im.shape[1] for im in images) / dpi
    heights = [im.shape[0] / dpi for im in images]
    fig, axes = plt.subplots(
        len(images),
        1,
        figsize=(width, sum(heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights, "hspace": 0.0},
    )
    fig.subplots_adjust(left=0, right=1, top=1, bottom=0)
    for ax, im in zip(axes[:, 0], images):
        ax.imshow(im, interpolation="none")
        ax.set_axis_off()
    return fig
