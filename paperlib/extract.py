"""One-pass, multi-layer embedding extraction.

Forward hooks at every probe point of a model record all layers' activations in a single forward
pass per batch (:class:`ProbeRecorder`). :func:`extract` returns one embedding matrix per probe point
for a (small) set of images; :func:`iter_superclasses` walks a split superclass by superclass so a
flattened layer of a whole split never sits in memory at once (SPEC.md, "Extraction").
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from . import data, names
from .hierarchy import Hierarchy

__all__ = ["POOLS", "ProbeRecorder", "pool_activation", "extract", "iter_superclasses", "resolve_layers"]

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
    bad = [l for l in layers if l not in names]
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

    def __enter__(self) -> "ProbeRecorder":
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
) -> tuple[dict[str, np.ndarray], np.ndarray]:
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

    Returns
    -------
    embeddings : dict of str -> numpy.ndarray of float32, shape ``(n_images, n_features)``
        One entry per probe point, in depth order.
    logits : numpy.ndarray of float32, shape ``(n_images, n_classes)``
    """
    device = torch.device(device)
    points = resolve_layers(model, layers)
    chunks: dict[str, list[np.ndarray]] = {p.name: [] for p in points}
    logit_chunks = []
    dummy = np.zeros(len(split), dtype=np.int64)
    if preprocess is not None and image_size is None:
        image_size = preprocess.size
    stats = preprocess if preprocess is not None else split.dataset
    with ProbeRecorder(model, points) as rec:
        for x, _ in data.iterate_batches(split, dummy, batch_size=batch_size, train=False, image_size=image_size,
                                         num_workers=num_workers, preprocess=preprocess):
            x = data.normalize(x.to(device), stats)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
                out = model(x)
            logit_chunks.append(out.float().cpu().numpy())
            for p in points:
                e = pool_activation(rec.activations[p.name].float(), pool)
                if l2_normalize:
                    e = torch.nn.functional.normalize(e, dim=1)
                chunks[p.name].append(e.cpu().numpy())
            rec.activations.clear()
    emb = {k: np.concatenate(v) if v else np.zeros((0, 0), np.float32) for k, v in chunks.items()}
    logits = np.concatenate(logit_chunks) if logit_chunks else np.zeros((0, 0), np.float32)
    return emb, logits


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
