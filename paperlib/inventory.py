"""The artifact cache's inventory: every entry with its size, age, state and staleness, and pruning.

:func:`entries` lists the folders ``<root>/<kind>/<key>/`` of :mod:`paperlib.cache`, and tells for
each whether the code version and data identity in its key (:mod:`paperlib.provenance`) are the
current ones; :func:`prune` removes the stale or old ones (``python -m paperlib cache list|prune``).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from . import cache, config, names, provenance

__all__ = ["Entry", "Pruned", "entries", "prune", "in_use"]


@dataclasses.dataclass
class Entry:
    """One cached artifact folder ``<root>/<kind>/<key>/``.

    Attributes
    ----------
    kind : {"models", "scores", "decoded", "probes", "transfer"}
    key : str
        The folder's name (hash of its ``config.json``).
    path : pathlib.Path
    summary : str
        One line: dataset, arch, hierarchy, seed, loss, epochs (and pool, l2, factors for scores).
    bytes : int
        Size on disk of all its files.
    age_days : float
        Days since its newest file was written.
    state : {"finished", "partial", "empty", "corrupt"}
        ``partial``: a training checkpoint or some of the files only; ``corrupt``: no readable
        ``config.json`` or (with ``verify``) a file failing its checksum.
    code : {"current", "stale", "-"}
        Whether the code version in its key is the current one (:func:`paperlib.provenance.code_version`);
        ``"stale"`` also for entries written before keys held one; ``"-"`` for decoded images.
    data : {"current", "stale", "unknown", "-"}
        Whether its data identity is the current one, where that was checked (``"unknown"``: not
        checked or the data is not there).
    config : dict
        The content of ``config.json``.
    """

    kind: str
    key: str
    path: Path
    summary: str
    bytes: int
    age_days: float
    state: str
    code: str
    data: str
    config: dict

    @property
    def stale(self) -> bool:
        """Produced by other code or from other data than the current ones."""
        return self.code == "stale" or self.data == "stale"


def _summary(kind: str, meta: dict) -> str:
    if kind == "decoded":
        return f"{meta.get('n', '?')} images decoded at {meta.get('size', '?')} px"
    cfg = meta.get("config") or meta.get("train") or (meta if "dataset" in meta else {})
    text = (
        f"{cfg.get('dataset', '?')} {cfg.get('arch', '?')} {cfg.get('hierarchy', '?')} seed {cfg.get('seed', '?')} "
        f"{cfg.get('loss', '?')} {cfg.get('epochs', '?')} ep"
    )
    ev = meta.get("eval")
    if kind == "scores" and isinstance(ev, dict):
        f = ev.get("factors") or []
        fs = f"{f[0]}-{f[-1]}" if len(f) > 1 else ",".join(map(str, f))
        text += f" | pool {ev.get('pool')} l2 {ev.get('l2_normalize')} factors {fs}"
    return text


def _code_now(kind: str):
    """The code part of a current key of ``kind`` (probes: their own module and the scores' code,
    as :func:`paperlib.probe.probe_key` writes it)."""
    if kind == "probes":
        return {"scores": provenance.code_version("scores"), "probe": provenance.module_fingerprint("probe")}
    return provenance.code_version(kind)


def _cheap_identity(dataset) -> bool:
    """Whether a stored data identity's dataset is cheap to identify again (:attr:`paperlib.data.Dataset.cheap_identity`);
    False for a name this version does not know."""
    from . import data

    try:
        return data.resolve(dataset).cheap_identity
    except (ValueError, TypeError):
        return False


def _state(kind: str, d: Path, verify: bool) -> str:
    ok = cache.is_valid if verify else cache.is_written
    main = {
        "models": ["model.pt"],
        "scores": ["scores.json", "arrays.npz"],
        "decoded": ["meta.json", "images.npy"],
        "probes": ["probe.json"],
        "transfer": ["transfer.json"],
    }[kind]
    if kind == "decoded":
        done = ok(d / "meta.json") and (d / "images.npy").exists()
        if done and verify:
            done = (d / "images.npy").stat().st_size == cache.load(d / "meta.json").get("bytes")
    else:
        done = all(ok(d / f) for f in main)
    if done:
        return "finished"
    present = [f for f in main + ["checkpoint.pt"] if (d / f).exists()]
    if verify and any((d / f).exists() and not cache.is_valid(d / f) for f in main if f != "images.npy"):
        return "corrupt"
    return "partial" if present else "empty"


def entries(
    root: str | Path | None = None,
    *,
    kinds=cache.KINDS,
    verify: bool = False,
    check_data: bool | None = None,
    data_root: str | Path | None = None,
) -> list[Entry]:
    """Every cached artifact under ``root``, with its size, age, state and staleness.

    Parameters
    ----------
    root : path-like, optional
        The cache (see :func:`paperlib.config.cache_root`).
    kinds : sequence of str
        Which of :data:`paperlib.cache.KINDS` to list.
    verify : bool
        Check every file's checksum (reads them all) rather than only that they and their
        checksum sidecars exist.
    check_data : bool, optional
        Compare the data identity in each key with the current one: ``True`` for every dataset,
        ``False`` for none, ``None`` (default) only where it is cheap (synthetic images, made in
        code, and CIFAR-100, whose three files are hashed once); ImageNet lists are then not read.
    data_root : path-like, optional
        Where the data is (see :func:`paperlib.config.data_root`).

    Returns
    -------
    list of Entry
        Sorted by kind, then newest first.
    """
    root = config.cache_root(root)
    now = time.time()
    code_now: dict[str, str] = {}
    data_now: dict[tuple, Any] = {}
    out: list[Entry] = []
    for kind in kinds:
        names.check("artifact kind", kind)
        base = root / kind
        if not base.is_dir():
            continue
        for d in sorted(p for p in base.iterdir() if p.is_dir()):
            files = [p for p in d.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files)
            newest = max((p.stat().st_mtime for p in files), default=d.stat().st_mtime)
            try:
                meta = cache.load(d / "config.json")
                meta = meta if isinstance(meta, dict) else {}
                state = _state(kind, d, verify)
            except (FileNotFoundError, cache.CorruptArtifact):
                meta, state = {}, "corrupt"
            code = data_state = "-"
            if kind in provenance.CODE_MODULES or kind == "probes":
                if kind not in code_now:
                    code_now[kind] = _code_now(kind)
                code = "current" if meta.get("code") == code_now[kind] else "stale"
                ident = meta.get("data")
                data_state = "unknown"
                cheap = isinstance(ident, dict) and _cheap_identity(ident.get("dataset"))
                if isinstance(ident, dict) and (check_data or (check_data is None and cheap)):
                    k = (ident.get("dataset"), tuple(ident.get("splits") or ()))
                    if k not in data_now:
                        from . import data

                        try:
                            data_now[k] = data.data_identity(k[0], data_root, splits=k[1])
                        except (ValueError, FileNotFoundError):
                            data_now[k] = None
                    if data_now[k] is not None:
                        data_state = "current" if data_now[k] == ident else "stale"
            out.append(
                Entry(
                    kind,
                    d.name,
                    d,
                    _summary(kind, meta),
                    size,
                    max(0.0, (now - newest) / 86400),
                    state,
                    code,
                    data_state,
                    meta,
                )
            )
    out.sort(key=lambda e: (cache.KINDS.index(e.kind), e.age_days))
    return out


class Pruned(list):
    """The entries :func:`prune` removed (a list of :class:`Entry`), with those it left and why.

    Attributes
    ----------
    skipped : list of (Entry, str)
        Entries that matched but are in use (:func:`in_use`), with the reason.
    failed : list of (Entry, str)
        Entries it tried and failed to remove (a read-only cache, a permission), with the first error.
    """

    def __init__(self, removed=(), skipped=(), failed=()):
        super().__init__(removed)
        self.skipped = list(skipped)
        self.failed = list(failed)


def _train_config(e: Entry):
    """The training configuration an entry was made from (a model's own, or the scored model's)."""
    return e.config.get("config") if e.kind == "models" else e.config.get("train")


def in_use(found: list[Entry], root: str | Path | None = None) -> dict[str, str]:
    """Which of ``found`` are in use, and why: ``{entry path: reason}``.

    In use: a process holds the entry's lock (:func:`paperlib.cache.is_locked`), or the entry is the
    model (or the scores, probes or clusters of the model) of a job that is queued or running
    (:func:`paperlib.launch.active_jobs`), which will still write there (after a code change too: a
    job keeps the code it started with, so its entries look stale to the new code).
    """
    from . import launch

    jobs = launch.active_jobs(root)
    job_of = {}
    for e in found:
        if e.kind == "models" and e.key in jobs:
            job_of[cache.key_of(_train_config(e))] = jobs[e.key]
    reasons = {}
    for e in found:
        if cache.is_locked(e.path):
            reasons[str(e.path)] = "in use: a process holds its lock (training, scoring or decoding it)"
        elif e.kind == "models" and e.key in jobs:
            reasons[str(e.path)] = f"in use: its {jobs[e.key]}"
        elif _train_config(e) is not None and cache.key_of(_train_config(e)) in job_of:
            reasons[str(e.path)] = f"in use: its model's {job_of[cache.key_of(_train_config(e))]}"
    return reasons


def _remove(path: Path) -> str | None:
    """Remove the folder ``path``; ``None`` if it is gone, else the first error (it may be partly removed)."""
    errors = []

    def note(func, where, exc):
        errors.append(f"{where}: {exc[1] if isinstance(exc, tuple) else exc}")

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=note)
    else:
        shutil.rmtree(path, onerror=note)
    if not path.exists():
        return None
    return errors[0] if errors else "still there after removal"


def _prune_one(e: Entry) -> tuple[str, str | None]:
    """Remove one entry under its lock: ``("removed", None)``, ``("skipped", why)`` or ``("failed", why)``."""
    with cache.try_lock(e.path) as held:
        if not held and cache.is_locked(e.path):
            return "skipped", "in use: a process took its lock just now"
        why = _remove(e.path)
    return ("removed", None) if why is None else ("failed", why)


def prune(
    root: str | Path | None = None,
    *,
    stale: bool = False,
    older_than: float | None = None,
    kinds=None,
    dry_run: bool = False,
    check_data: bool | None = None,
    data_root: str | Path | None = None,
) -> Pruned:
    """Remove the cached artifacts that match every criterion given, except those in use.

    Parameters
    ----------
    root : path-like, optional
        The cache (see :func:`paperlib.config.cache_root`).
    stale : bool
        Only entries whose code version or data identity is not the current one
        (:attr:`Entry.stale`; see :func:`entries` for ``check_data``).
    older_than : float, optional
        Only entries whose newest file is older than this many days.
    kinds : sequence of str, optional
        Only these kinds (default all of :data:`paperlib.cache.KINDS`).
    dry_run : bool
        Remove nothing; return what would go.

    Returns
    -------
    Pruned
        The entries removed (or that would be; their ``bytes`` sum to the space freed), with
        ``skipped``, those in use (:func:`in_use`), and ``failed``, those that could not be removed.
        Each entry is removed while its lock is held, so a run that starts on it waits, then makes it anew.

    Raises
    ------
    ValueError
        If no criterion is given (use ``kinds`` to empty a whole kind).
    """
    if not stale and older_than is None and not kinds:
        raise ValueError("name what to prune: stale=True, older_than=DAYS and/or kinds=[...]")
    root = config.cache_root(root)
    kinds = tuple(kinds or cache.KINDS)
    listed = tuple(k for k in cache.KINDS if k in kinds or k == "models")  # models: whose job is running
    found = entries(root, kinds=listed, check_data=check_data, data_root=data_root)
    chosen = [
        e
        for e in found
        if e.kind in kinds and (not stale or e.stale) and (older_than is None or e.age_days > older_than)
    ]
    busy = in_use(found, root)
    out = Pruned(skipped=[(e, busy[str(e.path)]) for e in chosen if str(e.path) in busy])
    for e in (e for e in chosen if str(e.path) not in busy):
        state, why = ("removed", None) if dry_run else _prune_one(e)
        if state == "removed":
            out.append(e)
        else:
            (out.skipped if state == "skipped" else out.failed).append((e, why))
    return out
