"""Checkpoints are data, not code: reading a weights file safely and loading it strictly into a model.

:func:`read_checkpoint` reads a raw ``state_dict``, a dictionary holding one (a paperlib ``model.pt``,
timm's and other trainers' formats), a pickled module or a ``.safetensors`` file, with
``torch.load(weights_only=True)``: a file that needs full unpickling (which can run arbitrary code)
is refused unless trusted. :func:`load_state` loads the weights strictly, listing what does not fit.
"""

from __future__ import annotations

import pickle
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from . import cache

__all__ = ["STATE_KEYS", "CheckpointError", "read_checkpoint", "load_state", "last_linear_out", "first_conv_width"]

#: Top-level keys of a checkpoint dictionary that hold the weights, in order of preference
#: (EMA weights first: the paper evaluates the EMA model).
STATE_KEYS = ("ema_state", "state_dict_ema", "model_ema", "state_dict", "model", "state")


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the model; the message lists the differing keys."""


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
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _untrusted(path: Path, exc: Exception) -> CheckpointError:
    detail = str(exc).strip().splitlines()
    why = next(
        (line for line in detail if "Unsupported global" in line or "GLOBAL" in line), detail[0] if detail else ""
    )
    return CheckpointError(
        f"refusing checkpoint {path}: it is not plain tensor data and loading it would unpickle arbitrary "
        f"Python objects, which can run code ({why.strip()}). If you trust where the file comes from, pass "
        "--trust-checkpoint (python -m paperlib report) or trust_checkpoint=True (paperlib.report); better, "
        "re-save its state_dict() with torch.save or as .safetensors."
    )


def _needs_unpickling(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's refusal of a well-formed pickle under ``weights_only=True``: one that
    names a Python object to rebuild (``GLOBAL``), not bytes that are no pickle at all."""
    text = str(exc)
    return (
        isinstance(exc, pickle.UnpicklingError)
        and "weights only load failed" in text.lower()
        and ("Unsupported global" in text or "GLOBAL" in text)
    )


def _not_a_checkpoint(path: Path, exc: BaseException) -> CheckpointError:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    why = next((line for line in lines if line.startswith("Unsupported operand")), lines[-1] if lines else "")
    return CheckpointError(
        f"cannot read checkpoint {path}: not a PyTorch or safetensors weights file, or a damaged "
        f"one ({type(exc).__name__}: {why[:200]}); give a file written by torch.save or "
        "safetensors"
    )


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

        try:
            return _strip_prefixes(load_file(str(path), device="cpu")), {"key": None}
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own SafetensorError for bad headers
            raise _not_a_checkpoint(path, exc) from exc
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
    except (cache.CorruptArtifact, OSError) as exc:  # a paperlib artifact failing its checksum; unreadable
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise _not_a_checkpoint(path, exc) from exc
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
    mismatch = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    return missing, unexpected, mismatch


def load_state(model: nn.Module, state: dict, path, name: str) -> None:
    """Load ``state`` into ``model`` strictly, or raise :class:`CheckpointError` listing the differences.

    Missing and unexpected keys and shape mismatches are listed (the first 12 of each); for a timm
    model whose module defines ``checkpoint_filter_fn`` (e.g. ViT position embeddings resampled to
    another image size), that remapping is tried first. ``path`` and ``name`` (the model's name)
    are for the message.
    """
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


def last_linear_out(state: dict) -> int | None:
    """Output size of the last 2-D ``*.weight`` in a state dict (the classifier of paperlib models)."""
    for k in reversed(list(state)):
        if k.endswith(".weight") and state[k].ndim == 2:
            return int(state[k].shape[0])
    return None


def first_conv_width(state: dict) -> int | None:
    """Output channels of the first 4-D weight in a state dict (the stem of paperlib's small models)."""
    for v in state.values():
        if v.ndim == 4:
            return int(v.shape[0])
    return None
