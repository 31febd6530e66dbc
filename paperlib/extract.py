"""One-pass, multi-layer embedding extraction.

Forward hooks at every probe point of a model record all layers' activations in a single forward
pass per batch (:class:`ProbeRecorder`). :func:`iter_embeddings` streams them batch by batch (the
linear probes train on that stream: a whole split's flattened layers never sit in memory);
:func:`extract` collects the stream into one embedding matrix per probe point for a (small) set of
images; :func:`iter_superclasses` walks a split superclass by superclass so a flattened layer of a
whole split never sits in memory at once (SPEC.md, "Extraction").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from . import data, names
from .hierarchy import Hierarchy

__all__ = [
    "POOLS",
    "ProbeRecorder",
    "pool_activation",
    "iter_embeddings",
    "extract",
    "iter_superclasses",
    "resolve_layers",
]

POOLS = names.POOLS


def pool_activation(a: torch.Tensor, pool: str) -> torch.Tensor:
    """Turn one probe point's activation into a 2-D embedding.

    Parameters
    ----------
    a : torch.Tensor, shape ``(batch, C, H, W)``, ``(batch, tokens, D)`` or ``(batch, D)``
    pool : {"flatten", "avg"}
        ``"flatten"`` keeps every value (the authors' code); ``"avg"`` averages over the spatial
        positions or tokens.

    Returns
    -------
    torch.Tensor, shape ``(batch, n_features)``
    """
    names.check("pool", pool)
    if a.ndim == 2:
        return a
    if pool == "flatten":
        return a.reshape(a.shape[0], -1)
    if a.ndim == 4:
        return a.mean(dim=(2, 3))
    if a.ndim == 3:
        return a.mean(dim=1)
    raise ValueError(f"cannot pool an activation of shape {tuple(a.shape)}")


def resolve_layers(model: nn.Module | str, layers: Sequence[str] | None = None):
    """The model's probe points, or the named subset of them (unknown names list the valid ones).

    ``model`` is a built model (it carries ``probe_points``) or an architecture name, so names can
    be checked before a model is built or trained.
    """
    if isinstance(model, str):
        from . import models

        points, label = models.probe_points(model), model
    else:
        points, label = tuple(model.probe_points), getattr(model, "arch", "this model")
    if layers is None:
        return points
    names = [p.name for p in points]
    bad = [layer for layer in layers if layer not in names]
    if bad:
        raise ValueError(f"unknown layer(s) {bad} for {label}; valid: {names}")
    return tuple(p for p in points if p.name in set(layers))


class ProbeRecorder:
    """Context manager: hooks on the given probe points record their activations.

    After each forward pass ``recorder.activations[name]`` holds that probe point's activation and
    ``recorder.calls[name]`` counts how often its hook fired.

    Examples
    --------
    >>> with ProbeRecorder(model, model.probe_points) as rec:  # doctest: +SKIP
    ...     logits = model(x)
    >>> rec.activations["stage1_block1"].shape  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, points):
        self.model, self.points = model, tuple(points)
        self.activations: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {p.name: 0 for p in self.points}
        self._handles = []

    def _hook(self, name: str, from_input: bool):
        def fn(module, inputs, output=None):
            a = inputs[0] if from_input else output
            if isinstance(a, (tuple, list)):
                a = a[0]
            self.activations[name] = a.detach()
            self.calls[name] += 1

        return fn

    def __enter__(self) -> ProbeRecorder:
        modules = dict(self.model.named_modules())
        for p in self.points:
            if p.module not in modules:
                raise ValueError(f"probe point {p.name!r}: no module {p.module!r} in the model")
            m = modules[p.module]
            if p.where == "input":
                self._handles.append(m.register_forward_pre_hook(self._hook(p.name, True)))
            else:
                self._handles.append(m.register_forward_hook(self._hook(p.name, False)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


def iter_embeddings(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, Any]],
    points: Sequence[Any],
    *,
    stats: Any,
    pool: str = "flatten",
    l2_normalize: bool = False,
    device: torch.device | str = "cpu",
    amp: bool = False,
) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor, Any]]:
    """Stream the embeddings of image batches at several probe points, one forward pass per batch.

    Parameters
    ----------
    model : torch.nn.Module
        A model from :func:`paperlib.models.build_model`, in eval mode.
    batches : iterable of (torch.Tensor of uint8, shape ``(b, 3, H, W)``, labels)
        Evaluation-transformed images, e.g. from :func:`paperlib.data.iterate_batches` with
        ``train=False``; the labels are passed through untouched.
    points : sequence of probe points
        From :func:`resolve_layers`.
    stats
        What :func:`paperlib.data.normalize` normalises with (a dataset's statistics or a
        :class:`paperlib.data.Preprocess`).
    pool, l2_normalize, device, amp
        As :func:`extract`.

    Yields
    ------
    embeddings : dict of str -> torch.Tensor of float32, shape ``(b, n_features)``
        One entry per probe point, in depth order, on ``device``.
    logits : torch.Tensor, shape ``(b, n_classes)``
    labels
        The batch's labels as given.

    Notes
    -----
    Gradients are off inside each batch's forward pass only, not across the ``yield``: a consumer
    that trains on the stream (:mod:`paperlib.probe`) keeps its own grad mode.
    """
    device = torch.device(device)
    with ProbeRecorder(model, points) as rec:
        for x, y in batches:
            with torch.no_grad():
                x = data.model_input(x, stats, device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
                    out = model(x)
                emb = {}
                for p in points:
                    e = pool_activation(rec.activations[p.name].float(), pool)
                    emb[p.name] = nn.functional.normalize(e, dim=1) if l2_normalize else e
                rec.activations.clear()
            yield emb, out, y


@torch.no_grad()
def extract(
    model: nn.Module,
    split: data.Split,
    *,
    layers: Sequence[str] | None = None,
    pool: str = "flatten",
    l2_normalize: bool = False,
    batch_size: int = 256,
    image_size: int | None = None,
    device: torch.device | str = "cpu",
    amp: bool = False,
    num_workers: int = 0,
    preprocess: data.Preprocess | None = None,
    keep: str = "host",
) -> tuple[dict[str, np.ndarray | torch.Tensor], np.ndarray]:
    """Embeddings of ``split``'s images at every probe point, one forward pass per batch.

    Parameters
    ----------
    model : torch.nn.Module
        A model from :func:`paperlib.models.build_model` (it carries ``probe_points``), in eval mode.
    split : paperlib.data.Split
        The images (evaluation transforms: resize and centre crop for image files).
    layers : sequence of str, optional
        Probe point names to keep (default all).
    pool : {"flatten", "avg"}
    l2_normalize : bool
        Scale every embedding to unit Euclidean norm.
    batch_size, image_size, device, num_workers
        Forward-pass settings.
    amp : bool
        bf16 autocast on CUDA. Default ``False``: the forward pass runs in float32 (the authors
        used no mixed precision), whatever precision the model was trained in; the pipeline
        passes :attr:`paperlib.config.EvalConfig.extract_bf16`, the command line ``--bf16``.
    preprocess : paperlib.data.Preprocess, optional
        Normalise with its ``mean``/``std`` instead of the dataset's statistics, and (image-file
        splits) resize with its interpolation and ``crop_pct``; ``image_size`` defaults to its
        ``size``. Default: the dataset's statistics and the library's evaluation transform.
    keep : {"host", "device", "auto"}
        Where the embeddings are written, each batch straight into one array per probe point
        allocated after the first batch: ``"host"`` numpy arrays; ``"device"`` torch tensors on
        ``device`` (nothing crosses to the host: for clustering on a GPU, whose Gram matrices are
        computed there); ``"auto"`` the device when it is a GPU with room for all of them (at most
        half its free memory), else the host. Flattened maps are large (ResNet-50 at 224 px: 21 MiB
        per image over its 17 probe points), so on a GPU copying them to the host costs far more
        than the forward pass (``bench/RESULTS.md``).

    Returns
    -------
    embeddings : dict of str -> numpy.ndarray or torch.Tensor of float32, shape ``(n_images, n_features)``
        One entry per probe point, in depth order; torch tensors on ``device`` where ``keep`` put
        them there.
    logits : numpy.ndarray of float32, shape ``(n_images, n_classes)``
    """
    device = torch.device(device)
    points = resolve_layers(model, layers)
    names.check("embedding placement", keep)
    n = len(split)
    emb: dict[str, np.ndarray | torch.Tensor] = {}
    logits = np.zeros((0, 0), np.float32)
    dummy = np.zeros(n, dtype=np.int64)
    if preprocess is not None and image_size is None:
        image_size = preprocess.size
    stats = preprocess if preprocess is not None else split.dataset
    lo = 0
    batches = data.iterate_batches(
        split,
        dummy,
        batch_size=batch_size,
        train=False,
        image_size=image_size,
        num_workers=num_workers,
        preprocess=preprocess,
    )
    for batch, out, _ in iter_embeddings(
        model, batches, points, stats=stats, pool=pool, l2_normalize=l2_normalize, device=device, amp=amp
    ):
        if lo == 0:  # the first batch tells the widths: one array per probe point for the whole split
            on_device = _keep_on_device(keep, device, n * sum(e.shape[1] * 4 for e in batch.values()))
            for name, e in batch.items():
                emb[name] = (
                    torch.empty((n, e.shape[1]), dtype=torch.float32, device=device)
                    if on_device
                    else np.empty((n, e.shape[1]), dtype=np.float32)
                )
            logits = np.empty((n, out.shape[1]), dtype=np.float32)
        hi = lo + len(out)
        for name, e in batch.items():
            dst = emb[name][lo:hi]
            (dst if isinstance(dst, torch.Tensor) else torch.from_numpy(dst)).copy_(e)
        torch.from_numpy(logits[lo:hi]).copy_(out.float())
        lo = hi
    if lo == 0:
        emb = {p.name: np.zeros((0, 0), np.float32) for p in points}
    return emb, logits


def _keep_on_device(keep: str, device: torch.device, nbytes: int) -> bool:
    """Whether :func:`extract` keeps ``nbytes`` of embeddings on ``device`` (see its ``keep``)."""
    if keep == "host" or device.type == "cpu":
        return False
    if keep == "device":
        return True
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= free // 2


def iter_superclasses(
    model: nn.Module, split: data.Split, hierarchy: Hierarchy, **kwargs
) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray], np.ndarray]]:
    """Walk the split one superclass at a time.

    Yields
    ------
    superclass : int
    index : numpy.ndarray of int64, shape ``(n_s,)``
        Positions of this superclass's images in ``split``.
    embeddings : dict of str -> numpy.ndarray, shape ``(n_s, n_features)``
    logits : numpy.ndarray, shape ``(n_s, n_classes)``
    """
    sup = hierarchy.superclass_labels(split.subclass)
    for s in range(hierarchy.n_superclasses):
        index = np.flatnonzero(sup == s)
        if len(index) == 0:
            continue
        emb, logits = extract(model, split.subset(index), **kwargs)
        yield s, index, emb, logits
