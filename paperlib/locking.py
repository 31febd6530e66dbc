"""Advisory whole-file locks on an open file descriptor, on POSIX (``flock``) and on Windows (``msvcrt``).

:mod:`paperlib.cache` builds its per-artifact and per-folder locks on these two functions, so that it
imports no POSIX-only module. On POSIX :func:`fcntl.flock` gives shared and exclusive locks that a
process holds until it closes the descriptor; Linux NFS clients (v4, v3 with ``lockd``), Lustre
(``-o flock``), GPFS and BeeGFS make them visible on every node. On Windows :func:`msvcrt.locking`
locks the file's first byte; it has no shared mode, so a shared lock is taken exclusively there
(readers of one file then wait for each other, which is only slower), and a blocking lock polls.
"""

from __future__ import annotations

import os
import time

try:  # POSIX
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

__all__ = ["lock_fd", "unlock_fd", "POLL_S"]

#: Seconds between attempts of a blocking lock on Windows (``msvcrt`` has no wait without a retry limit).
POLL_S = 0.05


def lock_fd(fd: int, *, shared: bool = False, blocking: bool = True) -> bool:
    """Lock the whole file open as ``fd``.

    Parameters
    ----------
    fd : int
        An open descriptor (read-only will do).
    shared : bool
        A shared (reader) lock rather than an exclusive one (exclusive on Windows).
    blocking : bool
        Wait until the lock is free; otherwise return at once.

    Returns
    -------
    bool
        Whether the lock is held now (always True when ``blocking``).

    Raises
    ------
    OSError
        If the filesystem refuses locks.
    """
    if fcntl is not None:
        op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, op)
        except BlockingIOError:
            return False
        return True
    while True:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            if not blocking:
                return False
        time.sleep(POLL_S)


def unlock_fd(fd: int) -> None:
    """Release the lock :func:`lock_fd` took on ``fd`` (closing ``fd`` releases it too, on POSIX)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    os.lseek(fd, 0, os.SEEK_SET)  # pragma: no cover - Windows
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # pragma: no cover - Windows
