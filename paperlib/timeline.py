"""Clusterability over training (Fig. D.10): every layer scored at EMA snapshots the trainer kept.

The model is trained once with :attr:`paperlib.config.TrainConfig.snapshot_epochs` set; each snapshot
is then scored like a finished model (:func:`paperlib.experiment.evaluate`, cached per epoch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import experiment, train
from .config import Profile, snapshot_epochs

__all__ = ["snapshot_epochs", "over_training"]


def over_training(
    profile: Profile,
    arch: str,
    *,
    hierarchies: Sequence[str] = ("standard", "shuffled"),
    points: int = 5,
    seed: int = 0,
    factors: Sequence[int] = (1,),
    pool: str = "flatten",
    l2_normalize: bool = True,
    shuffle_seed: int = 0,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = "auto",
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train ``arch`` once per hierarchy keeping ``points`` EMA snapshots, and score every snapshot.

    When the profile keeps ``points`` snapshots in every model (:attr:`Profile.snapshot_points`),
    these are the models the other chapters trained, loaded from the cache.

    Returns
    -------
    scores : pandas.DataFrame
        ``arch``, ``hierarchy``, ``epoch``, ``layer``, ``depth``, ``rel_depth``, ``factor``, ``ami``,
        ``purity``: one row per snapshot, layer and factor.
    accuracy : pandas.DataFrame
        ``arch``, ``hierarchy``, ``epoch``, ``accuracy`` (superclass accuracy of each snapshot).
    """
    ecfg = profile.eval_config(factors, pool, l2_normalize)
    configs = []
    for hier in hierarchies:
        cfg = profile.train_config(arch, hierarchy=hier, seed=seed, shuffle_seed=shuffle_seed)
        configs.append(cfg.with_snapshots(points))  # the chapters' own model when the profile keeps as many
    experiment.validate_grid(configs, data_root)
    frames, accs = [], []
    for cfg in configs:
        trained = train.train_model(
            cfg,
            data_root=data_root,
            cache_dir=cache_dir,
            device=device,
            num_workers=profile.num_workers,
            progress=progress,
            compile=profile.compile,
        )
        for epoch in cfg.snapshot_epochs:
            snap = train.load_snapshot(trained, epoch)
            ev = experiment.evaluate(
                snap,
                ecfg,
                data_root=data_root,
                cache_dir=cache_dir,
                device=device,
                progress=progress,
                batch_size=profile.eval_batch_size,
            )
            ident = {"arch": cfg.arch, "hierarchy": cfg.hierarchy, "epoch": epoch}
            frames.append(ev.scores.assign(**ident))
            accs.append({**ident, "accuracy": ev.accuracy})
    cols = ["arch", "hierarchy", "epoch", "layer", "depth", "rel_depth", "factor", "ami", "purity"]
    return pd.concat(frames, ignore_index=True)[cols], pd.DataFrame(accs)
