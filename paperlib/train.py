"""Train a model on superclass labels only, resumably, with the paper's recipe.

SGD with momentum 0.9 (AdamW for ViT), weight decay on weights only, linear warm-up then cosine to
zero, an exponential moving average (EMA) of the weights with bias correction whose weights are the
ones evaluated, a checkpoint after every epoch and resumption from it after a kill, tqdm progress,
seeded data order and augmentation, CPU or CUDA (bf16 autocast and channels_last there), and
multi-GPU through ``torchrun`` (DDP) when ``WORLD_SIZE > 1``.

The same trainer trains the self-supervised BYOL model of Fig. 3 (``TrainConfig(loss="byol")``,
:mod:`paperlib.byol`): two views per batch instead of labels, an online and a momentum target network
instead of a classifier loss (:func:`byol_step`), both in the epoch checkpoint; the EMA, caching and
resumption are the same. Its final layer is then fitted as a linear readout of superclass labels
(:func:`paperlib.byol.fit_readout`), or, with ``TrainConfig.pretrained``, the backbone is read from a
checkpoint instead of trained.

The trained model is cached under ``<cache>/models/<key>/`` (:func:`model_dir`; the key holds its
TrainConfig, the version of the code and the identity of the data): ``model.pt`` once finished,
``checkpoint.pt`` while training.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.std import tqdm

from . import byol, cache, data, losses, models, names, provenance
from .config import TrainConfig, cache_root
from .hierarchy import Hierarchy

log = logging.getLogger(__name__)

__all__ = [
    "Trained",
    "train_model",
    "train_step",
    "byol_step",
    "accuracy_of",
    "training_of",
    "build_for",
    "load_snapshot",
    "snapshot_path",
    "lr_at",
    "EMA",
    "model_dir",
    "model_key",
    "with_pretrained",
    "pretrained_identity",
    "resolve_device",
    "PROGRESS",
    "progress_of",
]


class NonFiniteLoss(FloatingPointError):
    """Training diverged: the loss (or the weights) stopped being finite. Nothing of the run is cached."""


#: How often (in steps) a CUDA run looks at its loss on the host: each look is a synchronisation,
#: so on a GPU the check reads a flag accumulated on the device every few steps; on a CPU it is free
#: and happens after every step.
NONFINITE_CHECK_EVERY_CUDA = 16


def _diverged(cfg: TrainConfig, path: Path, epoch: int, step: int, what: str = "loss") -> NonFiniteLoss:
    """The error of a run whose ``what`` is no longer finite, after its checkpoint and lock are gone."""
    # The run cannot go on from here, and a resume would diverge again: drop its partial state
    # (the checkpoint, its progress record and any snapshot), so the entry holds no model.
    for f in [path / "checkpoint.pt", path / PROGRESS, *path.glob("ema_epoch*.pt")]:
        with contextlib.suppress(OSError):
            if f.exists():
                cache.discard(f)
    return NonFiniteLoss(
        f"training {cfg.arch} on {cfg.dataset}/{training_of(cfg)} (seed {cfg.seed}, loss {cfg.loss}) diverged: "
        f"the {what} is not finite at step {step} (epoch {epoch + 1} of {cfg.epochs}); nothing of this run is "
        f"cached. Lower the learning rate (lr {cfg.lr:g}; warm-up {cfg.warmup_epochs:g} epochs"
        f"{'' if cfg.grad_clip is None else f', gradient clipping at {cfg.grad_clip:g}'}) and run again"
    )


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else Apple's MPS, else the CPU; anything else goes to :class:`torch.device`.

    Under ``torchrun`` (``LOCAL_RANK`` set) a bare ``"cuda"`` (or ``"auto"`` on a GPU machine) means
    ``cuda:LOCAL_RANK``, so every rank trains on its own GPU.
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # torchrun: rank r on its own GPU
    return device


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Learning rate at optimisation step ``step`` (0-based): linear warm-up, then cosine to 0.

    Examples
    --------
    >>> lr_at(0, 100, 10, 1.0)
    0.1
    >>> round(lr_at(99, 100, 10, 1.0), 4)  # the last step still trains: no step at lr 0
    0.0003
    >>> lr_at(10, 100, 10, 1.0)  # the first step after warm-up is at the base rate
    1.0
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class EMA:
    """Exponential moving average of a model's parameters, with bias correction.

    The shadow starts at zero and is divided by ``1 - decay**t`` when read (the authors' code).
    Batch-norm running statistics, themselves averages with momentum ``1 - decay``, are bias
    corrected the same way against their initial values (mean 0, variance 1), so short schedules
    are evaluated with statistics of the data rather than of the initialisation.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.t = 0
        self.shadow = {k: torch.zeros_like(p, dtype=torch.float32) for k, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current parameters into the average."""
        self.t += 1
        shadow = [self.shadow[k] for k, _ in model.named_parameters()]
        params = [p.detach().float() for _, p in model.named_parameters()]
        torch._foreach_mul_(shadow, self.decay)
        torch._foreach_add_(shadow, params, alpha=1 - self.decay)

    @torch.no_grad()
    def state_dict_for(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The model's ``state_dict`` with EMA weights and bias-corrected batch-norm statistics."""
        corr = 1.0 - self.decay**self.t if self.t else 1.0
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        for k, v in self.shadow.items():
            state[k] = (v / corr).to(state[k].dtype) if self.t else state[k]
        for name, mod in model.named_modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.track_running_stats:
                t = int(mod.num_batches_tracked)
                d = 1.0 - (mod.momentum if mod.momentum is not None else 0.1)
                if t > 0 and d < 1.0:
                    c = 1.0 - d**t
                    pre = f"{name}." if name else ""
                    state[pre + "running_mean"] = mod.running_mean / c
                    state[pre + "running_var"] = (mod.running_var - d**t) / c
        return state

    @torch.no_grad()
    def is_finite(self) -> bool:
        """Whether every averaged weight is finite (one host synchronisation)."""
        return bool(torch.stack([torch.isfinite(v).all() for v in self.shadow.values()]).all()) if self.shadow else True

    def state(self) -> dict:
        return {"decay": self.decay, "t": self.t, "shadow": self.shadow}

    def load(self, state: dict) -> None:
        self.decay, self.t = state["decay"], state["t"]
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}


@dataclass
class Trained:
    """A trained model (EMA weights, eval mode) with what produced it.

    Attributes
    ----------
    model : torch.nn.Module
        EMA weights, on ``device``, in eval mode.
    config : TrainConfig
    hierarchy : Hierarchy
        The hierarchy whose superclasses were the training labels.
    history : list of dict
        Per epoch: ``epoch``, ``loss``, ``train_acc`` (None for a self-supervised model), ``lr``; empty
        for a model read from ``TrainConfig.pretrained``.
    path : pathlib.Path
        The cache folder of this model.
    epoch : int or None
        None for the finished model; the epoch of a snapshot (:func:`load_snapshot`) otherwise.
    """

    model: nn.Module
    config: TrainConfig
    hierarchy: Hierarchy
    history: list = field(default_factory=list)
    path: Path | None = None
    epoch: int | None = None


def model_key(cfg: TrainConfig, data_root: str | Path | None = None) -> dict:
    """What identifies the model trained with ``cfg``: the configuration, the code and the data.

    Returns
    -------
    dict
        ``config`` (the :class:`TrainConfig`, canonical), ``code``
        (:func:`paperlib.provenance.code_version` ``("models")``) and ``data``
        (:func:`paperlib.data.data_identity` of the training split); and ``pretrained``
        (:func:`pretrained_identity`) for a model read from a checkpoint.
    """
    return with_pretrained(
        {
            "config": cache.canonical(cfg.key_dict()),
            "code": provenance.code_version("models"),
            "data": data.data_identity(cfg.dataset, data_root, splits=("train",)),
        },
        cfg,
    )


def with_pretrained(key: dict, cfg: TrainConfig) -> dict:
    """``key`` with, for a model read from ``cfg.pretrained``, that file's identity under ``"pretrained"``
    (:func:`pretrained_identity`), so that every cache key of such a model (its weights here, its scores,
    probes and out-of-distribution clusters) changes with the file's content, not only with its path."""
    if cfg.pretrained is not None:
        key["pretrained"] = pretrained_identity(cfg)
    return key


def pretrained_identity(cfg: TrainConfig) -> dict:
    """What the checkpoint of ``cfg.pretrained`` holds: its size and SHA-256 (a new file, a new key)."""
    path = Path(cfg.pretrained)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} (TrainConfig.pretrained) does not exist")
    return {"size": path.stat().st_size, "sha256": provenance.file_digest(path)}


def accuracy_of(cfg: TrainConfig) -> str:
    """What "accuracy" means for the model of ``cfg``: its classifier's, or a BYOL model's linear readout."""
    return byol.ACCURACY_OF if cfg.loss in names.SELF_SUPERVISED else "classifier"


def training_of(cfg: TrainConfig) -> str:
    """How the model of ``cfg`` learnt, for tables and legends: its labels (``cfg.hierarchy``:
    ``"standard"``, ``"shuffled"``, ``"subclass"``) or its self-supervised objective (``"byol"``)."""
    return cfg.loss if cfg.loss in names.SELF_SUPERVISED else cfg.hierarchy


def model_dir(
    cfg: TrainConfig, cache_dir: str | Path | None = None, data_root: str | Path | None = None, create: bool = True
) -> Path:
    """Cache folder of the model trained with ``cfg`` by the current code on the current data.

    ``<cache>/models/<key>/``, keyed by :func:`model_key`; its ``config.json`` spells the key out.
    After a change of code or data the key, hence the folder, is new; the old one is left alone.
    ``create=False`` only names the folder (for read-only looks: ``paperlib status``).
    """
    make = cache.artifact_dir if create else cache.artifact_path
    return make(cache_root(cache_dir), "models", model_key(cfg, data_root))


#: Small file beside a model's checkpoint, rewritten after every epoch: ``{"epoch", "epochs",
#: "record"}``, so that ``paperlib status`` reads a run's progress without loading its checkpoint.
PROGRESS = "progress.json"


def progress_of(path: Path) -> dict | None:
    """The last epoch a run into the model folder ``path`` finished (its ``progress.json``), or None."""
    f = Path(path) / PROGRESS
    try:
        return cache.load(f) if cache.is_valid(f) else None
    except cache.CorruptArtifact:
        return None


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def _epoch_seed(cfg: TrainConfig, epoch: int) -> int:
    return (cfg.seed * 1_000_003 + epoch * 7_919 + 17) % (2**31 - 1)


def augment_seed(cfg: TrainConfig, epoch: int, rank: int) -> int:
    """Seed of the augmentation of one epoch on one DDP rank: distinct ranks draw distinct crops.

    Examples
    --------
    >>> from paperlib.config import TrainConfig
    >>> len({augment_seed(TrainConfig(), 0, r) for r in range(8)})
    8
    """
    return (_epoch_seed(cfg, epoch) + 104_729 * (rank + 1)) % (2**31 - 1)


def build_for(cfg: TrainConfig, n_classes: int) -> nn.Module:
    """The model ``cfg`` trains, freshly initialised on the CPU, changed as its loss needs.

    :func:`paperlib.models.build_model` for ``cfg.arch`` / ``width`` / ``image_size``, then
    :meth:`paperlib.losses.LossSpec.prepare_model` of ``cfg.loss`` (dropout before the head, a
    cosine head, ...; parameter names and probe points unchanged); a self-supervised model keeps the
    plain head (its readout). Every model built for a TrainConfig, to train or to load cached weights
    into, comes from here.

    Parameters
    ----------
    cfg : TrainConfig
    n_classes : int
        Number of logits (the hierarchy's superclasses).

    Returns
    -------
    torch.nn.Module
        Maps images ``(B, 3, image_size, image_size)`` to logits ``(B, n_classes)``.
    """
    model = models.build_model(cfg.arch, n_classes, width=cfg.width, image_size=cfg.image_size)
    if cfg.loss in names.LOSSES:
        losses.get_spec(cfg.loss, cfg.recipe).prepare_model(model)
    return model


def _build(cfg: TrainConfig, n_classes: int, device: torch.device) -> nn.Module:
    torch.manual_seed(cfg.seed)
    model = build_for(cfg, n_classes)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def _optimizer(cfg: TrainConfig, model: nn.Module, extra: nn.Module | None = None) -> torch.optim.Optimizer:
    names.check("optimizer", cfg.optimizer)
    groups = models.param_groups(model, cfg.weight_decay)
    if extra is not None:  # BYOL's online heads, decayed by the same rule
        groups += models.param_groups(extra, cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=False)
    return torch.optim.AdamW(groups, lr=cfg.lr)  # "adamw"


def train_step(
    net: nn.Module,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    ema: EMA,
    loss_fn,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    dataset: str | data.Dataset,
    device: torch.device,
    amp: bool,
    grad_clip: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a uint8 batch: normalise, forward, loss, backward, SGD/AdamW, EMA.

    Parameters
    ----------
    net : torch.nn.Module
        What runs the forward pass (``model`` or its DDP wrapper).
    model : torch.nn.Module
        The bare model whose parameters the EMA follows.
    loss_fn : callable
        ``loss_fn(logits (batch, n_classes), y) -> scalar``: a :class:`paperlib.losses.LossSpec`
        or a plain loss function. If it has a ``penalty`` method, ``loss_fn.penalty(model)`` is
        added to the loss (the extra final-layer L2).
    x : torch.Tensor of uint8, shape ``(batch, 3, H, W)``
    y : torch.Tensor of int64, shape ``(batch,)``
    amp : bool
        bf16 autocast (only on CUDA).
    grad_clip : float, optional
        Clip the global gradient norm to this value before the update (``TrainConfig.grad_clip``).

    Returns
    -------
    loss : torch.Tensor, scalar, on ``device`` (no host synchronisation); penalty included
    correct : torch.Tensor, scalar int64, on ``device``
    """
    x = data.model_input(x, dataset, device)
    y = y.to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
        logits = net(x)
        loss = loss_fn(logits, y)
    penalty = getattr(loss_fn, "penalty", None)
    if penalty is not None:
        extra = penalty(model)
        if torch.is_tensor(extra):
            loss = loss + extra
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:  # the global gradient norm, as torch.nn.utils.clip_grad_norm_ defines it
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    opt.step()
    ema.update(model)
    return loss.detach().float(), (logits.argmax(1) == y).sum()


def byol_step(
    net: nn.Module,
    learner: byol.BYOL,
    opt: torch.optim.Optimizer,
    ema: EMA,
    x1: torch.Tensor,
    x2: torch.Tensor,
    *,
    momentum: float,
    dataset: str | data.Dataset,
    device: torch.device,
    amp: bool,
) -> torch.Tensor:
    """One BYOL step on two uint8 views: normalise, loss, backward, SGD/AdamW, target update, EMA.

    Parameters
    ----------
    net : torch.nn.Module
        What runs the forward pass (``learner`` or its DDP wrapper): ``net(x1, x2) -> loss``.
    learner : paperlib.byol.BYOL
        Online and target networks; its backbone is the model the EMA follows.
    x1, x2 : torch.Tensor of uint8, shape ``(batch, 3, H, W)``
        Two views of the same images.
    momentum : float
        Of the target network after this step (:func:`paperlib.byol.momentum_at`).

    Returns
    -------
    torch.Tensor, scalar, on ``device``: the loss (no host synchronisation)
    """
    x1, x2 = (data.model_input(v, dataset, device) for v in (x1, x2))
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
        loss = net(x1, x2)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    learner.update_target(momentum)
    ema.update(learner.backbone)
    return loss.detach().float()


def validate(cfg: TrainConfig, data_root=None) -> None:
    """Check names and data before any compute (raises ``ValueError`` / ``DataNotFound``)."""
    names.check("architecture", cfg.arch)
    names.check("objective", cfg.loss)
    if cfg.pretrained is not None:
        pretrained_identity(cfg)  # the file exists
    ds = data.resolve(cfg.dataset, data_root)
    names.check("training labels", cfg.hierarchy)
    names.check("optimizer", cfg.optimizer)
    names.check("augmentation", cfg.augment)
    ds.check()


def _load_final(cfg: TrainConfig, path: Path, device: torch.device) -> Trained:
    """The finished model cached in ``path``; :class:`paperlib.cache.CorruptArtifact` if its ``model.pt``
    is corrupt, or, though its checksum matches (rewritten after the file was changed), holds no model of ``cfg``."""
    blob = cache.load(path / "model.pt")
    try:
        h = Hierarchy.from_dict(blob["hierarchy"])
        model = build_for(cfg, h.n_superclasses)
        model.load_state_dict(blob["ema_state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
        raise cache.CorruptArtifact(
            f"{path / 'model.pt'}: its checksum matches, but it holds no {cfg.arch} of this configuration ({why})"
        ) from exc
    model.to(device).eval()
    return Trained(model, cfg, h, blob["history"], path)


def snapshot_path(path: Path, epoch: int) -> Path:
    """Where the EMA weights after ``epoch`` of the model cached in ``path`` are kept."""
    return Path(path) / f"ema_epoch{epoch:04d}.pt"


def load_snapshot(trained: Trained, epoch: int, device: str | torch.device | None = None) -> Trained:
    """The model of ``trained`` with its EMA weights as they were after ``epoch`` (Fig. D.10).

    ``trained.config.snapshot_epochs`` must list ``epoch``; the snapshot was written by
    :func:`train_model` when that epoch finished. The returned :class:`Trained` shares the config,
    hierarchy and path, and carries the history up to that epoch.
    """
    snaps = trained.config.snapshot_epochs or ()
    if epoch not in snaps:
        raise ValueError(
            f"no snapshot at epoch {epoch!r}: this model kept {list(snaps) or 'none'} "
            "(set TrainConfig.snapshot_epochs before training)"
        )
    blob = cache.load(snapshot_path(trained.path, epoch))
    device = next(trained.model.parameters()).device if device is None else resolve_device(device)
    cfg = trained.config
    model = build_for(cfg, trained.hierarchy.n_superclasses)
    model.load_state_dict(blob["ema_state"])
    model.to(device).eval()
    return Trained(model, cfg, trained.hierarchy, blob["history"], trained.path, epoch=epoch)


def train_model(
    cfg: TrainConfig,
    *,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | torch.device | None = "auto",
    num_workers: int = 0,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    compile: bool = False,
    trust_checkpoint: bool = False,
) -> Trained:
    """Train (or load from the cache) the model that ``cfg`` describes.

    Parameters
    ----------
    cfg : TrainConfig
        Full description of the run; with the code version and the data identity it keys the
        cache (:func:`model_dir`).
    data_root, cache_dir : path-like, optional
        See :mod:`paperlib.config`.
    device : str or torch.device
        ``"auto"`` picks CUDA when available.
    num_workers : int
        Decoding processes for image-file datasets.
    progress : bool
        Show a tqdm bar.
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, record)`` after each epoch's checkpoint is written (tests use
        it to interrupt a run).
    compile : bool
        Run the training forward and backward through ``torch.compile`` (CUDA only; see
        ``bench/RESULTS.md`` for what it gives). An execution choice like ``device``: not part of the
        cache key, and the cached weights are the uncompiled model's. Not used for BYOL.
    trust_checkpoint : bool
        Allow ``cfg.pretrained`` to be a checkpoint that needs full unpickling (see
        :func:`paperlib.checkpoints.read_checkpoint`); only for files whose source you trust.

    Returns
    -------
    Trained
        The EMA model in eval mode on ``device``.
    """
    validate(cfg, data_root)
    device = resolve_device(device)
    path = model_dir(cfg, cache_dir, data_root)
    final = path / "model.pt"
    if cache.is_valid(final):
        with contextlib.suppress(cache.CorruptArtifact):  # no model of cfg inside: rebuilt under the lock below
            return _load_final(cfg, path, device)
    # Not there yet: hold the model's lock while checking again, training and saving, so that a second
    # run into the same cache waits for this one and then loads its model (rank 0 holds it for all ranks).
    with cache.lock(path, what=f"to train {path}") if _dist_info()[0] == 0 else contextlib.nullcontext():
        return _train_locked(
            cfg,
            path,
            device,
            data_root=data_root,
            cache_dir=cache_dir,
            num_workers=num_workers,
            progress=progress,
            on_epoch_end=on_epoch_end,
            compile=compile,
            trust_checkpoint=trust_checkpoint,
        )


def _readout_batches(
    cfg: TrainConfig, ds: data.Dataset, split: data.Split, targets, device: torch.device, num_workers: int
):
    """The training split in order, unaugmented (the evaluation crop), normalised, on ``device``."""
    for x, y in data.iterate_batches(
        split,
        targets,
        batch_size=cfg.batch_size,
        train=False,
        image_size=cfg.image_size,
        device=device,
        num_workers=num_workers,
    ):
        yield data.model_input(x, ds, device), y


def _train_locked(
    cfg: TrainConfig,
    path: Path,
    device: torch.device,
    *,
    data_root,
    cache_dir,
    num_workers: int,
    progress: bool,
    on_epoch_end,
    compile: bool = False,
    trust_checkpoint: bool = False,
) -> Trained:
    final = path / "model.pt"
    root = cache_root(cache_dir)
    rank, world = _dist_info()
    distributed = world > 1
    if distributed and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    done = [cache.is_valid(final)]
    if distributed:  # rank 0 looked under the lock: every rank follows its answer
        torch.distributed.broadcast_object_list(done, src=0)
    if done[0]:
        try:
            return _load_final(cfg, path, device)
        except cache.CorruptArtifact as exc:  # a matching checksum over content that is no model of cfg
            if distributed:
                torch.distributed.barrier()  # every rank has read it before rank 0 removes it
            if rank == 0:
                warnings.warn(f"rebuilding a cached model: {exc}; retraining it ({cfg.epochs} epochs)", stacklevel=3)
                cache.discard(final)
    if rank == 0 and final.exists():
        warnings.warn(
            f"cached model {final} fails its checksum (corrupt or incomplete); retraining it ({cfg.epochs} epochs)",
            stacklevel=3,
        )

    ds = data.resolve(cfg.dataset, data_root)
    h = ds.hierarchy(cfg.hierarchy, cfg.shuffle_seed)
    split = ds.split("train", per_subclass=cfg.train_per_subclass)
    if cfg.decode_size:  # rank 0 decodes, the others wait and then read its cache entry
        if distributed and rank != 0:
            torch.distributed.barrier()
        split = data.decode_once(
            split, cfg.decode_size, cache_dir, num_workers=num_workers, progress=progress and rank == 0
        )
        if distributed and rank == 0:
            torch.distributed.barrier()
    targets = h.superclass_labels(split.subclass)
    if (targets < 0).any():
        raise ValueError(f"hierarchy {h.name!r} does not cover every training subclass")

    model = _build(cfg, h.n_superclasses, device)
    self_supervised = cfg.loss in names.SELF_SUPERVISED
    if cfg.pretrained is not None:  # a self-supervised backbone read, not trained: fit the readout, save
        byol.load_backbone(model, cfg.pretrained, trust_checkpoint)
        model.eval()
        byol.fit_readout(model, _readout_batches(cfg, ds, split, targets, device, num_workers), h.n_superclasses)
        if rank == 0:
            cache.try_save(
                final,
                {
                    "ema_state": model.state_dict(),
                    "state": model.state_dict(),
                    "history": [],
                    "hierarchy": h.to_dict(),
                    "config": asdict(cfg),
                    "accuracy_of": accuracy_of(cfg),
                    "pretrained": {"path": cfg.pretrained, **pretrained_identity(cfg)},
                },
                root=root,
            )
        return Trained(model, cfg, h, [], path)
    learner = byol.BYOL(model).to(device) if self_supervised else None  # heads drawn right after the model
    trained = learner if self_supervised else model
    ddp_kw = {"find_unused_parameters": True} if self_supervised else {}  # BYOL never uses the final layer
    net = (
        torch.nn.parallel.DistributedDataParallel(
            trained, device_ids=[device] if device.type == "cuda" else None, **ddp_kw
        )
        if distributed
        else trained
    )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest convolutions
        if compile and not self_supervised:
            net = torch.compile(net)
    opt = _optimizer(cfg, model, learner.online_heads() if self_supervised else None)
    ema = EMA(model, cfg.ema_decay)
    # the logit loss (of the model's recipe) and the penalty train_step adds
    loss_fn = None if self_supervised else losses.get_spec(cfg.loss, cfg.recipe)
    history: list[dict] = []
    start_epoch = 0

    ckpt = path / "checkpoint.pt"
    if ckpt.exists():
        try:
            state = cache.load(ckpt, map_location=str(device))
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            ema.load({**state["ema"], "shadow": {k: v.to(device) for k, v in state["ema"]["shadow"].items()}})
            if self_supervised:
                learner.load_heads_state(state["byol"])
            history, start_epoch = state["history"], state["epoch"]
            if rank == 0:
                log.warning("resuming %s from its checkpoint at epoch %d of %d", path, start_epoch, cfg.epochs)
        except cache.CorruptArtifact as exc:
            warnings.warn(f"ignoring corrupt checkpoint, training from scratch: {exc}", stacklevel=3)
            with contextlib.suppress(OSError):
                cache.discard(ckpt)

    steps_per_epoch = max(1, len(split) // cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    amp = cfg.amp and device.type == "cuda"
    bar = tqdm(
        total=total,
        initial=start_epoch * steps_per_epoch,
        disable=not progress or rank != 0,
        desc=f"train {cfg.arch} {cfg.dataset}/{training_of(cfg)} seed {cfg.seed}",
        file=sys.stderr,
        mininterval=2.0,
        unit="step",
    )
    for epoch in range(start_epoch, cfg.epochs):
        torch.manual_seed(_epoch_seed(cfg, epoch) + rank)
        gen = torch.Generator().manual_seed(_epoch_seed(cfg, epoch))  # batch order: the same on every rank
        aug_gen = torch.Generator().manual_seed(augment_seed(cfg, epoch, rank))  # crops and flips: per rank
        # BYOL's two views: each from its own generator, seeded from the rank's augmentation seed
        views = (
            [torch.Generator().manual_seed((augment_seed(cfg, epoch, rank) + 7_927 * v) % (2**31 - 1)) for v in (1, 2)]
            if self_supervised
            else None
        )
        net.train()
        tot_loss = torch.zeros((), device=device)  # accumulated on the device: no host sync per step
        tot_correct = torch.zeros((), device=device, dtype=torch.long)
        tot_n = 0
        batches = data.iterate_batches(
            split,
            targets,
            batch_size=cfg.batch_size,
            train=True,
            augment=cfg.augment,
            image_size=cfg.image_size,
            generator=gen,
            num_workers=num_workers,
            rank=rank,
            world_size=world,
            device=device,
            augment_generator=aug_gen,
            view_generators=views,
            view_params=data.BYOL_VIEWS[cfg.byol_views] if self_supervised else None,
        )
        for i, (x, y) in enumerate(batches):
            step = epoch * steps_per_epoch + i
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, cfg.lr)
            if self_supervised:
                loss = byol_step(
                    net,
                    learner,
                    opt,
                    ema,
                    *x,
                    momentum=byol.momentum_at(step, total),
                    dataset=ds,
                    device=device,
                    amp=amp,
                )
            else:
                loss, correct = train_step(
                    net,
                    model,
                    opt,
                    ema,
                    loss_fn,
                    x,
                    y,
                    dataset=ds,
                    device=device,
                    amp=amp,
                    grad_clip=cfg.grad_clip,
                )
                tot_correct += correct
            tot_loss += loss * len(y)
            tot_n += len(y)
            bar.update(1)
            if (device.type != "cuda" or (i + 1) % NONFINITE_CHECK_EVERY_CUDA == 0) and not torch.isfinite(tot_loss):
                bar.close()
                raise _diverged(cfg, path, epoch, step + 1)
        if not torch.isfinite(tot_loss) or not ema.is_finite():  # before anything of the epoch is written
            bar.close()
            raise _diverged(
                cfg,
                path,
                epoch,
                (epoch + 1) * steps_per_epoch,
                "loss" if not torch.isfinite(tot_loss) else "averaged (EMA) weights",
            )
        record = {
            "epoch": epoch + 1,
            "loss": float(tot_loss) / max(1, tot_n),
            "train_acc": None if self_supervised else int(tot_correct) / max(1, tot_n),
            "lr": opt.param_groups[0]["lr"],
        }
        bar.set_postfix(
            epoch=epoch + 1,
            loss=f"{record['loss']:.3f}",
            **({} if self_supervised else {"acc": f"{record['train_acc']:.3f}"}),
        )
        history.append(record)
        if rank == 0 and cfg.snapshot_epochs and epoch + 1 in cfg.snapshot_epochs:
            cache.try_save(
                snapshot_path(path, epoch + 1),
                {"ema_state": ema.state_dict_for(model), "epoch": epoch + 1, "history": list(history)},
                root=root,
            )
        if rank == 0:
            saved = cache.try_save(
                ckpt,
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "ema": ema.state(),
                    "history": history,
                    "epoch": epoch + 1,
                    "config": asdict(cfg),
                    **({"byol": learner.heads_state()} if self_supervised else {}),
                },
                root=root,
            )
            if saved:  # progress never runs ahead of the checkpoint a resume reads (a full disk)
                cache.try_save(path / PROGRESS, {"epoch": epoch + 1, "epochs": cfg.epochs, "record": record}, root=root)
        if distributed:
            torch.distributed.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
    bar.close()
    raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ema_state = ema.state_dict_for(model)
    if self_supervised:  # the readout of the EMA backbone is the final layer of the saved model
        model.load_state_dict(ema_state)
        model.eval()
        byol.fit_readout(model, _readout_batches(cfg, ds, split, targets, device, num_workers), h.n_superclasses)
        ema_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if rank == 0:
        if cache.try_save(
            final,
            {
                "ema_state": ema_state,
                "state": raw,
                "history": history,
                "hierarchy": h.to_dict(),
                "config": asdict(cfg),
                "accuracy_of": accuracy_of(cfg),
            },
            root=root,
        ):
            cache.discard(ckpt)
    if distributed:
        torch.distributed.barrier()
    model.load_state_dict(ema_state)
    model.eval()
    return Trained(model, cfg, h, history, path)
