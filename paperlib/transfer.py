"""Clustering out-of-distribution images with a trained model (paper Sec. 5.2 and 6, Fig. 3, 5, 6).

One Ward clustering of *all* images of an out-of-distribution set (not within classes) on the
model's penultimate embedding (the classifier's input, unit norm) into ``n_classes x factor``
clusters, scored by purity (and AMI) against the set's classes, factor by factor
(:func:`ood_scores`, cached under ``<cache>/transfer/<key>/``). :func:`transfer_grid` does it for a
grid of models, trained or loaded from the cache like every chapter's, and measures each model's
superclass accuracy on its own validation split (the gate of the claim checks). With ``byol=True``
the grid also holds a self-supervised BYOL model per architecture and seed (:mod:`paperlib.byol`,
Fig. 3), whose accuracy is that of its linear readout (the table's ``accuracy_of`` says which).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import byol, cache, cluster, data, experiment, extract, metrics, provenance, train
from .config import Profile, TrainConfig, cache_root

__all__ = [
    "OOD_COLUMNS",
    "ood_identity",
    "transfer_key",
    "ood_scores",
    "superclass_accuracy",
    "transfer_grid",
    "by_training_set",
    "check_checkpoints",
]

#: Columns of :func:`ood_scores`.
OOD_COLUMNS = ["set", "factor", "n_clusters", "purity", "ami", "n_images", "n_classes"]


def ood_identity(split: data.Split) -> dict:
    """What an out-of-distribution split reads: number of images and a digest of its labels and its
    pixels (in memory) or its files (path and size)."""
    h = hashlib.sha256(np.ascontiguousarray(split.subclass, dtype=np.int64).tobytes())
    if split.images is not None:
        h.update(split.images.contiguous().numpy().tobytes())
    else:
        for p in split.paths:
            h.update(f"{p}\0{os.path.getsize(p)}\n".encode())
    return {"n_images": len(split), "sha256": h.hexdigest()[:16]}


def transfer_key(
    cfg: TrainConfig, name: str, split: data.Split, per_class: int | None, factors: Sequence[int], data_root=None
) -> dict:
    """The cache key of :func:`ood_scores`: the model's configuration and training data, the set, the
    factors and the code (:func:`paperlib.provenance.code_version` ``("transfer")``)."""
    return train.with_pretrained(
        {
            "train": cache.canonical(cfg.key_dict()),
            "code": provenance.code_version("transfer"),
            "data": data.data_identity(cfg.dataset, data_root, splits=("train",)),
            "ood": {"set": name, "per_class": per_class, **ood_identity(split)},
            "factors": [int(f) for f in factors],
        },
        cfg,
    )


def _embed(trained: train.Trained, split: data.Split, device, batch_size: int, num_workers: int) -> np.ndarray:
    cfg = trained.config
    last = trained.model.probe_points[-1].name
    pre = data.Preprocess.for_dataset(cfg.dataset, cfg.image_size)  # the model's own normalisation
    emb, _ = extract.extract(
        trained.model,
        split,
        layers=[last],
        pool="avg",
        l2_normalize=True,
        batch_size=batch_size,
        device=device,
        num_workers=num_workers,
        preprocess=pre,
    )
    return emb[last]


def ood_scores(
    trained: train.Trained,
    name: str,
    *,
    factors: Sequence[int] = tuple(range(1, 11)),
    per_class: int | None = None,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = "auto",
    batch_size: int = 256,
    num_workers: int = 0,
) -> pd.DataFrame:
    """Purity (and AMI) of one Ward clustering of a whole out-of-distribution set, per factor.

    Parameters
    ----------
    trained : paperlib.train.Trained
    name : str
        One of :data:`paperlib.names.OOD_SETS` (:func:`paperlib.data.ood_split`).
    factors : sequence of int
        Clusters = the set's number of classes x factor (at most the number of images).
    per_class : int, optional
        Images per class (the first ones); all when None.

    Returns
    -------
    pandas.DataFrame
        One row per factor, columns :data:`OOD_COLUMNS`.
    """
    factors = [int(f) for f in factors]
    if not factors or min(factors) < 1:
        raise ValueError(f"factors must be a non-empty list of integers >= 1, got {factors}")
    split, classes = data.ood_split(name, data_root, per_class)
    root = cache_root(cache_dir)
    d = cache.artifact_dir(root, "transfer", transfer_key(trained.config, name, split, per_class, factors, data_root))
    f = d / "transfer.json"
    with contextlib.nullcontext() if cache.is_valid(f) else cache.lock(d, what=f"to cluster {name} {d}"):
        if cache.is_valid(f):
            return pd.DataFrame(cache.load(f))[OOD_COLUMNS]
        dev = train.resolve_device(device)
        emb = _embed(trained, split, dev, batch_size, num_workers)
        n_classes = len(np.unique(split.subclass))
        ks = [min(n_classes * fa, len(split)) for fa in factors]
        labels = cluster.ward_labels(emb, ks, device=dev if dev.type == "cuda" else None)
        rows = [
            {
                "set": name,
                "factor": fa,
                "n_clusters": k,
                "purity": metrics.purity(split.subclass, lab),
                "ami": metrics.ami(split.subclass, lab),
                "n_images": len(split),
                "n_classes": n_classes,
            }
            for fa, k, lab in zip(factors, ks, labels)
        ]
        cache.try_save(f, rows, root=root)
    return pd.DataFrame(rows)[OOD_COLUMNS]


def superclass_accuracy(
    trained: train.Trained, profile: Profile, *, data_root=None, cache_dir=None, device: str | None = "auto"
) -> float:
    """Superclass accuracy of the model on its validation split: the argmax of its final layer, which is
    the classifier of a supervised model and the linear readout of a BYOL model (:func:`paperlib.train.accuracy_of`)."""
    cfg = trained.config
    split = experiment.validation_split(
        cfg.dataset,
        profile.val_per_subclass,
        cfg.decode_size,
        data_root,
        cache_dir,
        progress=False,
        num_workers=profile.num_workers,
    )
    sup = trained.hierarchy.superclass_labels(split.subclass)
    keep = np.flatnonzero(sup >= 0)
    _, logits = extract.extract(
        trained.model,
        split.subset(keep),
        layers=[trained.model.probe_points[-1].name],
        pool="avg",
        batch_size=profile.eval_batch_size,
        image_size=cfg.image_size,
        device=train.resolve_device(device),
        num_workers=profile.num_workers,
    )
    return float((logits.argmax(1) == sup[keep]).mean())


def check_checkpoints(configs: Sequence[TrainConfig], trust_checkpoint: bool = False) -> None:
    """Open every user checkpoint of ``configs`` (``TrainConfig.pretrained``) and load it into its architecture.

    Run before any model of a grid trains, so that a checkpoint that cannot be read (missing, not
    tensor data, a pickle that needs ``trust_checkpoint``) or does not fit (keys, shapes) stops the grid
    at once rather than after every other model has trained and been scored. Each file is read as
    :func:`paperlib.byol.load_backbone` reads it for training, into the model :func:`paperlib.train.build_for`
    builds on the CPU (its final layer is refitted in training, so its size does not matter here).

    Raises
    ------
    FileNotFoundError, paperlib.checkpoints.CheckpointError
        The file and what does not fit.
    """
    for cfg in configs:
        if cfg.pretrained is not None:
            byol.load_backbone(train.build_for(cfg, 2), cfg.pretrained, trust_checkpoint)


def transfer_grid(
    profile: Profile,
    archs: Sequence[str],
    *,
    hierarchies: Sequence[str] = ("standard",),
    seeds: Sequence[int] = (0,),
    losses: Sequence[str] = ("softmax",),
    sets: Sequence[str] | None = None,
    factors: Sequence[int] = tuple(range(1, 11)),
    shuffle_seed: int = 0,
    recipe: str = "nguyen",
    data_root=None,
    cache_dir=None,
    device: str | None = "auto",
    progress: bool = True,
    byol: bool = False,
    byol_checkpoint: str | Path | None = None,
    trust_checkpoint: bool = False,
    datasets: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (or load) every model of a grid and cluster each out-of-distribution set with it.

    Names, data, a user's BYOL checkpoint (:func:`check_checkpoints`) and every set are checked before
    any training.

    Parameters
    ----------
    recipe : {"nguyen", "kornblith"}
        The training recipe of the labelled models (:meth:`paperlib.config.Profile.train_config`):
        the clustering paper's, or Kornblith et al.'s (Fig. 6).
    datasets : sequence of str, optional
        The training sets of the supervised models (default: the profile's dataset); at ``paper``
        Fig. 3 trains on each BREEDS set (:func:`paperlib.config.experiment_datasets`). BYOL trains on
        the first only (the paper's BYOL is one model, Grill et al.'s).
    byol : bool
        Also a self-supervised BYOL model (``loss="byol"``, :mod:`paperlib.byol`) per architecture and
        seed, trained on the same images without labels for ``profile.byol_epochs``.
    byol_checkpoint : path-like, optional
        Read the BYOL backbone from this checkpoint instead of training it (the paper used Grill et al.'s
        released ResNet-50; :func:`paperlib.byol.load_backbone` says which layouts are read), one model
        under the first seed. Read safely (:func:`paperlib.checkpoints.read_checkpoint`).
    trust_checkpoint : bool
        Allow a ``byol_checkpoint`` that needs full unpickling; only for a file whose source you trust.

    Returns
    -------
    scores : pandas.DataFrame
        :data:`OOD_COLUMNS` plus ``arch``, ``family``, ``hierarchy``, ``seed``, ``loss``, ``training``
        (the labels a model trained on, ``hierarchy``, or its self-supervised objective, ``"byol"``) and
        ``dataset`` (its training set).
    accuracy : pandas.DataFrame
        Per model ``arch``, ``family``, ``hierarchy``, ``seed``, ``loss``, ``training``, ``dataset``, ``accuracy``
        (superclass, validation split), ``accuracy_of`` (``"classifier"`` or BYOL's linear readout),
        ``epochs``, ``n_superclasses`` (the table :func:`paperlib.claims.accuracy_gate` reads).
    """
    sets = list(profile.ood_sets if sets is None else sets)
    if not sets:
        raise ValueError(f"profile {profile.name!r} names no out-of-distribution set; pass sets=[...]")
    for what, values in (("architectures", archs), ("hierarchies", hierarchies), ("seeds", seeds), ("losses", losses)):
        if len(values) == 0:
            raise ValueError(f"{what} must be a non-empty list, got {list(values)!r}")
    datasets = [profile.dataset] if datasets is None else list(datasets)
    if not datasets:
        raise ValueError("datasets must be None (the profile's) or a non-empty list")
    grid = [
        profile.train_config(a, hierarchy=h, seed=s, loss=lo, shuffle_seed=shuffle_seed, dataset=ds, recipe=recipe)
        for ds, a, h, s, lo in itertools.product(datasets, archs, hierarchies, seeds, losses)
    ]
    if byol or byol_checkpoint is not None:
        for a, s in itertools.product(archs, seeds[:1] if byol_checkpoint is not None else seeds):
            cfg = profile.train_config(a, seed=s, loss="byol", dataset=datasets[0])
            grid.append(cfg if byol_checkpoint is None else cfg.replace(pretrained=str(byol_checkpoint)))
    experiment.validate_grid(grid, data_root)
    check_checkpoints(grid, trust_checkpoint)
    for name in sets:
        data.check_ood(name, data_root)
    frames, accs = [], []
    for cfg in grid:
        trained = train.train_model(
            cfg,
            data_root=data_root,
            cache_dir=cache_dir,
            device=device,
            num_workers=profile.num_workers,
            progress=progress,
            compile=profile.compile,
            trust_checkpoint=trust_checkpoint,
        )
        ident = {
            "arch": cfg.arch,
            "family": profile.family(cfg.arch),
            "hierarchy": cfg.hierarchy,
            "seed": cfg.seed,
            "loss": cfg.loss,
            "training": train.training_of(cfg),
            "dataset": cfg.dataset,
        }
        for name in sets:
            df = ood_scores(
                trained,
                name,
                factors=factors,
                per_class=profile.ood_per_class,
                data_root=data_root,
                cache_dir=cache_dir,
                device=device,
                batch_size=profile.eval_batch_size,
                num_workers=profile.num_workers,
            )
            frames.append(df.assign(**ident))
        acc = superclass_accuracy(trained, profile, data_root=data_root, cache_dir=cache_dir, device=device)
        accs.append(
            {
                **ident,
                "accuracy": acc,
                "accuracy_of": train.accuracy_of(cfg),
                "epochs": cfg.epochs,
                "n_superclasses": trained.hierarchy.n_superclasses,
                "gate": profile.accuracy_gate,
            }
        )
    return pd.concat(frames, ignore_index=True), pd.DataFrame(accs)


def by_training_set(*tables: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """:func:`transfer_grid`'s tables with each model named by its training set when there are several.

    The claim check and the plots group by ``arch``; with models trained on several BREEDS sets
    (Fig. 3 at ``paper``) each (architecture, training set) must be its own group, so ``arch`` becomes
    ``"resnet50 (living17)"``. With one training set the tables come back unchanged.

    Parameters
    ----------
    *tables : pandas.DataFrame
        Tables with columns ``arch`` and ``dataset`` (the scores and the accuracy of :func:`transfer_grid`).

    Returns
    -------
    tuple of pandas.DataFrame
        The tables in the same order (copies where renamed).

    Examples
    --------
    >>> df = pd.DataFrame({"arch": ["r", "r"], "dataset": ["entity13", "living17"]})
    >>> list(by_training_set(df)[0]["arch"])
    ['r (entity13)', 'r (living17)']
    """
    for t in tables:
        if not {"arch", "dataset"} <= set(t.columns):
            raise ValueError(f"by_training_set needs columns arch and dataset, got {list(t.columns)}")
    if len(set().union(*(set(t["dataset"]) for t in tables))) <= 1:
        return tables
    return tuple(t.assign(arch=t["arch"] + " (" + t["dataset"].astype(str) + ")") for t in tables)
