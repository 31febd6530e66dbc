"""Artifact cache: checkpoints, embeddings and scores keyed by their full configuration.

Every artifact lives in ``<root>/<kind>/<key>/`` where ``key`` is a hash of the configuration that
produced it (:func:`key_of`), next to a ``config.json`` that spells that configuration out. Files are
written to a temporary file in the same folder and renamed into place (:func:`save`), then a
``<file>.sha256`` sidecar records their checksum. :func:`load` checks the checksum, so a truncated
or corrupt file, or one whose write was interrupted before its sidecar, is detected
(:class:`CorruptArtifact`) and rebuilt by :func:`cached`, never silently used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["CorruptArtifact", "key_of", "canonical", "save", "load", "is_valid", "cached", "artifact_dir"]


class CorruptArtifact(RuntimeError):
    """A cached file whose checksum is missing or does not match its content."""


def canonical(config: Any) -> Any:
    """Turn a configuration (dataclass, dict, list, scalars) into plain JSON-ready data."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if isinstance(config, dict):
        return {str(k): canonical(v) for k, v in sorted(config.items(), key=lambda kv: str(kv[0]))}
    if isinstance(config, (list, tuple)):
        return [canonical(v) for v in config]
    if isinstance(config, Path):
        return str(config)
    if isinstance(config, (np.integer,)):
        return int(config)
    if isinstance(config, (np.floating,)):
        return float(config)
    if config is None or isinstance(config, (str, int, float, bool)):
        return config
    raise TypeError(f"cannot use {type(config).__name__} in a cache key: {config!r}")


def key_of(config: Any) -> str:
    """Stable 16-hex-digit key of a configuration.

    Examples
    --------
    >>> key_of({"b": 1, "a": [1, 2]}) == key_of({"a": [1, 2], "b": 1})
    True
    """
    text = json.dumps(canonical(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def artifact_dir(root: Path, kind: str, config: Any) -> Path:
    """``<root>/<kind>/<key_of(config)>``, created, with ``config.json`` written once."""
    d = Path(root) / kind / key_of(config)
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "config.json"
    if not is_valid(cfg):
        save(cfg, canonical(config))
    return d


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _encode(path: Path, obj: Any) -> bytes:
    buf = io.BytesIO()
    if path.suffix == ".json":
        return json.dumps(obj, indent=1, sort_keys=True).encode()
    if path.suffix == ".npz":
        np.savez(buf, **obj)
    elif path.suffix == ".pt":
        import torch

        torch.save(obj, buf)
    else:
        raise ValueError(f"unknown artifact format {path.suffix!r} (use .json, .npz or .pt)")
    return buf.getvalue()


def save(path: Path | str, obj: Any) -> Path:
    """Write ``obj`` atomically, then its checksum sidecar.

    Parameters
    ----------
    path : path-like
        Target file; the suffix picks the format: ``.json`` (JSON data), ``.npz`` (dict of arrays),
        ``.pt`` (anything :func:`torch.save` takes).
    obj : object
        What to store.
    """
    path = Path(path)
    data = _encode(path, obj)
    sc = _sidecar(path)
    if sc.exists():
        sc.unlink()  # the old checksum must never vouch for the new file
    _write_atomic(path, data)
    _write_atomic(sc, hashlib.sha256(data).hexdigest().encode())
    return path


def _verified_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(path)
    sc = _sidecar(path)
    if not sc.exists():
        raise CorruptArtifact(f"{path}: no checksum sidecar (interrupted write?)")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sc.read_text().strip():
        raise CorruptArtifact(f"{path}: checksum mismatch (truncated or corrupt)")
    return data


def load(path: Path | str, map_location: str = "cpu") -> Any:
    """Read an artifact written by :func:`save`, verifying its checksum.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    CorruptArtifact
        If the checksum is missing or wrong, or the content does not decode.
    """
    path = Path(path)
    data = _verified_bytes(path)
    try:
        if path.suffix == ".json":
            return json.loads(data)
        if path.suffix == ".npz":
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if path.suffix == ".pt":
            import torch

            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any decode failure means corrupt
        raise CorruptArtifact(f"{path}: cannot decode ({exc})") from exc
    raise ValueError(f"unknown artifact format {path.suffix!r}")


def is_valid(path: Path | str) -> bool:
    """Whether ``path`` exists and its checksum matches (cheap enough for small files)."""
    try:
        _verified_bytes(Path(path))
        return True
    except (FileNotFoundError, CorruptArtifact):
        return False


def discard(path: Path | str) -> None:
    """Remove an artifact and its sidecar if present."""
    path = Path(path)
    for p in (path, _sidecar(path)):
        if p.exists():
            p.unlink()


def cached(path: Path | str, build: Callable[[], Any]) -> Any:
    """Load ``path`` if it is valid, else ``build()``, save and return it.

    A file that exists but fails its checksum is reported with a warning, deleted and rebuilt.
    """
    path = Path(path)
    if path.exists():
        try:
            return load(path)
        except CorruptArtifact as exc:
            warnings.warn(f"rebuilding corrupt cache entry: {exc}", stacklevel=2)
            discard(path)
    obj = build()
    save(path, obj)
    return obj
