"""The paper's probe for a researcher's own model and images (``python -m paperlib report``).

Given a two-level image folder ``ROOT/<superclass>/<subclass>/*.{jpg,jpeg,png}`` and a model (a
paperlib architecture or any timm model, optionally with a checkpoint), cluster every probe point's
embeddings within each superclass with Ward linkage into ``subclasses x factor`` clusters, score the
clusters against the hidden subclasses (AMI and purity), average over superclasses without weights,
and write the per-layer profile as ``profile.csv`` and ``profile.png``.

This module is wiring; the pieces are the library's own: the folder is read by
:mod:`paperlib.data.folder` (every image decoded once, :func:`~paperlib.data.find_bad_images`,
before the model is built; unreadable or truncated files stop the report with their paths listed,
or are skipped with ``--skip-bad-images`` / ``skip_bad_images=True``); the model is built by
:func:`paperlib.foreign.load_model` (timm models with ``pretrained=False``, trained weights only from
``--checkpoint``, read as data by :mod:`paperlib.checkpoints`: a file that needs full unpickling is
refused unless ``--trust-checkpoint`` / ``trust_checkpoint=True``; probe points and preprocessing
as the model expects); the scores come from :func:`paperlib.scoring.score_layers`, as in the cached
pipeline; the figure from :func:`paperlib.plots.plot_profile`. Nothing is cached and nothing is
downloaded. :func:`report` prints the preprocessing used and writes it to ``preprocess.json``
beside ``profile.csv``.

Importing this module has no side effects (timm and matplotlib are imported when used).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from . import cache, cluster, data, extract, names, scoring, train
from .data import drop_bad_images, folder_split
from .foreign import load_model, model_kind
from .hierarchy import Hierarchy
from .scoring import SCORE_COLUMNS

__all__ = ["layer_profile", "best_layers", "write_outputs", "report"]


def layer_profile(
    model: nn.Module,
    split: data.Split,
    hierarchy: Hierarchy,
    factors: Sequence[int] = (1, 3, 5),
    pool: str = "flatten",
    *,
    layers: Sequence[str] | None = None,
    l2_normalize: bool = True,
    batch_size: int = 64,
    image_size: int | None = None,
    device: str | torch.device | None = "auto",
    num_workers: int = 0,
    progress: bool = False,
    return_per_superclass: bool = False,
    preprocess: data.Preprocess | None = None,
):
    """AMI and purity of Ward clusterings at every probe point, averaged over superclasses.

    The paper's probe, :func:`paperlib.scoring.score_layers` (as the cached pipeline runs it): per
    superclass ``s`` (one forward pass per batch for all probe points), the embeddings of every
    probe point are clustered with Ward linkage into ``len(hierarchy.groups[s]) * factor`` clusters
    for every factor (one tree) and scored against the subclass labels (AMI, purity); the scores
    are then averaged over superclasses without weights.

    Parameters
    ----------
    model : torch.nn.Module
        Has ``probe_points`` (:func:`paperlib.foreign.load_model`); put in eval mode on ``device``.
    split : paperlib.data.Split
        ``n_images`` images with subclass ids of ``hierarchy``.
    hierarchy : paperlib.hierarchy.Hierarchy
    factors : sequence of int
        Overclustering factors, each ``>= 1``.
    pool : {"flatten", "avg"}
        ``"flatten"`` (paper) or global average pooling of feature maps / tokens.
    layers : sequence of str, optional
        Probe point names to score (default all).
    l2_normalize : bool
        Scale embeddings to unit norm before clustering.
    batch_size, image_size, device, num_workers
        Forward-pass settings; ``image_size`` defaults to ``model.image_size`` if set.
    progress : bool
        Show a progress bar over superclasses (stderr).
    return_per_superclass : bool
        Also return the scores per superclass.
    preprocess : paperlib.data.Preprocess, optional
        Normalisation and eval transform; defaults to ``model.preprocess`` if set
        (:func:`paperlib.foreign.load_model`), else the split's dataset statistics.

    Returns
    -------
    profile : pandas.DataFrame
        One row per (layer, factor), ``n_layers * len(factors)`` rows, columns ``layer``, ``depth``
        (0-based probe position), ``rel_depth`` (0..1), ``factor``, ``ami``, ``purity``, sorted by
        depth then factor.
    per_superclass : pandas.DataFrame
        Only with ``return_per_superclass``: the same before averaging, plus ``superclass``.
    """
    names.check("pool", pool)
    cluster.n_clusters_for(1, list(factors))  # validate before any compute
    factors = [int(f) for f in factors]
    device = train.resolve_device(device)
    image_size = image_size or getattr(model, "image_size", None)
    preprocess = preprocess or getattr(model, "preprocess", None)
    extract.resolve_layers(model, layers)  # unknown names listed before any compute
    model = model.to(device).eval()
    res = scoring.score_layers(
        model,
        split,
        hierarchy,
        factors,
        layers=layers,
        pool=pool,
        l2_normalize=l2_normalize,
        batch_size=batch_size,
        image_size=image_size,
        device=device,
        num_workers=num_workers,
        preprocess=preprocess,
        progress=progress,
    )
    mean, per = res.tables()
    mean = mean[SCORE_COLUMNS]
    return (mean, per) if return_per_superclass else mean


def best_layers(profile: pd.DataFrame, metric: str = "ami") -> pd.DataFrame:
    """The layer with the highest ``metric`` for every factor.

    Parameters
    ----------
    profile : pandas.DataFrame
        Output of :func:`layer_profile`.
    metric : {"ami", "purity"}

    Returns
    -------
    pandas.DataFrame
        One row per factor (ascending), the :func:`layer_profile` columns.
    """
    idx = profile.groupby("factor")[metric].idxmax()
    return profile.loc[idx.sort_index().to_numpy(), SCORE_COLUMNS].reset_index(drop=True)


def write_outputs(profile: pd.DataFrame, out_dir: str | Path, title: str | None = None) -> tuple[Path, Path]:
    """Write ``profile.csv`` and ``profile.png`` (:func:`paperlib.plots.plot_profile`) into ``out_dir``
    atomically (:func:`paperlib.cache.write_atomic`: temp file + rename).

    Returns
    -------
    csv, png : pathlib.Path
    """
    from . import plots

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    csv, png = out / "profile.csv", out / "profile.png"
    cache.write_atomic(csv, profile.to_csv(index=False).encode())
    buf = io.BytesIO()
    plots.plot_profile(profile, title).savefig(buf, format="png", dpi=130)
    cache.write_atomic(png, buf.getvalue())
    return csv, png


def _check_numbers(**values) -> None:
    """Raise ``ValueError`` naming each of ``values`` that is given (not None) but not a positive integer."""
    for name, v in values.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def report(
    model: str,
    folder: str | Path,
    *,
    checkpoint: str | Path | None = None,
    factors: Sequence[int] = (1, 3, 5),
    pool: str = "flatten",
    image_size: int | None = None,
    batch_size: int = 64,
    max_per_subclass: int | None = None,
    out_dir: str | Path | None = None,
    device: str | None = "auto",
    layers: Sequence[str] | None = None,
    l2_normalize: bool = True,
    num_workers: int = 0,
    progress: bool = True,
    stream=None,
    trust_checkpoint: bool = False,
    skip_bad_images: bool = False,
) -> tuple[pd.DataFrame, Path, Path]:
    """Everything ``python -m paperlib report`` does: check, load, profile, write, summarise.

    All inputs (model name, folder layout, factors, every image file, checkpoint) are checked
    before any forward pass; the images (:func:`paperlib.data.find_bad_images`) before the model is built.
    Parameters are those of :func:`paperlib.data.folder_split`, :func:`paperlib.foreign.load_model` and
    :func:`layer_profile`;
    ``out_dir`` defaults to ``report_<model>``; the summary (best layer per factor) goes to
    ``stream`` (default stdout). ``skip_bad_images``: leave out image files that cannot be decoded
    (their count and paths are printed) instead of raising :class:`paperlib.data.BadImageError`.

    Returns
    -------
    profile : pandas.DataFrame
        As :func:`layer_profile`.
    csv, png : pathlib.Path
        The files written.
    """
    stream = stream or sys.stdout
    model_kind(model)
    names.check("pool", pool)
    cluster.n_clusters_for(1, list(factors))
    _check_numbers(batch_size=batch_size, image_size=image_size, max_per_subclass=max_per_subclass)
    if out_dir is not None and Path(out_dir).expanduser().exists() and not Path(out_dir).expanduser().is_dir():
        raise ValueError(
            f"out_dir {out_dir} is a file; name a folder (made if missing) for profile.csv and profile.png"
        )
    split, h = folder_split(folder, max_per_subclass)
    split = drop_bad_images(split, h, skip_bad_images, stream)
    net = load_model(model, checkpoint, image_size=image_size, trust_checkpoint=trust_checkpoint)
    extract.resolve_layers(net, layers)
    out_dir = Path(out_dir).expanduser() if out_dir is not None else Path(f"report_{model}")
    out_dir.mkdir(parents=True, exist_ok=True)  # fail on an unwritable place before the compute
    print(
        f"{h.name}: {h.n_superclasses} superclasses, {h.n_subclasses} subclasses, {len(split)} images; "
        f"{model} ({len(net.probe_points)} probe points, {net.image_size} px, pool {pool})",
        file=stream,
    )
    print(f"preprocessing: {net.preprocess.describe()}", file=stream)
    side = {"model": model, "checkpoint": str(checkpoint) if checkpoint else None, **net.preprocess.to_dict()}
    cache.write_atomic(out_dir / "preprocess.json", (json.dumps(side, indent=2) + "\n").encode())
    profile = layer_profile(
        net,
        split,
        h,
        factors,
        pool,
        layers=layers,
        l2_normalize=l2_normalize,
        batch_size=batch_size,
        device=device,
        num_workers=num_workers,
        progress=progress,
    )
    title = f"{model}{' (' + Path(checkpoint).name + ')' if checkpoint else ''} on {h.name}, pool {pool}"
    csv, png = write_outputs(profile, out_dir, title)
    best = best_layers(profile)
    print("best layer per factor (AMI):", file=stream)
    for r in best.itertuples():
        print(
            f"  factor {r.factor}: {r.layer} (depth {r.depth}, rel {r.rel_depth:.2f})  "
            f"AMI {r.ami:.3f}  purity {r.purity:.3f}",
            file=stream,
        )
    print(f"wrote {csv}, {png} and {out_dir / 'preprocess.json'}", file=stream)
    return profile, csv, png
