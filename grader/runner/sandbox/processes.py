"""What a submission's processes use, read from /proc by the grading process.

Without a cgroup, this is how the grader measures a submission's whole process tree:
the processes of its own uid, or else the descendants of its first process. CPU time
counts what each live process used plus what its reaped children used, so a child
that forks workers cannot hide their time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Usage:
    """What a set of processes uses now.

    Attributes:
      cpu_s: CPU seconds, user and system, including reaped children's.
      memory_bytes: resident memory, summed over the processes.
    """

    cpu_s: float
    memory_bytes: int


@dataclass(frozen=True)
class _Stat:
    pid: int
    state: bytes
    ppid: int
    uid: int
    cpu_ticks: int
    rss_pages: int


def _processes() -> Iterator[_Stat]:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as file:
                data = file.read()
            # The real uid, from status: /proc/PID's owner turns root when a process makes
            # itself undumpable.
            with open(f"/proc/{entry.name}/status", "rb") as file:
                status = file.read()
            uid = int(status[status.index(b"\nUid:") + 5 :].split()[0])
        except (OSError, ValueError):
            continue  # it ended while we looked
        # The command name is in parentheses and may hold anything, parentheses too.
        fields = data[data.rindex(b")") + 2 :].split()
        yield _Stat(
            pid=int(entry.name),
            state=fields[0],
            ppid=int(fields[1]),
            uid=uid,
            cpu_ticks=sum(int(f) for f in fields[11:15]),
            rss_pages=int(fields[21]),
        )


def select(root: int | None = None, uid: int | None = None) -> list[_Stat]:
    """The processes of `uid`, or else `root` and its descendants."""
    everything = list(_processes())
    if uid is not None:
        return [p for p in everything if p.uid == uid]
    children: dict[int, list[_Stat]] = {}
    for process in everything:
        children.setdefault(process.ppid, []).append(process)
    chosen = [p for p in everything if p.pid == root]
    for process in chosen:  # grows while it is walked: a breadth-first walk
        chosen.extend(children.get(process.pid, []))
    return chosen


def usage(root: int | None = None, uid: int | None = None) -> Usage:
    """What the processes of `uid` (or `root`'s tree) use."""
    chosen = select(root, uid)
    return Usage(
        cpu_s=sum(p.cpu_ticks for p in chosen) / _TICKS,
        memory_bytes=sum(p.rss_pages for p in chosen) * _PAGE,
    )


def pids(root: int | None = None, uid: int | None = None) -> list[int]:
    """The live processes (zombies wait only for their parent to reap them)."""
    return [p.pid for p in select(root, uid) if p.state != b"Z"]


def any_stopped(pids: list[int]) -> bool:
    """Whether one of `pids` is stopped (SIGSTOP) or traced: it would wait forever."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as file:
                data = file.read()
        except OSError:
            continue
        if data[data.rindex(b")") + 2 :].split()[0] in (b"T", b"t"):
            return True
    return False
