"""Any model, ready to probe: a paperlib architecture or a timm model, optionally with a checkpoint from anywhere.

:func:`load_model` builds the model (timm models with ``pretrained=False``: nothing is downloaded),
loads a checkpoint's weights strictly (:mod:`paperlib.checkpoints`), and attaches its probe points
and the preprocessing it expects.

Probe points of timm models (:func:`timm_probe_points`): every entry of ``model.feature_info`` (the
stage outputs timm exposes for feature extraction, e.g. ``act1``, ``layer1`` .. ``layer4`` for a
ResNet, ``blocks.0`` .. ``blocks.{d-1}`` for a ViT), named by module path with dots replaced by
underscores (``layer1``, ``blocks_0``), then ``penultimate``: the input of the classifier
(``model.get_classifier()``), i.e. the pooled pre-logits features, shape ``(B, D)``.

Images are prepared as each model expects (:func:`model_preprocess`, a
:class:`paperlib.data.Preprocess` kept as ``model.preprocess``): timm models use their own data
config (``timm.data.resolve_model_data_config``: mean, std, interpolation, ``crop_pct``, input
size); paperlib architectures loaded from a paperlib checkpoint whose config names its dataset use
that dataset's statistics (:data:`paperlib.data.NORMALIZE`, ImageNet for BREEDS) and image size;
anything else the library's evaluation transform (bilinear resize to ``size * 256 / 224``, centre
crop ``size``) and ImageNet statistics (dataset name ``"imagefolder"``). An explicit image size
always wins for the size.

Importing this module has no side effects (timm is imported when used).
"""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path

from torch import nn

from . import checkpoints, data, losses, models, names
from .hierarchy import Hierarchy
from .models import ProbePoint

__all__ = ["model_kind", "timm_probe_points", "model_preprocess", "load_model"]


def model_kind(name: str) -> str:
    """``"paperlib"`` for a :data:`paperlib.models.ARCHITECTURES` name, ``"timm"`` for a timm model.

    Raises
    ------
    ValueError
        For any other name; the message suggests close timm names (``difflib``) and lists
        paperlib's architectures.
    """
    if name in models.ARCHITECTURES:
        return "paperlib"
    import timm

    if timm.is_model(name):
        return "timm"
    known = timm.list_models()
    close = difflib.get_close_matches(name, known, n=8, cutoff=0.6)
    close += [a for a in difflib.get_close_matches(name, models.ARCHITECTURES, n=3) if a not in close]
    did = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"unknown model {name!r}: neither a paperlib architecture nor a timm model.{did}\n"
        f"paperlib architectures: {', '.join(models.ARCHITECTURES)}.\n"
        f"timm knows {len(known)} models; search them with timm.list_models('*{name.split('_')[0][:12]}*')."
    )


def _module_name(model: nn.Module, module: nn.Module) -> str | None:
    for n, m in model.named_modules():
        if m is module:
            return n
    return None


def _classifier_name(model: nn.Module) -> str:
    """Dotted path of a timm model's classifier module (the first one if there are several)."""
    cls = model.get_classifier()
    if isinstance(cls, (tuple, list)):
        cls = cls[0]
    name = _module_name(model, cls) if isinstance(cls, nn.Module) else None
    if not name:
        cfg_name = (getattr(model, "pretrained_cfg", None) or {}).get("classifier")
        if isinstance(cfg_name, (tuple, list)):
            cfg_name = cfg_name[0]
        if cfg_name and cfg_name in dict(model.named_modules()):
            name = cfg_name
    if not name:
        raise ValueError(f"cannot find the classifier module of {type(model).__name__} (model.get_classifier())")
    return name


def timm_probe_points(model: nn.Module) -> tuple[ProbePoint, ...]:
    """Probe points of a timm model, ordered by depth.

    One per entry of ``model.feature_info`` (timm's list of dicts with ``"module"``, ``"num_chs"``,
    ``"reduction"``), named by the module path with ``.`` replaced by ``_`` and taken at the
    module's output; when a model has no ``feature_info``, one per child of its first
    ``blocks`` / ``stages`` / ``layers`` / ``features`` container. Last comes ``penultimate``: the
    input of ``model.get_classifier()`` (a forward pre-hook), which is the pooled pre-logits
    embedding, also when the classifier is an ``nn.Identity`` (``num_classes=0``).

    Parameters
    ----------
    model : torch.nn.Module
        A timm model (it has ``get_classifier``).

    Returns
    -------
    tuple of paperlib.models.ProbePoint
        Feature maps ``(B, C, H, W)`` or token sequences ``(B, T, D)``, then ``penultimate``
        ``(B, D)``.

    Examples
    --------
    >>> import timm  # doctest: +SKIP
    >>> [p.name for p in timm_probe_points(timm.create_model("resnet10t"))]  # doctest: +SKIP
    ['act1', 'layer1', 'layer2', 'layer3', 'layer4', 'penultimate']
    """
    modules = dict(model.named_modules())
    paths: list[str] = []
    for entry in getattr(model, "feature_info", None) or []:
        path = entry.get("module") if isinstance(entry, dict) else None
        if path and path in modules and path not in paths:
            paths.append(path)
    if not paths:
        for attr in ("blocks", "stages", "layers", "features"):
            box = getattr(model, attr, None)
            if isinstance(box, (nn.Sequential, nn.ModuleList)) and len(box):
                paths = [f"{attr}.{i}" for i in range(len(box))]
                break
    head = _classifier_name(model)
    points = [ProbePoint(p.replace(".", "_"), p) for p in paths]
    points.append(ProbePoint("penultimate", head, "input"))
    return tuple(points)


def model_preprocess(model: nn.Module, config: dict | None = None, image_size: int | None = None) -> data.Preprocess:
    """The evaluation preprocessing a model expects, as a :class:`paperlib.data.Preprocess`.

    timm models (they have ``get_classifier``): ``timm.data.resolve_model_data_config(model)``'s
    ``mean``, ``std``, ``interpolation``, ``crop_pct`` and ``input_size[-1]``. Otherwise, a
    paperlib checkpoint ``config`` with a ``"dataset"`` of :data:`paperlib.data.NORMALIZE` gives
    that dataset's statistics (ImageNet for BREEDS) and its ``"image_size"``; anything else gets
    ImageNet statistics (``"imagefolder"``), bilinear resize and ``crop_pct`` 0.875. A given
    ``image_size`` always wins for the size (default: the source's, else ``model.image_size``,
    else 224).
    """
    config = config or {}
    if hasattr(model, "get_classifier"):
        from timm.data import resolve_model_data_config

        cfg = resolve_model_data_config(model)
        interp = cfg.get("interpolation") or "bilinear"
        if interp not in data.INTERPOLATIONS:
            warnings.warn(
                f"timm interpolation {interp!r} is not supported for evaluation; using bilinear", stacklevel=2
            )
            interp = "bilinear"
        size = image_size or int(cfg.get("input_size", (3, 224, 224))[-1])
        return data.Preprocess(
            cfg["mean"],
            cfg["std"],
            size,
            interp,
            cfg.get("crop_pct") or 0.875,
            source=f"timm data config of {getattr(model, 'arch', type(model).__name__)}",
        )
    size = int(image_size or config.get("image_size") or getattr(model, "image_size", None) or 224)
    dataset = config.get("dataset")
    if dataset is not None and data.statistics_known(dataset):
        return data.Preprocess.for_dataset(dataset, size, source=f"checkpoint trained on {dataset}")
    if dataset is not None:
        warnings.warn(f"checkpoint dataset {dataset!r} has no known statistics; using ImageNet's", stacklevel=2)
    return data.Preprocess.for_dataset(data.FOLDER_DATASET, size, source="ImageNet statistics (default)")


def load_model(
    name: str,
    checkpoint: str | Path | None = None,
    num_classes: int | None = None,
    image_size: int | None = None,
    *,
    trust_checkpoint: bool = False,
) -> nn.Module:
    """Build a model with probe points, optionally with a checkpoint's weights; never downloads.

    Parameters
    ----------
    name : str
        A :data:`paperlib.models.ARCHITECTURES` name (:func:`paperlib.models.build_model`, its own
        probe points) or a timm model name (``timm.create_model(name, pretrained=False)``, probe
        points from :func:`timm_probe_points`).
    checkpoint : path-like, optional
        Weights to load strictly (see :func:`paperlib.checkpoints.read_checkpoint`).
    num_classes : int, optional
        Classifier outputs. Default: the checkpoint's (its classifier weight; ``0`` for a timm
        checkpoint without classifier weights), else timm's default, else 1000 (paperlib models;
        their classifier is zero-initialised and not probed).
    image_size : int, optional
        Input side. Default: the checkpoint's training size (paperlib artifacts), else
        :func:`paperlib.models.default_image_size` or timm's ``pretrained_cfg`` test size. Given
        to timm models that take ``img_size`` (ViTs: position embeddings).
    trust_checkpoint : bool
        Allow a checkpoint that needs full unpickling (see :func:`paperlib.checkpoints.read_checkpoint`).

    Returns
    -------
    torch.nn.Module
        In eval mode on the CPU, mapping images ``(B, 3, image_size, image_size)`` to logits,
        with attributes ``probe_points``, ``arch`` (= ``name``), ``image_size`` and ``preprocess``
        (:func:`model_preprocess`; for timm models the default ``image_size`` is the data
        config's ``input_size``).

    Raises
    ------
    ValueError
        Unknown name (with suggestions), or an image size the model cannot take.
    FileNotFoundError, paperlib.checkpoints.CheckpointError
        Missing or unreadable checkpoint, or one that does not fit (missing / unexpected keys
        and shape mismatches listed).
    """
    kind = model_kind(name)
    state, meta = checkpoints.read_checkpoint(checkpoint, trust_checkpoint) if checkpoint is not None else (None, {})
    explicit_size = image_size
    if kind == "paperlib":
        cfg = meta.get("config") or {}
        if cfg.get("arch") and cfg["arch"] != name:
            raise checkpoints.CheckpointError(f"checkpoint {checkpoint} was trained as {cfg['arch']!r}, not {name!r}")
        width = None
        if name in names.SMALL_ARCHITECTURES:
            width = cfg.get("width") or (checkpoints.first_conv_width(state) if state is not None else None)
        if image_size is None:
            image_size = cfg.get("image_size") or models.default_image_size(name)
        if num_classes is None:
            h = meta.get("hierarchy")
            num_classes = (
                (Hierarchy.from_dict(h).n_superclasses if h else None)
                or (checkpoints.last_linear_out(state) if state is not None else None)
                or 1000
            )
        model = models.build_model(name, int(num_classes), width=width, image_size=int(image_size))
        if cfg.get("loss") in names.LOSSES:  # the head its loss trained (dropout, cosine softmax); same keys
            # (a self-supervised model's head is a plain linear readout)
            losses.get_spec(cfg["loss"]).prepare_model(model)
    else:
        import timm

        kw = {"img_size": int(image_size)} if image_size is not None else {}
        try:
            model = timm.create_model(name, pretrained=False, **kw)
        except TypeError:  # the model does not take img_size (CNNs accept any size)
            model = timm.create_model(name, pretrained=False)
        model.arch = name
        if image_size is None:
            image_size = model_preprocess(model).size
        if num_classes is None and state is not None:
            head = _classifier_name(model)
            w = state.get(f"{head}.weight")
            if w is not None and w.ndim >= 1:
                num_classes = int(w.shape[0])
            elif not any(k.startswith(head + ".") for k in state):
                num_classes = 0  # a headless backbone
        if num_classes is not None and num_classes != getattr(model, "num_classes", None):
            model.reset_classifier(int(num_classes))
        model.probe_points = timm_probe_points(model)
    if state is not None:
        checkpoints.load_state(model, state, checkpoint, name)
    model.arch = name
    model.image_size = int(image_size)
    model.preprocess = model_preprocess(
        model, meta.get("config") if kind == "paperlib" else None, explicit_size or model.image_size
    )
    return model.eval()
