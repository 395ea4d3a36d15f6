"""Uids of their own: each submission runs under a uid no other submission uses meanwhile.

Only a root grader can do this. A uid of its own is what lets the kernel keep
submissions apart without namespaces: the files of another submission's uid stay
closed (its staged folder is 0700), RLIMIT_NPROC bounds the submission's processes,
and every process of the uid can be found and killed, so nothing a submission starts
outlives it. A slot is held by an exclusive lock on a file in a folder only root can
enter; a grader that dies drops its locks with it, and the next holder of the slot
first kills whatever the uid left behind and removes the files it left in the shared
temporary folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path

from grader.runner.sandbox import processes

ENV_BASE = "DIFFLEARN_UID_BASE"
DEFAULT_BASE = 1_900_000  # far above any account's uid, and below 2**31
SLOTS = 256
SHARED_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")


class NoSlot(RuntimeError):
    """Every uid of the range is in use."""


class Account:
    """A uid (and a gid of the same number) held for one submission."""

    def __init__(self, uid: int, lock_fd: int):
        self.uid = uid
        self.gid = uid
        self._lock_fd = lock_fd

    def kill_all(self, rounds: int = 50) -> bool:
        """Kills every process of the uid; whether none was left."""
        # Round after round: a process may fork between the look and the kill, but a
        # killed one forks no more, and RLIMIT_NPROC bounds how many there can be.
        for _ in range(rounds):
            found = processes.pids(uid=self.uid)
            if not found:
                return True
            for pid in found:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        return not processes.pids(uid=self.uid)

    def sweep(self) -> None:
        """Removes what the uid left at the top of the shared temporary folders."""
        for folder in SHARED_TEMPORARY:
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        if entry.stat(follow_symlinks=False).st_uid != self.uid:
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            shutil.rmtree(entry.path, ignore_errors=True)
                        else:
                            os.unlink(entry.path)

    def release(self) -> None:
        """Kills what is left, sweeps, and gives the slot back."""
        self.kill_all()
        self.sweep()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def acquire() -> Account:
    """A free uid, cleared of anything an earlier holder left; NoSlot if none is free."""
    folder = _lock_folder()
    base = int(os.environ.get(ENV_BASE, DEFAULT_BASE))
    for uid in range(base, base + SLOTS):
        fd = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        account = Account(uid, fd)
        account.kill_all()
        account.sweep()
        return account
    raise NoSlot(f"all {SLOTS} uids from {base} are in use")


def _lock_folder() -> Path:
    """A folder only root can enter: a submission must not be able to hold a slot's lock."""
    for parent in ("/run", tempfile.gettempdir()):
        folder = Path(parent) / "difflearn-uids"
        with contextlib.suppress(FileExistsError, OSError):
            folder.mkdir(mode=0o700)
        try:
            info = os.lstat(folder)
        except OSError:
            continue
        # Anything else there (a link, a folder a submission made) is not ours to trust.
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and info.st_mode & 0o077 == 0:
            return folder
    raise NoSlot("no folder for the uid locks: /run/difflearn-uids is not root's own")
