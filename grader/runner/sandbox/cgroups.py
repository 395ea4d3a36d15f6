"""A cgroup per submission, where the grader may make them: one bound for a whole tree.

Limits per process (RLIMIT_AS) let three forks hold three times the memory; a cgroup
counts the submission's whole process tree, the files it writes to a tmpfs included,
and its processes, and gives each submission an equal share of the CPU when the
machine is busy. Its CPU counter is what the time limits read.

Both cgroup versions are supported: v2 (`memory.max`, `pids.max`, `cpu.stat`,
`cgroup.kill`) and v1 with one hierarchy per controller (`memory.limit_in_bytes`,
`pids.max`, `cpuacct.usage`). A cgroup is made below the grading process's own, so
it works in a container with a writable cgroup file system (Docker's `--privileged`
or a delegated subtree). Where any step fails, `create` returns None and the grader
falls back to per-process limits (see the package's README).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
_names = itertools.count()


@dataclass
class Cgroup:
    """One submission's cgroup: `folders` are its directories (one per v1 hierarchy)."""

    version: int
    folders: dict[str, Path]  # controller (or "unified") -> its folder
    _join_fds: list[int] = field(default_factory=list)

    def join_fds(self) -> list[int]:
        """Its `cgroup.procs` files, opened for a new process to write its pid to (it may
        have dropped root by then); closed here once it has started (`started`)."""
        self.started()
        self._join_fds = [
            os.open(folder / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
            for folder in dict.fromkeys(self.folders.values())
        ]
        return self._join_fds

    def started(self) -> None:
        for fd in self._join_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._join_fds = []

    def cpu_s(self) -> float:
        if self.version == 2:
            for line in _read(self.folders["unified"] / "cpu.stat").splitlines():
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
            return 0.0
        return int(_read(self.folders["cpuacct"] / "cpuacct.usage")) / 1e9

    def memory_bytes(self) -> int:
        if self.version == 2:
            return int(_read(self.folders["unified"] / "memory.current"))
        return int(_read(self.folders["memory"] / "memory.usage_in_bytes"))

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.folders.values():
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in _read(folder / "cgroup.procs").split())
        return sorted(found)

    def kill(self, rounds: int = 100) -> None:
        """Kills every process in the cgroup."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.folders["unified"] / "cgroup.kill").write_text("1")
        for _ in range(rounds):
            found = self.pids()
            if not found:
                return
            for pid in found:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        self.started()
        for folder in dict.fromkeys(self.folders.values()):
            for _ in range(50):  # the last processes may take a moment to leave
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def create(memory_bytes: int, processes: int) -> Cgroup | None:
    """A new cgroup with these bounds below this process's own; None where none can be
    made (not root, no writable cgroup file system, a controller missing)."""
    if os.geteuid() != 0:
        return None
    name = f"difflearn-{os.getpid()}-{next(_names)}"
    made: list[Path] = []
    try:
        if (ROOT / "cgroup.controllers").is_file():
            group = _create_v2(name, made)
        else:
            group = _create_v1(name, made)
        _limit(group, memory_bytes, processes)
        return group
    except (OSError, ValueError, KeyError):
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        return None


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per hierarchy ('' for v2), from /proc/self/cgroup."""
    paths = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _create_v2(name: str, made: list[Path]) -> Cgroup:
    parent = ROOT / _own_paths()[""].lstrip("/")
    enabled = _read(parent / "cgroup.subtree_control").split()
    missing = [c for c in ("memory", "pids") if c not in enabled]
    if missing:
        # Enabling a controller fails while the parent itself holds processes; the grader
        # does not move processes it does not own, so this is where v2 gives up.
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
    folder = parent / name
    folder.mkdir()
    made.append(folder)
    return Cgroup(version=2, folders={"unified": folder})


def _create_v1(name: str, made: list[Path]) -> Cgroup:
    own = _own_paths()
    folders: dict[str, Path] = {}
    # `cpu` is optional: a cgroup of its own gives the submission an equal share of the
    # CPU (the default cpu.shares) against the other submissions.
    for controller in ("memory", "pids", "cpuacct", "cpu"):
        mount = ROOT / controller
        if not mount.is_dir():
            mount = next(p for p in ROOT.iterdir() if controller in p.name.split(","))
        folder = mount / own[controller].lstrip("/") / name
        if folder in folders.values():
            continue  # cpu and cpuacct mounted together
        try:
            folder.mkdir()
        except OSError:
            if controller == "cpu":
                break
            raise
        made.append(folder)
        folders[controller] = folder
    return Cgroup(version=1, folders=folders)


def _limit(group: Cgroup, memory_bytes: int, processes: int) -> None:
    if group.version == 2:
        folder = group.folders["unified"]
        (folder / "memory.max").write_text(str(memory_bytes))
        with contextlib.suppress(OSError):  # no swap on many machines
            (folder / "memory.swap.max").write_text("0")
        (folder / "pids.max").write_text(str(processes))
        return
    (group.folders["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
    (group.folders["pids"] / "pids.max").write_text(str(processes))


def _read(path: Path) -> str:
    return path.read_text()
