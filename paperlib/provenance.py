"""Provenance: what produced an artifact (the code that ran and the data it read).

A cached model or score is only reusable if it was produced by the same code from the same data.
:func:`code_version` is a short hash of every module whose change can change a result (the files'
bytes, and the source of whatever functions and classes are bound on those modules *now*, so a
monkeypatch is seen, plus the values of their simple module-level constants such as
``data.synthetic.SYN_SIZES``); :func:`paperlib.data.data_identity` describes the data a dataset's
splits read (the generated synthetic images, CIFAR-100's files, the list of ImageNet files of a BREEDS
split), with :func:`file_digest` and :func:`text_digest` from here. Both go into the cache keys (:func:`paperlib.train.model_dir`, :func:`paperlib.experiment.evaluate`),
so after a change to the code or the data a new folder is used and the old one is left alone
(see ``python -m paperlib cache`` to list and prune them).

This module imports no other paperlib module at import time (the modules it fingerprints import it).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import inspect
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CODE_MODULES", "NOTION_VERSION", "code_version", "file_digest", "module_fingerprint", "text_digest"]

#: Bumped when what goes into a code version or a data identity changes meaning.
NOTION_VERSION = 1

#: The modules of :mod:`paperlib.data` that training and scoring read through (not ``data.folder``).
_DATA_MODULES = (
    "data",
    "data.dataset",
    "data.kinds",
    "data.split",
    "data.synthetic",
    "data.cifar",
    "data.imagenet",
    "data.preprocess",
    "data.augment",
    "data.loading",
    "data.images",
)

#: The modules whose change can change each kind of artifact.
CODE_MODULES: dict[str, tuple[str, ...]] = {
    "models": ("hierarchy",) + _DATA_MODULES + ("breeds", "models", "losses", "byol", "train"),
    "scores": ("hierarchy",)
    + _DATA_MODULES
    + ("breeds", "models", "losses", "byol", "train", "extract", "cluster", "metrics", "scoring", "experiment"),
    "transfer": ("hierarchy",)
    + _DATA_MODULES
    + ("data.ood", "breeds", "models", "losses", "byol", "train", "extract", "cluster", "metrics", "transfer"),
}

_PKG = __name__.rpartition(".")[0] or "paperlib"
# Imported objects are described only when defined in a result-affecting module (not config or cache:
# what of those matters is the configuration's values, which are in the keys themselves).
_RESULT_MODULES = frozenset(f"{_PKG}.{m}" for m in CODE_MODULES["scores"])
_FILE_MEMO: dict[tuple, str] = {}  # (path, size, mtime_ns, inode) -> sha256 of the bytes
_NAMES_MEMO: dict[str, tuple[str, frozenset]] = {}  # module file -> (file digest, top-level names)
_SOURCE_MEMO: dict[int, tuple[Any, str]] = {}  # id(obj) -> (obj, digest); obj kept so its id stays unique
_MODULE_MEMO: dict[int, tuple[Any, str]] = {}  # id(module) -> (module, digest of its file when first seen)


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def text_digest(text: str | bytes) -> str:
    """The first 16 hex digits of the SHA-256 of ``text`` (UTF-8) or bytes: a digest for a cache key.

    Examples
    --------
    >>> text_digest("abc")
    'ba7816bf8f01cfea'
    """
    return _sha(text)[:16]


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, computed once per (path, size, mtime, inode) in a process."""
    path = os.path.realpath(path)
    st = os.stat(path)
    sig = (path, st.st_size, st.st_mtime_ns, st.st_ino)
    if sig not in _FILE_MEMO:
        from .cache import file_sha256

        _FILE_MEMO[sig] = file_sha256(path)
    return _FILE_MEMO[sig]


def _own_names(path: str, digest: str) -> frozenset:
    """Top-level names a module file defines itself (def, class, assignment), not its imports."""
    memo = _NAMES_MEMO.get(path)
    if memo is not None and memo[0] == digest:
        return memo[1]
    names: set[str] = set()
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        tree = ast.Module(body=[], type_ignores=[])
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, field, []) or [])
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)
    _NAMES_MEMO[path] = (digest, frozenset(names))
    return _NAMES_MEMO[path][1]


def _code_text(code: types.CodeType) -> str:
    """A code object's bytecode, names and constants (nested code objects recursively), no addresses."""
    consts = [
        _code_text(c)
        if isinstance(c, types.CodeType)
        else repr(sorted(c, key=repr))
        if isinstance(c, frozenset)
        else repr(c)
        for c in code.co_consts
    ]
    return "|".join([code.co_qualname, code.co_code.hex(), ",".join(code.co_names), ",".join(consts)])


def _source_digest(obj: Any) -> str:
    """Digest of a function's or class's source (its bytecode when there is none), memoised per object."""
    memo = _SOURCE_MEMO.get(id(obj))
    if memo is not None and memo[0] is obj:
        return memo[1]
    try:
        text = inspect.getsource(obj)
    except (OSError, TypeError):  # made at run time (e.g. a dataclass's __init__), or built in
        code = getattr(obj, "__code__", None)
        text = (
            _code_text(code)
            if code is not None
            else f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"
        )
    digest = _sha(text)[:16]
    _SOURCE_MEMO[id(obj)] = (obj, digest)
    return digest


def _is_code(obj: Any) -> bool:
    return isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type))


def _describe(obj: Any, depth: int = 0) -> Any:
    """JSON-ready description of a module attribute: source digests for code, values for constants."""
    if depth > 4:
        return type(obj).__qualname__
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, bytes):
        return _sha(obj)[:16]
    if isinstance(obj, type):
        # the class, and its methods as bound now (a monkeypatched method is seen)
        members = {}
        for k, v in vars(obj).items():
            f = v.__func__ if isinstance(v, (staticmethod, classmethod)) else v
            if isinstance(f, property):
                f = f.fget
            if isinstance(f, types.FunctionType):
                members[k] = _source_digest(f)
        return {"class": _source_digest(obj), "members": members}
    if callable(obj) and isinstance(getattr(obj, "__wrapped__", None), types.FunctionType):
        return _source_digest(obj.__wrapped__)  # functools.lru_cache, functools.wraps
    if _is_code(obj):
        return _source_digest(getattr(obj, "__func__", obj))
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [_describe(v, depth + 1) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, (set, frozenset)) else items
    if isinstance(obj, dict):
        return {repr(k): _describe(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, np.ndarray) and obj.size <= 1_000_000:
        return [str(obj.dtype), list(obj.shape), _sha(np.ascontiguousarray(obj).tobytes())[:16]]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {type(obj).__qualname__: _describe(dataclasses.asdict(obj), depth + 1)}
    return type(obj).__qualname__  # modules, foreign objects: only their kind


def module_fingerprint(name: str) -> str:
    """Short hash of one paperlib module: its file, and what is bound on it now.

    Covered: the module file's bytes; every name the file defines at top level (as bound now,
    whatever object it holds: a test's monkeypatch is seen) and every function or class imported
    from another module of :data:`CODE_MODULES` (not from ``config`` or ``cache``, whose
    result-affecting part is the configuration's values, already in the keys), described by its source
    (:func:`inspect.getsource`; the bytecode if there is none); simple constants (numbers, strings,
    tuples, dicts of those, small arrays) by value.

    The file and each function's source are read when this process first sees them (normally just
    after the import) and remembered: the code a process runs does not change when its files are
    edited on disk meanwhile, so neither does its version; a newly bound object (a monkeypatch, a
    reload) is read anew.
    """
    mod = sys.modules.get(f"{_PKG}.{name}") or importlib.import_module(f"{_PKG}.{name}")
    path = getattr(mod, "__file__", None)
    memo = _MODULE_MEMO.get(id(mod))
    if memo is None or memo[0] is not mod:
        memo = _MODULE_MEMO[id(mod)] = (mod, file_digest(path) if path else "")
    digest = memo[1]
    own = _own_names(path, digest) if path else frozenset()
    ns = vars(mod)
    desc = {}
    for k in sorted(set(ns) | own):
        if k.startswith("__"):
            continue
        if k not in ns:
            desc[k] = "<missing>"
            continue
        v = ns[k]
        if k in own or (_is_code(v) and getattr(v, "__module__", "") in _RESULT_MODULES):
            if isinstance(v, types.ModuleType):
                continue
            desc[k] = _describe(v)
    return _sha(digest + json.dumps(desc, sort_keys=True, default=str))[:16]


def code_version(kind: str) -> str:
    """Short hash that changes whenever code that can change an artifact of ``kind`` changes.

    Parameters
    ----------
    kind : {"models", "scores"}
        ``"models"``: the modules :data:`CODE_MODULES` ``["models"]`` (hierarchy, the data package's
        modules but ``data.folder``, breeds, models, losses, byol, train); ``"scores"``: those plus
        extract, cluster, metrics, scoring, experiment.

    Returns
    -------
    str
        16 hex digits. Computed afresh on every call from :func:`module_fingerprint` of each module
        (file digests and sources are memoised, so a call costs about a millisecond).

    Examples
    --------
    >>> code_version("models") == code_version("models") != code_version("scores")
    True
    """
    if kind not in CODE_MODULES:
        raise ValueError(f"unknown artifact kind {kind!r}; valid: {list(CODE_MODULES)}")
    parts = {m: module_fingerprint(m) for m in CODE_MODULES[kind]}
    return _sha(json.dumps({"notion": NOTION_VERSION, "kind": kind, "modules": parts}, sort_keys=True))[:16]
