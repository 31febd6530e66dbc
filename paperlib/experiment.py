"""The cached pipeline the notebooks and the command line share.

``train -> extract -> cluster -> score``: :func:`evaluate` takes a trained model and scores it on
the validation split with :func:`paperlib.scoring.score_layers`: superclass by superclass, every
probe point extracted in one forward pass, one Ward tree per (superclass, layer), cut at every
overclustering factor, the cuts scored against the hidden subclasses. Scores, cluster assignments,
pooled penultimate embeddings and the superclass accuracy are cached under ``<cache>/scores/<key>/``
(:func:`scores_key`: train config, eval config, code version and data identity).
:func:`run` does all of it for a grid of models and returns tidy tables.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import cache, data, names, provenance, scoring, train
from .config import EvalConfig, Profile, TrainConfig, cache_root
from .scoring import score_superclass  # noqa: F401 - its former home; the scoring lives in paperlib.scoring

__all__ = [
    "ALL_FACTORS",
    "Evaluation",
    "evaluate",
    "pixel_scores",
    "data_checks",
    "run",
    "scores_key",
    "validate_grid",
    "validation_split",
]


@dataclass
class Evaluation:
    """Scores of one trained model.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per (layer, factor): ``layer``, ``depth`` (0-based position), ``rel_depth``
        (0..1), ``factor``, ``n_clusters_per_subclass``, ``ami``, ``purity`` (unweighted means over
        superclasses).
    per_superclass : pandas.DataFrame
        The same per superclass (column ``superclass``), before averaging.
    accuracy : float
        Superclass accuracy of the EMA model on the validation split.
    assignments : dict of str -> numpy.ndarray of int32, shape ``(n_factors, n_images)``
        Cluster of every validation image at every factor, per layer (ids unique within a
        superclass, in the validation split's order).
    subclass : numpy.ndarray, shape ``(n_images,)``
        Subclass of every validation image.
    superclass : numpy.ndarray, shape ``(n_images,)``
        Superclass (of the training hierarchy) of every validation image.
    penultimate : numpy.ndarray, shape ``(n_images, n_features)``
        Pooled penultimate embedding (the last probe point).
    """

    scores: pd.DataFrame
    per_superclass: pd.DataFrame
    accuracy: float
    assignments: dict
    subclass: np.ndarray
    superclass: np.ndarray
    penultimate: np.ndarray


def validation_split(
    dataset: str | data.Dataset,
    val_per_subclass: int | None,
    decode_size: int | None,
    data_root=None,
    cache_dir=None,
    progress: bool = True,
    num_workers: int = 0,
) -> data.Split:
    """The validation images models are scored on, decoded once (:func:`data.decode_once`) if
    ``decode_size`` is set."""
    split = data.load_split(dataset, "val", data_root, per_subclass=val_per_subclass)
    if decode_size:
        split = data.decode_once(split, decode_size, cache_dir, num_workers=num_workers, progress=progress)
    return split


def _compute(
    trained: train.Trained, ecfg: EvalConfig, data_root, cache_dir, device, progress: bool, batch_size: int
) -> dict:
    cfg, h, model = trained.config, trained.hierarchy, trained.model
    split = validation_split(cfg.dataset, ecfg.val_per_subclass, ecfg.decode_size, data_root, cache_dir, progress)
    res = scoring.score_layers(
        model,
        split,
        h,
        ecfg.factors,
        pool=ecfg.pool,
        l2_normalize=ecfg.l2_normalize,
        batch_size=batch_size,
        image_size=ecfg.image_size,
        device=device,
        amp=ecfg.extract_bf16,  # float32 unless asked (training's bf16 is cfg.amp)
        keep_last=True,
        progress=progress,
        desc=f"cluster {cfg.arch} {cfg.hierarchy} seed {cfg.seed}",
    )
    return {
        "rows": res.rows,
        "accuracy": res.accuracy,
        "names": res.names,
        "assignments": res.assignments,
        "subclass": res.subclass,
        "superclass": res.superclass,
        "penultimate": res.last,
    }


def scores_key(
    cfg: TrainConfig, ecfg: EvalConfig, data_root: str | Path | None = None, epoch: int | None = None
) -> dict:
    """What identifies the scores of the model ``cfg`` under ``ecfg``: configurations, code and data.

    Returns
    -------
    dict
        ``train`` and ``eval`` (the two configurations, canonical), ``code``
        (:func:`paperlib.provenance.code_version` ``("scores")``: the training code and the
        extraction, clustering and scoring code) and ``data``
        (:func:`paperlib.data.data_identity` of both splits); and ``epoch`` for the scores of
        a training snapshot (:func:`paperlib.train.load_snapshot`), absent for the finished model; and
        ``pretrained`` for a model read from a checkpoint (:func:`paperlib.train.with_pretrained`).
    """
    key = train.with_pretrained(
        {
            "train": cache.canonical(cfg.key_dict()),
            "eval": cache.canonical(ecfg),
            "code": provenance.code_version("scores"),
            "data": data.data_identity(cfg.dataset, data_root, splits=("train", "val")),
        },
        cfg,
    )
    if epoch is not None:
        key["epoch"] = int(epoch)
    return key


def evaluate(
    trained: train.Trained,
    ecfg: EvalConfig,
    *,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    progress: bool = True,
    batch_size: int = 256,
) -> Evaluation:
    """Cluster every layer of a trained model within each superclass and score it (cached).

    Parameters
    ----------
    trained : paperlib.train.Trained
    ecfg : EvalConfig
        Factors, pooling, normalisation, validation subset.
    data_root, cache_dir : path-like, optional
        See :mod:`paperlib.config`. The scores are cached under :func:`scores_key`; after a change
        of code or data they are computed anew in a new folder.

    Returns
    -------
    Evaluation
    """
    device = train.resolve_device(device)
    root = cache_root(cache_dir)
    key = scores_key(trained.config, ecfg, data_root, trained.epoch)
    d = cache.artifact_path(root, "scores", key)  # looked at before it is made: a wider entry may serve
    entry = _finished(d) or _wider_entry(trained, ecfg, root, data_root)
    if entry is None:
        d = cache.artifact_dir(root, "scores", key)
        with cache.lock(d, what=f"to score {d}"):
            entry = _finished(d)  # checked again under the lock: another run may just have written it
            if entry is None:
                res = _compute(trained, ecfg, data_root, cache_dir, device, progress, batch_size)
                arrays = {f"assign/{n}": a for n, a in res["assignments"].items()}
                arrays.update(subclass=res["subclass"], superclass=res["superclass"], penultimate=res["penultimate"])
                meta = {"rows": res["rows"], "accuracy": res["accuracy"], "names": res["names"]}
                if cache.try_save(d / "arrays.npz", arrays, root=root):  # scores.json last: it marks the entry finished
                    cache.try_save(d / "scores.json", meta, root=root)
                entry = meta, arrays
    meta, arrays = entry
    mean, per = scoring.score_tables(meta["rows"], meta["names"])
    return Evaluation(
        scores=mean,
        per_superclass=per,
        accuracy=float(meta["accuracy"]),
        assignments={n: arrays[f"assign/{n}"] for n in meta["names"]},
        subclass=arrays["subclass"],
        superclass=arrays["superclass"],
        penultimate=arrays["penultimate"],
    )


#: The factors every cluster job scores (:mod:`paperlib.launch`); a request for some of them is read
#: from that entry (:func:`evaluate`).
ALL_FACTORS = tuple(range(1, 11))


def _finished(d: Path) -> tuple[dict, dict] | None:
    """``(meta, arrays)`` of the finished scores entry in folder ``d``, each file read and verified
    once, or None where it is missing or corrupt (``scores.json`` is written last: it marks an entry
    finished)."""
    try:
        return cache.load(d / "scores.json"), cache.load(d / "arrays.npz")
    except (FileNotFoundError, cache.CorruptArtifact):
        return None


def _wider_entry(trained: train.Trained, ecfg: EvalConfig, root: Path, data_root) -> tuple[dict, dict] | None:
    """``(meta, arrays)`` of ``ecfg.factors`` read out of a finished scores entry that differs from
    ``ecfg`` only in scoring every factor of :data:`ALL_FACTORS` (a superset of ``ecfg.factors``), or None.

    Ward cuts one tree per layer at every factor's cluster count, and each cut is scored on its own,
    so the scores of a subset of factors are rows of the wider entry (``tests/test_launch.py``
    checks this against a direct computation)."""
    if tuple(ecfg.factors) == ALL_FACTORS or not set(ecfg.factors) <= set(ALL_FACTORS):
        return None
    wide = dataclasses.replace(ecfg, factors=ALL_FACTORS)
    found = _finished(cache.artifact_path(root, "scores", scores_key(trained.config, wide, data_root, trained.epoch)))
    return None if found is None else _factor_subset(*found, ALL_FACTORS, ecfg.factors)


def _factor_subset(meta: dict, arrays: dict, wide: Sequence[int], factors: Sequence[int]) -> tuple[dict, dict]:
    """The rows and cluster assignments of ``factors`` out of an entry scored at ``wide``."""
    keep = {int(f) for f in factors}
    index = [list(wide).index(int(f)) for f in factors]
    rows = [r for r in meta["rows"] if int(r["factor"]) in keep]
    arrays = {k: (v[index] if k.startswith("assign/") else v) for k, v in arrays.items()}
    return {**meta, "rows": rows}, arrays


def validate_grid(configs: Sequence[TrainConfig], data_root=None) -> None:
    """Check every configuration and the data before any compute."""
    for cfg in configs:
        train.validate(cfg, data_root)


def run(
    profile: Profile,
    archs: Sequence[str],
    *,
    hierarchies: Sequence[str] = ("standard",),
    seeds: Sequence[int] = (0,),
    losses: Sequence[str] = ("softmax",),
    factors: Sequence[int] = tuple(range(1, 11)),
    pool: str = "flatten",
    l2_normalize: bool = True,
    shuffle_seed: int = 0,
    recipe: str = "nguyen",
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = "auto",
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Train (or load) and evaluate every model of a grid; the notebooks' one entry point.

    Parameters
    ----------
    profile : Profile
    archs : sequence of str
        Families (``"resnet"``, ``"vgg"``) or concrete architecture names.
    hierarchies, seeds, losses : sequences
        The grid; every combination is one model.
    factors, pool, l2_normalize
        Evaluation settings (see :class:`~paperlib.config.EvalConfig`).
    recipe : {"nguyen", "kornblith"}
        The training recipe (:meth:`paperlib.config.Profile.train_config`): the clustering paper's, or
        Kornblith et al.'s (Fig. 6).

    Returns
    -------
    scores : pandas.DataFrame
        Per model, layer and factor: ``arch``, ``family``, ``hierarchy``, ``seed``, ``loss``,
        ``layer``, ``depth``, ``rel_depth``, ``factor``, ``ami``, ``purity``.
    accuracy : pandas.DataFrame
        Per model: ``arch``, ``family``, ``hierarchy``, ``seed``, ``loss``, ``accuracy``, ``epochs``.
    evaluations : dict
        ``(arch, hierarchy, seed, loss) -> Evaluation`` for further analysis (ARI, galleries).
    """
    for what, values in (("architectures", archs), ("hierarchies", hierarchies), ("seeds", seeds), ("losses", losses)):
        if len(values) == 0:
            raise ValueError(f"{what} must be a non-empty list, got {list(values)!r}")
    for h in hierarchies:
        if h == "subclass":
            raise ValueError(
                "a model trained on subclass labels has one subclass per class: there is nothing to "
                "cluster within its classes; read it out of distribution (paperlib.transfer.transfer_grid)"
            )
        names.check("hierarchy", h)
    ecfg = profile.eval_config(factors, pool, l2_normalize)
    grid = []
    for a, hier, seed, loss in itertools.product(archs, hierarchies, seeds, losses):
        cfg = profile.train_config(a, hierarchy=hier, seed=seed, loss=loss, shuffle_seed=shuffle_seed, recipe=recipe)
        grid.append((cfg, profile.family(cfg.arch)))
    validate_grid([g[0] for g in grid], data_root)
    frames, accs, evals = [], [], {}
    for cfg, fam in grid:
        trained = train.train_model(
            cfg,
            data_root=data_root,
            cache_dir=cache_dir,
            device=device,
            num_workers=profile.num_workers,
            progress=progress,
            compile=profile.compile,
        )
        ev = evaluate(
            trained,
            ecfg,
            data_root=data_root,
            cache_dir=cache_dir,
            device=device,
            progress=progress,
            batch_size=profile.eval_batch_size,
        )
        ident = {"arch": cfg.arch, "family": fam, "hierarchy": cfg.hierarchy, "seed": cfg.seed, "loss": cfg.loss}
        frames.append(ev.scores.assign(**ident))
        accs.append(
            {
                **ident,
                "accuracy": ev.accuracy,
                "epochs": cfg.epochs,
                "n_superclasses": trained.hierarchy.n_superclasses,
                "gate": profile.accuracy_gate,
            }
        )
        evals[(cfg.arch, cfg.hierarchy, cfg.seed, cfg.loss)] = ev
    cols = ["arch", "family", "hierarchy", "seed", "loss", "layer", "depth", "rel_depth", "factor", "ami", "purity"]
    return pd.concat(frames, ignore_index=True)[cols], pd.DataFrame(accs), evals


def pixel_scores(
    profile: Profile,
    *,
    hierarchies: Sequence[str] = names.HIERARCHIES,
    factors: Sequence[int] = (1,),
    l2_normalize: bool = True,
    shuffle_seed: int = 0,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 256,
    features: Sequence[str] = ("pixels",),
) -> pd.DataFrame:
    """What Ward finds in the raw pixels, before any network: the data's own subclass structure.

    The validation images (evaluation transforms of the profile, e.g. the 224-pixel centre crop for
    ImageNet) are flattened to vectors of pixel values in 0..1, optionally scaled to unit norm, and
    clustered within each superclass of each hierarchy exactly as a layer's embeddings are
    (:func:`paperlib.scoring.score_superclass`). A network's per-layer AMI is read against this baseline: the paper's
    situation is a standard hierarchy whose subclasses the pixels barely separate.

    Parameters
    ----------
    profile : Profile
    hierarchies : sequence of {"standard", "shuffled"}
    factors : sequence of int
    l2_normalize : bool
        Unit-norm pixel vectors (as the embeddings are by default; the mean colour is never scaled:
        a unit-norm colour would keep only the hue).
    features : sequence of {"pixels", "colour"}
        What each image is: its raw pixels ``(3 * H * W,)``, or its mean colour ``(3,)`` (the
        cheapest nuisance a clustering could latch onto).

    Returns
    -------
    pandas.DataFrame
        One row per (features, hierarchy, factor): ``features``, ``hierarchy``, ``factor``, ``ami``,
        ``purity`` (unweighted means over superclasses).
    """
    bad = sorted(set(features) - {"pixels", "colour"})
    if bad or not features:
        raise ValueError(f"features must be a non-empty list of 'pixels' and 'colour', got {list(features)}")
    ecfg = profile.eval_config(factors, "flatten", l2_normalize)
    ds = data.resolve(profile.dataset, data_root)
    split = validation_split(ds, ecfg.val_per_subclass, ecfg.decode_size, data_root, cache_dir, progress=False)
    frames = []
    for hier in hierarchies:
        h = ds.hierarchy(hier, shuffle_seed)
        sup = h.superclass_labels(split.subclass)
        rows = []
        for s in range(h.n_superclasses):
            index = np.flatnonzero(sup == s)
            if len(index) == 0:
                continue
            sub = split.subset(index)
            batches = data.iterate_batches(
                sub, sub.subclass, batch_size=batch_size, train=False, image_size=ecfg.image_size
            )
            x = torch.cat([b.float().div_(255.0) for b, _ in batches])  # (n, 3, H, W)
            emb = {}
            if "pixels" in features:
                px = x.flatten(1)
                emb["pixels"] = (torch.nn.functional.normalize(px, dim=1) if l2_normalize else px).numpy()
            if "colour" in features:
                emb["colour"] = x.mean((2, 3)).numpy()
            rows += scoring.score_superclass(emb, sub.subclass, len(h.groups[s]), ecfg.factors, s)[0]
        per_layer = scoring.score_tables(rows, list(emb))[0]
        frames.append(
            per_layer.rename(columns={"layer": "features"})[["features", "factor", "ami", "purity"]].assign(
                hierarchy=hier
            )
        )
    out = pd.concat(frames, ignore_index=True)[["features", "hierarchy", "factor", "ami", "purity"]]
    return out.drop(columns="features") if list(features) == ["pixels"] else out


def data_checks(
    profile: Profile,
    *,
    shuffle_seeds: Sequence[int] = (0, 1, 2),
    factors: Sequence[int] = (1, 3, 5, 10),
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """The data before any network: Ward on raw pixels and on the mean colour, standard and shuffled hierarchies.

    :func:`pixel_scores` (raw, not unit-norm, pixels) for the standard hierarchy and for a shuffle
    of each seed. In a miniature of natural images both stay near 0: nuisance (position, scale,
    colour, lighting, clutter) dominates the pixels, whichever way the subclasses are grouped.

    Returns
    -------
    pandas.DataFrame
        One row per (features, hierarchy, factor): ``features`` ("pixels", "colour"), ``hierarchy``
        ("standard", "shuffled (seed k)"), ``factor``, ``ami``, ``purity``.
    """
    frames = []
    for hier, seed in [("standard", 0)] + [("shuffled", s) for s in shuffle_seeds]:
        df = pixel_scores(
            profile,
            hierarchies=[hier],
            factors=factors,
            l2_normalize=False,
            shuffle_seed=seed,
            data_root=data_root,
            cache_dir=cache_dir,
            features=("pixels", "colour"),
        )
        frames.append(df.assign(hierarchy=hier if hier == "standard" else f"shuffled (seed {seed})"))
    return pd.concat(frames, ignore_index=True)
