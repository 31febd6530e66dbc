"""Artifact cache: checkpoints, embeddings and scores keyed by their full configuration.

Every artifact lives in ``<root>/<kind>/<key>/`` where ``key`` is a hash of the configuration that
produced it (:func:`key_of`), next to a ``config.json`` that spells that configuration out. Files are
written to a temporary file in the same folder and renamed into place (:func:`save`), then a
``<file>.sha256`` sidecar records their checksum. :func:`load` checks the checksum, so a truncated
or corrupt file, or one whose write was interrupted before its sidecar, is detected
(:class:`CorruptArtifact`) and rebuilt by :func:`cached`, never silently used.

The cache may be shared by several processes and users at once. The data file and its sidecar are
written as a pair under a short per-folder lock (``<dir>/.write.lock``), so concurrent writers never
leave one writer's data next to another's checksum; :func:`load` reads without a lock and, only when
the pair does not match, reads it again under that lock before declaring it corrupt. :func:`lock`
is the longer per-artifact lock (``<dir>/.lock``) that :func:`paperlib.train.train_model` and
:func:`paperlib.experiment.evaluate` hold while they compute an entry, so a second run waits for the
first one and then loads its result. ``cache prune`` removes an entry only while it holds that lock
(:func:`try_lock`); a run that was waiting for it then finds its lock file gone, makes the folder (and
its ``config.json``) again and locks it anew. Locks are :mod:`paperlib.locking`'s: ``flock`` on POSIX,
``msvcrt`` on Windows. Files are created with the permissions the umask allows (not
0600), so a group-shared cache stays readable. A cache that cannot be written to (read-only, full)
still serves its valid entries; what has to be computed is kept in memory with a warning
(:func:`try_save`).

The keys of trained models and scores also hold the version of the code and the identity of the
data that produced them (:mod:`paperlib.provenance`), so a change of either gives a new folder and
leaves the old one alone; :mod:`paperlib.inventory` lists the folders (size, age, state, stale or
current) and removes the stale or old ones (``python -m paperlib cache list|prune``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import locking, names

__all__ = [
    "CorruptArtifact",
    "key_of",
    "canonical",
    "save",
    "load",
    "is_valid",
    "cached",
    "artifact_path",
    "artifact_dir",
    "lock",
    "try_lock",
    "is_locked",
    "try_save",
    "is_written",
    "discard",
    "write_atomic",
    "atomic_path",
    "file_sha256",
    "sidecar",
    "KINDS",
]

log = logging.getLogger(__name__)

#: The kinds of artifact folders, ``<root>/<kind>/<key>/`` (listed and pruned by :mod:`paperlib.inventory`).
KINDS = names.ARTIFACT_KINDS


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


def artifact_path(root: Path, kind: str, config: Any) -> Path:
    """``<root>/<kind>/<key_of(config)>``, the folder :func:`artifact_dir` makes, without making it
    (for looking before computing, and for read-only listings)."""
    return Path(root) / kind / key_of(config)


def artifact_dir(root: Path, kind: str, config: Any) -> Path:
    """``<root>/<kind>/<key_of(config)>``, created, with ``config.json`` written once."""
    d = artifact_path(root, kind, config)
    _made[str(d.absolute())] = (root, canonical(config))
    _make_entry(d)
    return d


#: The folders :func:`artifact_dir` made in this process: ``{absolute path: (root, canonical config)}``,
#: so that :func:`lock` can make one again (with its ``config.json``) if it was pruned while we waited.
_made: dict[str, tuple[Path, Any]] = {}


def _make_entry(d: Path) -> None:
    """Make the folder ``d`` and its ``config.json``, if :func:`artifact_dir` named it in this process."""
    root, config = _made.get(str(Path(d).absolute()), (d, None))
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only cache: what it lacks is computed and kept in memory
        _warn_unwritable(root, exc)
        return
    cfg = d / "config.json"
    if config is not None and not is_valid(cfg):
        try_save(cfg, config, root=root)


def sidecar(path: Path) -> Path:
    """The checksum sidecar of an artifact file: ``<file>.sha256`` beside it."""
    return path.with_name(path.name + ".sha256")


def _umask() -> int:
    """The process's umask, read without changing it where the system tells (Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


@contextlib.contextmanager
def atomic_path(path: Path | str):
    """Context manager: a fresh temporary file beside ``path``, renamed to ``path`` when the block ends.

    The temporary file (``.<name>.<random>.tmp`` in the same folder, with the permissions the umask
    allows) is yielded as a :class:`pathlib.Path` for the block to write, by any means (e.g. a
    memory map); if the block raises, it is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            if hasattr(os, "fchmod"):  # not on Windows before Python 3.13 (nor needed there)
                os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; honour the umask like open() does
        finally:
            os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (:func:`atomic_path`), synced to disk.

    No checksum sidecar: for files read by people or other programs (:func:`save` adds one).
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def file_sha256(path: Path | str) -> str:
    """SHA-256 (hex) of a file's bytes, read in 16 MiB chunks (for files too large to hold in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- locks
_held = threading.local()  # lock files this thread holds (flock is per open file: re-entry would deadlock)


def _open_lock_file(lockfile: Path) -> int | None:
    try:  # flock needs no write access: a read-only descriptor of a shared lock file will do
        return os.open(lockfile, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        try:
            return os.open(lockfile, os.O_RDONLY)
        except OSError:
            return None


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open ``fd`` is still the file at ``path`` (not unlinked or replaced since it was opened)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (mine.st_ino, mine.st_dev) == (st.st_ino, st.st_dev)


def _acquire(lockfile: Path, *, shared: bool, blocking: bool, what: str | None, remake) -> int | None | bool:
    """Open ``lockfile`` and lock it: the descriptor, ``None`` where no lock file can be made, ``False``
    where ``blocking`` is off and another holds it. A lock file removed while we waited for it (the entry
    was pruned) is made again, by ``remake``, and locked anew: a lock on a removed file guards nothing."""
    for _ in range(_RELOCK_TRIES):
        fd = _open_lock_file(lockfile)
        if fd is None and remake is not None and not lockfile.parent.exists():  # pruned before we came
            remake()
            fd = _open_lock_file(lockfile)
        if fd is None:
            return None
        try:
            if not locking.lock_fd(fd, shared=shared, blocking=False):
                if not blocking:
                    os.close(fd)
                    return False
                t0 = time.monotonic()
                if what:
                    log.warning("waiting for another process %s (lock %s)", what, lockfile)
                locking.lock_fd(fd, shared=shared)
                if what:
                    log.warning("lock %s acquired after %.1f s", lockfile, time.monotonic() - t0)
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, lockfile):
            return fd
        os.close(fd)  # removed while we waited: make the entry again and lock the new file
        log.warning("%s was removed while we waited for it; making it again", lockfile.parent)
        if remake is not None:
            remake()
    raise OSError(
        f"lock file {lockfile} keeps being removed or replaced ({_RELOCK_TRIES} tries); is something "
        "deleting the cache while it is in use?"
    )


#: How often :func:`lock` makes and locks an entry again that was removed while it waited, before giving up.
_RELOCK_TRIES = 100


@contextlib.contextmanager
def _flock(lockfile: Path, *, shared: bool = False, what: str | None = None, blocking: bool = True, remake=None):
    key = str(Path(lockfile).absolute())
    held = _held.__dict__.setdefault("paths", set())
    if key in held:  # this thread holds it already
        yield True
        return
    fd = _acquire(Path(lockfile), shared=shared, blocking=blocking, what=what, remake=remake)
    if fd is None:  # folder missing or not writable: nobody can write there, nothing to guard
        log.debug("cannot create lock file %s; going on without it", lockfile)
        yield False
        return
    if fd is False:
        yield False
        return
    held.add(key)
    try:
        yield True
    finally:
        held.discard(key)
        with contextlib.suppress(OSError):
            locking.unlock_fd(fd)
        os.close(fd)


def lock(directory: Path | str, *, what: str | None = None):
    """Context manager holding the exclusive per-artifact lock ``<directory>/.lock``.

    Hold it while checking for an artifact, computing it and saving it, so that a second process
    (or user) that needs the same artifact waits, then loads the finished result instead of
    computing it again. Waiting is reported with a logged warning. Where the lock file cannot be
    created (a read-only cache) it goes on without a lock. Re-entrant within one thread.

    Parameters
    ----------
    directory : path-like
        The artifact's folder (:func:`artifact_dir`).
    what : str, optional
        What the lock guards, for the waiting message (e.g. ``"to train <dir>"``).
    """
    d = Path(directory)
    return _flock(d / ".lock", what=what or f"to finish {d}", remake=lambda: _make_entry(d))


def try_lock(directory: Path | str):
    """Context manager: take the lock of :func:`lock` on ``directory`` only if it is free, without waiting.

    Yields whether it is held (False: another process holds it, or no lock file can be made there).
    For removing an entry (``cache prune``) only when nobody computes it: a process that waits for
    the lock meanwhile makes the entry again once it gets it (see :func:`lock`).
    """
    return _flock(Path(directory) / ".lock", blocking=False)


def is_locked(directory: Path | str) -> bool:
    """Whether another process holds the per-artifact lock of :func:`lock` on ``directory`` (e.g. a
    model being trained); takes and releases it at once when it is free. False where there is no lock file."""
    f = Path(directory) / ".lock"
    if not f.exists():
        return False
    try:
        fd = os.open(f, os.O_RDONLY)
    except OSError:
        return False
    try:
        if not locking.lock_fd(fd, blocking=False):
            return True
        locking.unlock_fd(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def _pair_lock(path: Path, shared: bool = False):
    """Short lock under which a file and its checksum sidecar are written (or re-read) together."""
    return _flock(path.parent / ".write.lock", shared=shared)


_warned_roots: set[str] = set()


def _warn_unwritable(root: Path | str, exc: BaseException) -> None:
    if str(root) not in _warned_roots:
        _warned_roots.add(str(root))
        warnings.warn(f"cache {root} is not writable; result kept in memory only ({exc})", stacklevel=3)


def try_save(path: Path | str, obj: Any, *, root: Path | str | None = None) -> bool:
    """:func:`save`, but an unwritable cache (read-only, full) only warns: returns whether it saved.

    The warning (``cache <root> is not writable; result kept in memory only``) is given once per
    ``root`` (default: the file's folder) and process.
    """
    try:
        save(path, obj)
        return True
    except OSError as exc:
        _warn_unwritable(root if root is not None else Path(path).parent, exc)
        return False


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
    digest = hashlib.sha256(data).hexdigest().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Both renames under the folder's write lock: concurrent writers of one path never interleave,
    # so the last writer leaves its own data and checksum. A reader that looks between the two
    # renames sees a pair that does not match (a checksum only vouches for identical bytes) and
    # re-reads under the lock (see _verified_bytes).
    with _pair_lock(path):
        write_atomic(path, data)
        write_atomic(sidecar(path), digest)
    return path


def _read_pair(path: Path) -> tuple[bytes, str | None]:
    data = path.read_bytes()  # FileNotFoundError if absent
    try:
        return data, sidecar(path).read_text().strip()
    except FileNotFoundError:
        return data, None


def _verified_bytes(path: Path) -> bytes:
    data, want = _read_pair(path)
    if want != hashlib.sha256(data).hexdigest():
        # Perhaps a save was between its two renames: read again once no writer holds the pair.
        with _pair_lock(path, shared=True):
            data, want = _read_pair(path)
    if want is None:
        raise CorruptArtifact(f"{path}: no checksum sidecar (interrupted write?)")
    if hashlib.sha256(data).hexdigest() != want:
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

            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
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


def is_written(path: Path | str) -> bool:
    """Whether ``path`` and its checksum sidecar both exist: written in full by :func:`save` (the
    sidecar is renamed into place after the file), without reading either. For listings over many
    large artifacts (``cache list``, ``paperlib status``); what is then loaded is still verified."""
    path = Path(path)
    return path.exists() and sidecar(path).exists()


def discard(path: Path | str) -> None:
    """Remove an artifact and its sidecar if present."""
    path = Path(path)
    with _pair_lock(path):
        for p in (sidecar(path), path):
            p.unlink(missing_ok=True)


def cached(path: Path | str, build: Callable[[], Any]) -> Any:
    """Load ``path`` if it is valid, else ``build()``, save and return it.

    A file that exists but fails its checksum is reported with a warning, deleted and rebuilt. If
    the cache cannot be written to, the result is returned unsaved, with a warning (:func:`try_save`).
    """
    path = Path(path)
    try:
        return load(path)
    except FileNotFoundError:
        pass
    except CorruptArtifact as exc:
        warnings.warn(f"rebuilding corrupt cache entry: {exc}", stacklevel=2)
        with contextlib.suppress(OSError):
            discard(path)
    obj = build()
    try_save(path, obj)
    return obj
