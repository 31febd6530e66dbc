"""The paper's probe for a researcher's own model and images (``python -m paperlib report``).

Given a two-level image folder ``ROOT/<superclass>/<subclass>/*.{jpg,jpeg,png}`` and a model (a
paperlib architecture or any timm model, optionally with a checkpoint), cluster every probe point's
embeddings within each superclass with Ward linkage into ``subclasses x factor`` clusters, score the
clusters against the hidden subclasses (AMI and purity), average over superclasses without weights,
and write the per-layer profile as ``profile.csv`` and ``profile.png``.

The pieces are the library's own: :func:`paperlib.extract.iter_superclasses` (all probe points in
one forward pass, superclass by superclass), :func:`paperlib.cluster.ward_labels`,
:mod:`paperlib.metrics`, the tidy table of :mod:`paperlib.experiment` and
:func:`paperlib.plots.layer_profile`. Nothing is cached and nothing is downloaded: timm models are
built with ``pretrained=False``; trained weights come only from ``--checkpoint``.

Checkpoints are data, not code: they are read with ``torch.load(weights_only=True)`` (or as
``.safetensors``); a file that needs full unpickling (which can run arbitrary code) is refused unless
``--trust-checkpoint`` / ``trust_checkpoint=True`` is given. Every image of the folder is decoded
once (at reduced JPEG scale, :func:`find_bad_images`) before the model is built; unreadable or
truncated files stop the report with their paths listed, or are skipped with
``--skip-bad-images`` / ``skip_bad_images=True``.

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
always wins for the size. :func:`report` prints the preprocessing used and writes it to
``preprocess.json`` beside ``profile.csv``.

Importing this module has no side effects (timm and matplotlib are imported when used).
"""

from __future__ import annotations

import difflib
import io
import json
import pickle
import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import cache, cluster, data, experiment, extract, models, train
from .hierarchy import Hierarchy
from .models import ProbePoint

__all__ = [
    "FOLDER_DATASET", "IMAGE_EXTENSIONS", "LAYOUT", "FolderLayoutError", "CheckpointError", "BadImageError",
    "folder_split", "find_bad_images", "model_kind", "timm_probe_points", "read_checkpoint", "load_model",
    "model_preprocess",
    "layer_profile", "best_layers", "plot_profile", "write_outputs", "report",
]

#: Dataset name of folder splits; :func:`paperlib.data.normalize` uses ImageNet statistics for it.
FOLDER_DATASET = "imagefolder"
#: File name endings accepted as images (compared case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
#: The folder layout :func:`folder_split` expects, quoted in its error messages.
LAYOUT = "ROOT/<superclass>/<subclass>/<image>.{jpg,jpeg,png}"
#: Top-level keys of a checkpoint dictionary that hold the weights, in order of preference
#: (EMA weights first: the paper evaluates the EMA model).
STATE_KEYS = ("ema_state", "state_dict_ema", "model_ema", "state_dict", "model", "state")

_COLUMNS = ["layer", "depth", "rel_depth", "factor", "ami", "purity"]


class FolderLayoutError(ValueError):
    """An image folder does not have the two-level layout; the message names the folder."""


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model; the message lists the differing keys."""


class BadImageError(ValueError):
    """Image files of a folder cannot be decoded (truncated, corrupt, not images); the message lists them."""


# --------------------------------------------------------------------------- the folder
def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS


def _subdirs(p: Path) -> list[Path]:
    return sorted((c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".")), key=lambda c: c.name)


def _layout_error(msg: str, root: Path) -> FolderLayoutError:
    return FolderLayoutError(
        f"{msg}\nExpected layout: {LAYOUT}, i.e. {root}/<superclass>/<subclass>/*.jpg with at least "
        "2 subclass folders in every superclass folder and at least one image in every subclass folder."
    )


def folder_split(root: str | Path, max_per_subclass: int | None = None) -> tuple[data.Split, Hierarchy]:
    """Read a two-level image folder into a split and its hierarchy.

    Superclasses are the sorted folder names under ``root``, subclasses the sorted folder names
    under each superclass (hidden folders, starting with ``.``, are skipped); subclass ids run
    ``0 .. n_subclasses - 1`` in that order. Images are the files ending in ``.jpg``, ``.jpeg`` or
    ``.png`` (any case), sorted by name; nothing is decoded here.

    Parameters
    ----------
    root : path-like
        ``ROOT`` of ``ROOT/<superclass>/<subclass>/*.{jpg,jpeg,png}``.
    max_per_subclass : int, optional
        Keep only the first ``max_per_subclass`` images (by file name) of every subclass.

    Returns
    -------
    split : paperlib.data.Split
        ``dataset="imagefolder"``, ``split="val"``, ``paths`` (``n_images`` files) and
        ``subclass`` (int64, shape ``(n_images,)``).
    hierarchy : paperlib.hierarchy.Hierarchy
        Named after the folder; ``superclasses`` and ``subclass_names`` are the folder names.

    Raises
    ------
    paperlib.data.DataNotFound
        If ``root`` does not exist or is not a folder.
    FolderLayoutError
        If ``root`` has no superclass folders, a superclass folder has fewer than 2 subclass
        folders, or a subclass folder has no images; the message names the folder.
    """
    root = Path(root).expanduser()
    if max_per_subclass is not None and int(max_per_subclass) < 1:
        raise ValueError(f"max_per_subclass must be >= 1, got {max_per_subclass}")
    if not root.exists():
        raise data.DataNotFound(f"image folder {root} does not exist.\nExpected layout: {LAYOUT}")
    if not root.is_dir():
        raise data.DataNotFound(f"{root} is not a folder.\nExpected layout: {LAYOUT}")
    supers = _subdirs(root)
    if not supers:
        loose = sum(_is_image(p) for p in root.iterdir())
        hint = f" (it holds {loose} image files directly: move them into subclass folders)" if loose else ""
        raise _layout_error(f"{root} has no superclass folders{hint}.", root)
    paths: list[str] = []
    subclass: list[int] = []
    groups, sub_names = [], []
    for sdir in supers:
        subs = _subdirs(sdir)
        loose = [p for p in sdir.iterdir() if _is_image(p)]
        if not subs:
            hint = f"; it holds {len(loose)} images directly, which need a subclass folder level" if loose else ""
            raise _layout_error(f"superclass folder {sdir} has no subclass folders{hint}.", root)
        if len(subs) < 2:
            raise _layout_error(
                f"superclass folder {sdir} has only 1 subclass folder ({subs[0].name}); clustering within a "
                "superclass needs at least 2 subclasses.", root)
        if loose:
            warnings.warn(f"{sdir}: ignoring {len(loose)} images directly in a superclass folder", stacklevel=2)
        group = []
        for cdir in subs:
            images = sorted((p for p in cdir.iterdir() if _is_image(p)), key=lambda p: p.name)
            if not images:
                deeper = _subdirs(cdir)
                hint = f" (it has sub-folders {[d.name for d in deeper[:3]]}: too deep a layout)" if deeper else ""
                raise _layout_error(
                    f"subclass folder {cdir} has no images ({', '.join(IMAGE_EXTENSIONS)}){hint}.", root)
            if max_per_subclass is not None:
                images = images[: int(max_per_subclass)]
            c = len(sub_names)
            sub_names.append(cdir.name)
            group.append(c)
            paths += [str(p) for p in images]
            subclass += [c] * len(images)
        groups.append(tuple(group))
    h = Hierarchy(root.resolve().name or "imagefolder", tuple(s.name for s in supers), tuple(groups), tuple(sub_names))
    split = data.Split(FOLDER_DATASET, "val", np.asarray(subclass, dtype=np.int64), paths=paths)
    return split, h


def _image_problem(path: str) -> str | None:
    """Why ``path`` cannot be decoded, or None. JPEGs are decoded at 1/8 scale (``draft``): every
    byte of the entropy-coded data is still read, so truncation is caught, at about half the cost of a
    full decode (``Image.verify`` alone does not notice a truncated JPEG)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft(im.mode, (1, 1))  # no-op for formats other than JPEG
            im.load()
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError ... for bad data
        return f"{type(exc).__name__}: {exc}"
    return None


def find_bad_images(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """Image files that cannot be decoded, as ``(path, reason)`` pairs in the order of ``paths``.

    Every file is opened and decoded with PIL (JPEGs at reduced scale), which catches files that
    are not images, corrupt files and truncated files (unless
    ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` was set). About 1 ms per image on one CPU core.
    """
    bad = []
    for p in paths:
        why = _image_problem(str(p))
        if why is not None:
            bad.append((str(p), why))
    return bad


def _drop_bad_images(split: data.Split, h: Hierarchy, skip: bool, stream) -> data.Split:
    """Check every image of ``split`` (:func:`find_bad_images`); raise :class:`BadImageError` or skip them."""
    bad = find_bad_images(split.paths)
    if not bad:
        return split
    shown = "\n".join(f"  {p} ({why})" for p, why in bad[:50])
    more = f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else ""
    if not skip:
        raise BadImageError(
            f"{len(bad)} of {len(split)} image files cannot be decoded:\n{shown}{more}\n"
            "Remove or replace them, or skip them with --skip-bad-images (skip_bad_images=True).")
    gone = {p for p, _ in bad}
    keep = np.array([p not in gone for p in split.paths], dtype=bool)
    counts = np.bincount(split.subclass[keep], minlength=h.n_subclasses)
    empty = [h.subclass_names[c] for c in range(h.n_subclasses) if counts[c] == 0]
    if empty:
        raise BadImageError(f"no decodable images left in subclass folders {empty} after skipping "
                            f"{len(bad)} bad files:\n{shown}{more}")
    print(f"skipping {len(bad)} image files that cannot be decoded:\n{shown}{more}", file=stream)
    return data.Split(split.dataset, split.split, split.subclass[keep],
                      paths=[p for p, k in zip(split.paths, keep) if k])


# --------------------------------------------------------------------------- models
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


def _state_of(blob, path: Path) -> tuple[dict, str | None]:
    if isinstance(blob, nn.Module):
        return blob.state_dict(), "module"
    if not isinstance(blob, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(blob).__name__}, not a state dict")
    if blob and all(isinstance(v, torch.Tensor) for v in blob.values()):
        return blob, None
    for key in STATE_KEYS:
        v = blob.get(key)
        if isinstance(v, dict) and v and all(isinstance(t, torch.Tensor) for t in v.values()):
            return v, key
    raise CheckpointError(
        f"checkpoint {path}: no state dict found; expected a raw state dict (name -> tensor) or a dict with "
        f"one of the keys {list(STATE_KEYS)}, got keys {sorted(map(str, blob))[:20]}"
    )


def _strip_prefixes(state: dict) -> dict:
    for prefix in ("module.", "_orig_mod."):  # DistributedDataParallel, torch.compile
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _untrusted(path: Path, exc: Exception) -> CheckpointError:
    detail = str(exc).strip().splitlines()
    why = next((line for line in detail if "Unsupported global" in line or "GLOBAL" in line), detail[0] if detail else "")
    return CheckpointError(
        f"refusing checkpoint {path}: it is not plain tensor data and loading it would unpickle arbitrary "
        f"Python objects, which can run code ({why.strip()}). If you trust where the file comes from, pass "
        "--trust-checkpoint (python -m paperlib report) or trust_checkpoint=True (paperlib.report); better, "
        "re-save its state_dict() with torch.save or as .safetensors.")


def _needs_unpickling(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's refusal of a well-formed pickle under ``weights_only=True``."""
    return isinstance(exc, pickle.UnpicklingError) and "weights only load failed" in str(exc).lower()


def _torch_load(path: Path, trust: bool):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _needs_unpickling(exc):
            raise
        if not trust:
            raise _untrusted(path, exc) from None
    warnings.warn(f"{path}: unpickling in full (trust_checkpoint=True)", stacklevel=3)
    return torch.load(path, map_location="cpu", weights_only=False)


def read_checkpoint(path: str | Path, trust_checkpoint: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
    """Read the weights in a checkpoint file (on the CPU).

    Accepts a raw ``state_dict``; a dictionary holding one under a key of :data:`STATE_KEYS`
    (``"ema_state"`` of a paperlib ``model.pt``, timm's ``"state_dict_ema"``/``"state_dict"``,
    ``"model"`` ...; EMA weights preferred); a pickled ``nn.Module``; or a ``.safetensors`` file.
    A file with a ``.sha256`` sidecar (a paperlib artifact) is checksum-verified with
    :func:`paperlib.cache.load`. Files are read with ``torch.load(weights_only=True)``, which
    only rebuilds tensors and plain containers; a file it refuses (pickled modules, custom classes:
    unpickling them can run arbitrary code) raises :class:`CheckpointError` naming the file and
    ``trust_checkpoint``, and is read with ``weights_only=False`` (and a warning) only with
    ``trust_checkpoint=True``. ``module.`` / ``_orig_mod.`` prefixes on every key are removed.

    Parameters
    ----------
    path : path-like
    trust_checkpoint : bool
        Allow full unpickling of a file that is not plain tensor data. Only for files whose
        source you trust.

    Returns
    -------
    state : dict of str -> torch.Tensor
    meta : dict
        ``"key"`` (where the weights were found, or None), and the artifact's ``"config"`` and
        ``"hierarchy"`` when a paperlib ``model.pt`` has them.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CheckpointError
        If the file cannot be read, needs full unpickling without ``trust_checkpoint``, or holds
        no state dict.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return _strip_prefixes(load_file(str(path), device="cpu")), {"key": None}
    try:
        if path.with_name(path.name + ".sha256").exists():
            try:
                blob = cache.load(path, map_location="cpu")  # checksum, then weights_only=True
            except cache.CorruptArtifact as exc:
                if not _needs_unpickling(exc.__cause__):
                    raise
                blob = _torch_load(path, trust_checkpoint)  # checksum fine; refuse or trust as any file
        else:
            blob = _torch_load(path, trust_checkpoint)
    except (cache.CorruptArtifact, RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    state, key = _state_of(blob, path)
    meta = {"key": key}
    if isinstance(blob, dict):
        for k in ("config", "hierarchy"):
            if isinstance(blob.get(k), dict):
                meta[k] = blob[k]
    return _strip_prefixes(dict(state)), meta


def _differences(model: nn.Module, state: dict) -> tuple[list[str], list[str], list[str]]:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatch = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    return missing, unexpected, mismatch


def _load_state(model: nn.Module, state: dict, path, name: str) -> None:
    """Strict ``load_state_dict`` with a readable error; timm's ``checkpoint_filter_fn`` as fallback."""
    missing, unexpected, mismatch = _differences(model, state)
    if (missing or unexpected or mismatch) and hasattr(model, "get_classifier"):
        # timm's own remapping (e.g. ViT position embeddings resampled to another image size)
        filt = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
        if filt is not None:
            try:
                filtered = filt(dict(state), model)
            except Exception:  # noqa: BLE001 - the filter is a best effort; report the raw differences
                filtered = None
            if isinstance(filtered, dict) and not any(_differences(model, filtered)):
                state, missing, unexpected, mismatch = filtered, [], [], []
    if missing or unexpected or mismatch:
        def show(keys):
            return f"{len(keys)}: {keys[:12]}{' ...' if len(keys) > 12 else ''}"

        raise CheckpointError(
            f"checkpoint {path} does not fit model {name!r} (strict loading):\n"
            f"  missing keys {show(missing)}\n  unexpected keys {show(unexpected)}\n"
            f"  shape mismatches {show(mismatch)}\n"
            "Check --model (and --image-size for ViTs); the checkpoint must be this architecture's state dict."
        )
    model.load_state_dict(state, strict=True)


def _last_linear_out(state: dict) -> int | None:
    """Output size of the last 2-D ``*.weight`` in a state dict (the classifier of paperlib models)."""
    for k in reversed(list(state)):
        if k.endswith(".weight") and state[k].ndim == 2:
            return int(state[k].shape[0])
    return None


def _first_conv_width(state: dict) -> int | None:
    for v in state.values():
        if v.ndim == 4:
            return int(v.shape[0])
    return None


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
            warnings.warn(f"timm interpolation {interp!r} is not supported for evaluation; using bilinear",
                          stacklevel=2)
            interp = "bilinear"
        size = image_size or int(cfg.get("input_size", (3, 224, 224))[-1])
        return data.Preprocess(cfg["mean"], cfg["std"], size, interp, cfg.get("crop_pct") or 0.875,
                               source=f"timm data config of {getattr(model, 'arch', type(model).__name__)}")
    size = int(image_size or config.get("image_size") or getattr(model, "image_size", None) or 224)
    dataset = config.get("dataset")
    if dataset is not None and (dataset in data.NORMALIZE or dataset in data.IMAGENET_DATASETS):
        return data.Preprocess.for_dataset(dataset, size, source=f"checkpoint trained on {dataset}")
    if dataset is not None:
        warnings.warn(f"checkpoint dataset {dataset!r} has no known statistics; using ImageNet's", stacklevel=2)
    return data.Preprocess.for_dataset(FOLDER_DATASET, size, source="ImageNet statistics (default)")


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
        Weights to load strictly (see :func:`read_checkpoint`).
    num_classes : int, optional
        Classifier outputs. Default: the checkpoint's (its classifier weight; ``0`` for a timm
        checkpoint without classifier weights), else timm's default, else 1000 (paperlib models;
        their classifier is zero-initialised and not probed).
    image_size : int, optional
        Input side. Default: the checkpoint's training size (paperlib artifacts), else
        :func:`paperlib.models.default_image_size` or timm's ``pretrained_cfg`` test size. Given
        to timm models that take ``img_size`` (ViTs: position embeddings).
    trust_checkpoint : bool
        Allow a checkpoint that needs full unpickling (see :func:`read_checkpoint`).

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
    FileNotFoundError, CheckpointError
        Missing or unreadable checkpoint, or one that does not fit (missing / unexpected keys
        and shape mismatches listed).
    """
    kind = model_kind(name)
    state, meta = read_checkpoint(checkpoint, trust_checkpoint) if checkpoint is not None else (None, {})
    explicit_size = image_size
    if kind == "paperlib":
        cfg = meta.get("config") or {}
        if cfg.get("arch") and cfg["arch"] != name:
            raise CheckpointError(f"checkpoint {checkpoint} was trained as {cfg['arch']!r}, not {name!r}")
        width = None
        if name in models._MINI:
            width = cfg.get("width") or (_first_conv_width(state) if state is not None else None)
        if image_size is None:
            image_size = cfg.get("image_size") or models.default_image_size(name)
        if num_classes is None:
            h = meta.get("hierarchy")
            num_classes = (Hierarchy.from_dict(h).n_superclasses if h else None) or (
                _last_linear_out(state) if state is not None else None) or 1000
        model = models.build_model(name, int(num_classes), width=width, image_size=int(image_size))
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
        _load_state(model, state, checkpoint, name)
    model.arch = name
    model.image_size = int(image_size)
    model.preprocess = model_preprocess(model, meta.get("config") if kind == "paperlib" else None,
                                        explicit_size or model.image_size)
    return model.eval()


# --------------------------------------------------------------------------- compute
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

    Per superclass ``s`` (one forward pass per batch for all probe points,
    :func:`paperlib.extract.iter_superclasses`), the embeddings of every probe point are clustered
    with Ward linkage into ``len(hierarchy.groups[s]) * factor`` clusters for every factor (one
    tree, :func:`paperlib.cluster.ward_labels`) and scored against the subclass labels
    (:func:`paperlib.metrics.ami`, :func:`paperlib.metrics.purity`); the scores are then averaged
    over superclasses without weights.

    Parameters
    ----------
    model : torch.nn.Module
        Has ``probe_points`` (:func:`load_model`); put in eval mode on ``device``.
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
        (:func:`load_model`), else the split's dataset statistics.

    Returns
    -------
    profile : pandas.DataFrame
        One row per (layer, factor), ``n_layers * len(factors)`` rows, columns ``layer``, ``depth``
        (0-based probe position), ``rel_depth`` (0..1), ``factor``, ``ami``, ``purity``, sorted by
        depth then factor.
    per_superclass : pandas.DataFrame
        Only with ``return_per_superclass``: the same before averaging, plus ``superclass``.
    """
    from tqdm.std import tqdm

    if pool not in extract.POOLS:
        raise ValueError(f"unknown pool {pool!r}; valid: {list(extract.POOLS)}")
    cluster.n_clusters_for(1, list(factors))  # validate before any compute
    factors = [int(f) for f in factors]
    device = train.resolve_device(device)
    image_size = image_size or getattr(model, "image_size", None)
    preprocess = preprocess or getattr(model, "preprocess", None)
    names = [p.name for p in extract.resolve_layers(model, layers)]
    model = model.to(device).eval()
    rows = []
    bar = tqdm(total=hierarchy.n_superclasses, disable=not progress, file=sys.stderr, mininterval=2.0,
               desc=f"cluster {getattr(model, 'arch', '')}", unit="superclass")
    for s, index, emb, _ in extract.iter_superclasses(
        model, split, hierarchy, layers=layers, pool=pool, l2_normalize=l2_normalize, batch_size=batch_size,
        image_size=image_size, device=device, num_workers=num_workers, preprocess=preprocess,
    ):
        rows += experiment.score_superclass(emb, split.subclass[index], len(hierarchy.groups[s]), factors, s, device)[0]
        bar.update(1)
    bar.close()
    if not rows:
        raise ValueError("no images of the hierarchy's subclasses in the split")
    mean, per = experiment._tables(rows, names)
    mean = mean[_COLUMNS]
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
    return profile.loc[idx.sort_index().to_numpy(), _COLUMNS].reset_index(drop=True)


def plot_profile(profile: pd.DataFrame, title: str | None = None):
    """AMI and purity per layer, one line per factor (:func:`paperlib.plots.layer_profile`).

    Parameters
    ----------
    profile : pandas.DataFrame
        Output of :func:`layer_profile`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two panels (AMI, purity); not registered with pyplot.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from . import plots

    factors = sorted(profile["factor"].unique())
    cmap = colormaps["viridis"]
    colors = {f: cmap(i / max(1, len(factors) - 1) * 0.85) for i, f in enumerate(factors)}
    n_layers = profile["layer"].nunique()
    fig = Figure(figsize=(max(6.0, 0.32 * n_layers + 2.5), 6.4), constrained_layout=True)
    axes = fig.subplots(2, 1, sharex=True)
    scores = profile.assign(seed=0)  # one model: no spread band
    every = max(1, n_layers // 40)
    for ax, metric in zip(axes, ("ami", "purity")):
        plots.layer_profile(ax, scores, metric=metric, hue="factor", colors=colors, label_every=every)
    axes[0].legend(fontsize=8, title="factor", title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def write_outputs(profile: pd.DataFrame, out_dir: str | Path, title: str | None = None) -> tuple[Path, Path]:
    """Write ``profile.csv`` and ``profile.png`` into ``out_dir`` atomically (temp file + rename).

    Returns
    -------
    csv, png : pathlib.Path
    """
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    csv, png = out / "profile.csv", out / "profile.png"
    cache._write_atomic(csv, profile.to_csv(index=False).encode())
    buf = io.BytesIO()
    plot_profile(profile, title).savefig(buf, format="png", dpi=130)
    cache._write_atomic(png, buf.getvalue())
    return csv, png


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
    before any forward pass; the images (:func:`find_bad_images`) before the model is built.
    Parameters are those of :func:`folder_split`, :func:`load_model` and :func:`layer_profile`;
    ``out_dir`` defaults to ``report_<model>``; the summary (best layer per factor) goes to
    ``stream`` (default stdout). ``skip_bad_images``: leave out image files that cannot be decoded
    (their count and paths are printed) instead of raising :class:`BadImageError`.

    Returns
    -------
    profile : pandas.DataFrame
        As :func:`layer_profile`.
    csv, png : pathlib.Path
        The files written.
    """
    stream = stream or sys.stdout
    model_kind(model)
    if pool not in extract.POOLS:
        raise ValueError(f"unknown pool {pool!r}; valid: {list(extract.POOLS)}")
    cluster.n_clusters_for(1, list(factors))
    split, h = folder_split(folder, max_per_subclass)
    split = _drop_bad_images(split, h, skip_bad_images, stream)
    net = load_model(model, checkpoint, image_size=image_size, trust_checkpoint=trust_checkpoint)
    extract.resolve_layers(net, layers)
    out_dir = Path(out_dir).expanduser() if out_dir is not None else Path(f"report_{model}")
    out_dir.mkdir(parents=True, exist_ok=True)  # fail on an unwritable place before the compute
    print(f"{h.name}: {h.n_superclasses} superclasses, {h.n_subclasses} subclasses, {len(split)} images; "
          f"{model} ({len(net.probe_points)} probe points, {net.image_size} px, pool {pool})", file=stream)
    print(f"preprocessing: {net.preprocess.describe()}", file=stream)
    side = {"model": model, "checkpoint": str(checkpoint) if checkpoint else None, **net.preprocess.to_dict()}
    cache._write_atomic(out_dir / "preprocess.json", (json.dumps(side, indent=2) + "\n").encode())
    profile = layer_profile(net, split, h, factors, pool, layers=layers, l2_normalize=l2_normalize,
                            batch_size=batch_size, device=device, num_workers=num_workers, progress=progress)
    title = f"{model}{' (' + Path(checkpoint).name + ')' if checkpoint else ''} on {h.name}, pool {pool}"
    csv, png = write_outputs(profile, out_dir, title)
    best = best_layers(profile)
    print("best layer per factor (AMI):", file=stream)
    for r in best.itertuples():
        print(f"  factor {r.factor}: {r.layer} (depth {r.depth}, rel {r.rel_depth:.2f})  "
              f"AMI {r.ami:.3f}  purity {r.purity:.3f}", file=stream)
    print(f"wrote {csv}, {png} and {out_dir / 'preprocess.json'}", file=stream)
    return profile, csv, png
