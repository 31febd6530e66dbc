"""Figures: every function takes data and a matplotlib ``ax`` and draws; none computes scores."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["HIERARCHY_COLORS", "layer_profile", "factor_grid"]

HIERARCHY_COLORS = {"standard": "tab:green", "shuffled": "tab:orange"}


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
    scores: pd.DataFrame, *, metric: str = "ami", hue: str = "hierarchy", col: str = "arch", row: str = "factor",
    col_order: Sequence | None = None, titles: dict | None = None, baseline: pd.DataFrame | None = None,
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
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(4.2 * len(cols), 2.6 * len(rows)), squeeze=False,
                             sharey="row", constrained_layout=True)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            sub = scores[(scores[row] == r) & (scores[col] == c)]
            t = f"{(titles or {}).get(c, c)}, {row} {r}"
            layer_profile(axes[i, j], sub, metric=metric, hue=hue, title=t)
            if baseline is not None:
                for _, b in baseline[baseline[row] == r].iterrows():
                    axes[i, j].axhline(b[metric], ls="--", lw=1, color=HIERARCHY_COLORS.get(b[hue], "grey"),
                                       label=f"{b[hue]}, raw pixels")
            if i < len(rows) - 1:
                axes[i, j].set_xticklabels([])
    axes[0, -1].legend(fontsize=8, title=hue, title_fontsize=8)
    return fig
