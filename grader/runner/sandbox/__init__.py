"""Confinement of a submission's processes, as strong as the machine allows.

Three modes, chosen once per grading run (`DIFFLEARN_SANDBOX` forces one; see README.md
beside this file for what each promises):

- `bubblewrap`: the child sees only its staged files, the Python runtime and the
  grader, in new user, mount, PID, IPC, UTS and network namespaces, as an
  unprivileged uid, with private size-bounded `/tmp` and `/dev/shm`.
- `user`: root without bubblewrap (most Docker containers): the child runs under a
  uid of its own; the grader closes what it hides to other users itself.
- `none`: the child runs as the grading user (a student's own laptop).

`Jail` is one submission's confinement for its lifetime: its uid, its cgroup or
process bound, its private folders, the command line and the accounting the time
and memory limits read.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

from grader.errors import UsageError
from grader.runner.sandbox import accounts, bubblewrap, cgroups, processes
from grader.runner.sandbox.processes import Usage

ENV_VAR = "DIFFLEARN_SANDBOX"
LAUNCHER = """\
import json, os, resource, sys
config = json.loads(sys.argv[1])
for fd in config["cgroup_fds"]:
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
for name, value in config["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
uid = config["uid"]
if uid is not None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
os.execv(sys.argv[2], sys.argv[2:])
"""
Mode = Literal["bubblewrap", "user", "none"]
MODES: tuple[Mode, ...] = get_args(Mode)


@dataclass(frozen=True)
class Sandbox:
    """How this run confines submissions.

    Attributes:
      mode: what the child sees and runs as (see the module's doc).
      why: where a stronger mode was not used, the reason ('' otherwise).
      uids: whether each submission gets a uid of its own (the grader is root).
      cgroups: whether a cgroup per submission can be made here.
    """

    mode: Mode
    why: str = ""
    uids: bool = False
    cgroups: bool = False

    @property
    def description(self) -> str:
        """For reports: the mode, why not a stronger one, and how a tree is bounded."""
        mode = f"{self.mode} ({self.why})" if self.why else self.mode
        bound = "a cgroup" if self.cgroups else "no cgroup (per-process limits)"
        return f"{mode}; {bound} per submission"


@dataclass(frozen=True)
class JailLimits:
    """What one submission may spend, whole process tree included.

    Attributes:
      memory_mb: resident memory of all its processes (and of its tmpfs files).
      processes: processes and threads at once.
      cpu_s: CPU seconds for the submission's whole run, a backstop (RLIMIT_CPU);
        each request's own limit is enforced by the grading process.
      tmp_mb: size of the private /tmp and /dev/shm (bubblewrap).
      file_mb: the largest file it may write (RLIMIT_FSIZE).
    """

    memory_mb: int
    processes: int = 512
    cpu_s: int = 3600
    tmp_mb: int = 256
    file_mb: int = 16


@functools.cache
def current_sandbox() -> Sandbox:
    """The sandbox for this run: DIFFLEARN_SANDBOX, or the strongest that works here."""
    chosen = _choose()
    probe = cgroups.create(64 * 1024 * 1024, 8)
    if probe is not None:
        probe.remove()
    return replace(chosen, cgroups=probe is not None)


def _choose() -> Sandbox:
    wanted = os.environ.get(ENV_VAR, "auto")
    if wanted not in (*MODES, "auto"):
        raise UsageError(f"{ENV_VAR}={wanted!r}: expected auto, {', '.join(MODES)}")
    root = os.geteuid() == 0
    # A uid of its own per submission needs root, and a Python other users can run.
    unreachable = _python_unreachable() if root else ""
    uids = root and not unreachable
    problem = ""
    if wanted in ("auto", "bubblewrap"):  # a forced weaker mode needs no try of bwrap
        problem = _bubblewrap_problem(uids)
    if wanted == "bubblewrap" and problem:
        raise UsageError(f"{ENV_VAR}=bubblewrap, but bubblewrap cannot run here: {problem}")
    if wanted in ("auto", "bubblewrap") and not problem:
        return Sandbox(
            "bubblewrap", why=unreachable and f"no uid of its own: {unreachable}", uids=uids
        )
    forced = f"forced by {ENV_VAR}" if wanted != "auto" else ""
    if wanted == "user" and not root:
        raise UsageError(f"{ENV_VAR}=user needs the grader to run as root")
    if wanted == "user" and unreachable:
        raise UsageError(f"{ENV_VAR}=user, but {unreachable}")
    if wanted in ("auto", "user") and uids:
        return Sandbox("user", why=forced or problem, uids=True)
    if root and wanted == "auto":
        # Children would run as root: refuse rather than fall back silently.
        raise UsageError(
            f"as root, grading needs bubblewrap or a uid of its own per submission: "
            f"{problem}; and {unreachable}. Install bubblewrap, or set "
            f"{ENV_VAR}=none to run submissions as root, unconfined"
        )
    why = forced or "; ".join(filter(None, [problem, unreachable]))
    return Sandbox("none", why=why)


def _bubblewrap_problem(uids: bool) -> str:
    """Why bwrap cannot run here, tried as a submission's uid where there is one."""
    if not uids:
        return bubblewrap.problem()
    account = accounts.acquire()  # held while bwrap is tried as its uid
    try:
        return bubblewrap.problem(uid=account.uid)
    finally:
        account.release()


def _python_unreachable() -> str:
    """Why another uid could not run this Python and the grader ('' if it can)."""
    import grader

    for path, bit in ((Path(sys.executable), stat.S_IXOTH), (Path(grader.__file__), stat.S_IROTH)):
        path = path.resolve()
        if not all(p.stat().st_mode & stat.S_IXOTH for p in path.parents):
            return (
                f"other users cannot reach {path}: a folder on its way is closed "
                "(install Python where other users can run it, or chmod o+x that folder)"
            )
        if not path.stat().st_mode & bit:
            return f"other users cannot use {path}"
    return ""


class Jail:
    """One submission's confinement: made before its first process, closed after its last.

    The grading process stages the submission in `submission` (read-only to the
    child), the child writes to `cache` (its private compilation cache layer) and to
    its temporary folders; everything is removed at `close`.
    """

    def __init__(self, sandbox: Sandbox, limits: JailLimits, hidden: Sequence[Path] = ()):
        self.sandbox = sandbox
        self.limits = limits
        self.hidden = tuple(Path(h) for h in hidden)
        self.account = accounts.acquire() if sandbox.uids else None
        self.cgroup: cgroups.Cgroup | None = None
        self._folder = Path(tempfile.mkdtemp(prefix="difflearn-"))
        self.submission = self._folder / "submission"
        self.seed = self._folder / "seed"
        self.cache = self._folder / "cache"
        self.home = self._folder / "home"
        for folder in (self.submission, self.seed, self.cache, self.home):
            folder.mkdir()
        if self.account is not None:
            # Only the submission's uid may enter; its staged files are root's, read-only.
            os.chmod(self._folder, 0o711)
            for folder in (self.cache, self.home):
                os.chown(folder, self.account.uid, self.account.gid)
                os.chmod(folder, 0o700)
            for folder in (self.submission, self.seed):
                os.chown(folder, 0, self.account.gid)
                os.chmod(folder, 0o750)
            if sandbox.mode == "user":
                close_to_others(self.hidden)

    def stage(self, files: dict[str, bytes]) -> None:
        """Writes the submission's modules, read-only to the child."""
        for name, data in files.items():
            self._write(self.submission / name, data)

    def stage_seed(self, name: str, data: bytes) -> None:
        """Writes one trusted compiled program, read-only to the child."""
        self._write(self.seed / name, data)

    def _write(self, path: Path, data: bytes) -> None:
        path.write_bytes(data)
        os.chmod(path, 0o644 if self.account is None else 0o640)
        if self.account is not None:
            os.chown(path, 0, self.account.gid)

    def command(
        self, argv: Sequence[str], grader_package: Path, writable_cache: Path | None
    ) -> list[str]:
        """The command line that runs `argv` confined (the grader's paths already in it);
        `writable_cache` is a host folder a bubblewrapped child keeps its cache in."""
        if self.sandbox.mode != "bubblewrap":
            return list(argv)
        return bubblewrap.command(
            argv,
            submission=self.submission,
            cache=writable_cache,
            grader_package=grader_package,
            seed=self.seed,
            hidden=self.hidden,
            tmp_mb=self.limits.tmp_mb,
        )

    def environment(self) -> dict[str, str]:
        """Where the child writes, as it sees the paths."""
        if self.sandbox.mode == "bubblewrap":
            return {"HOME": "/tmp", "TMPDIR": "/tmp"}
        return {"HOME": str(self.home), "TMPDIR": str(self.home)}

    def launch(self, argv: Sequence[str]) -> tuple[list[str], tuple[int, ...]]:
        """The command line that starts `argv` inside the submission's bounds, and the file
        descriptors it needs passed. A small launcher of its own enters the cgroup, sets
        the limits and drops root before it execs `argv`: doing it between fork and exec
        in this process (which has JAX's threads) could deadlock."""
        if self.cgroup is None:
            mb = 1024 * 1024
            self.cgroup = cgroups.create(self.limits.memory_mb * mb, self.limits.processes)
        fds = self.cgroup.join_fds() if self.cgroup is not None else []
        limits = self.limits
        rlimits = {
            "RLIMIT_AS": limits.memory_mb * 1024 * 1024,
            "RLIMIT_CPU": limits.cpu_s,
            "RLIMIT_FSIZE": limits.file_mb * 1024 * 1024,
            "RLIMIT_CORE": 0,
        }
        if self.account is not None:
            # Counted per uid: a fork bomb stops here even without a cgroup.
            rlimits["RLIMIT_NPROC"] = limits.processes
        config = {
            "cgroup_fds": fds,
            "rlimits": rlimits,
            "uid": self.account.uid if self.account is not None else None,
        }
        launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(config)]
        return [*launcher, *argv], tuple(fds)

    def usage(self, pid: int) -> Usage:
        """What the submission's whole process tree uses now (`pid`: its first process)."""
        if self.cgroup is not None:
            with contextlib.suppress(OSError, ValueError):
                return Usage(cpu_s=self.cgroup.cpu_s(), memory_bytes=self.cgroup.memory_bytes())
        if self.account is not None:
            return processes.usage(uid=self.account.uid)
        return processes.usage(root=pid)

    def stopped(self, pid: int) -> bool:
        """Whether a process of the submission is stopped (it would wait forever)."""
        if self.cgroup is not None:
            found = self.cgroup.pids()
        elif self.account is not None:
            found = processes.pids(uid=self.account.uid)
        else:
            found = processes.pids(root=pid)
        return processes.any_stopped(found)

    def kill(self, pid: int | None) -> None:
        """Kills every process of the submission, `pid` (its first) and what it started."""
        if pid is not None:
            for found in [pid, *processes.pids(root=pid)]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(found, 9)
        if self.cgroup is not None:
            self.cgroup.kill()
        if self.account is not None:
            self.account.kill_all()

    def close(self) -> None:
        self.kill(None)
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.account is not None:
            self.account.release()
            self.account = None
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Jail:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def close_to_others(folders: Sequence[Path]) -> None:
    """Takes other users' access to `folders` away, except on the way to what the child
    needs (Python, the grader): there, folders stay passable but not listable, and
    their other entries are closed one by one."""
    keep = [p.resolve() for p in bubblewrap.runtime_folders()]
    for folder in folders:
        folder = folder.resolve()
        if len(folder.parts) < 3:
            # "/" or a top-level folder (/tmp, /usr, /home): closing it would lock every
            # other user out of the system; what is hidden must lie deeper.
            raise UsageError(
                f"refusing to close {folder} to other users, as the user sandbox would: "
                "it is a top-level folder; keep the course and submissions deeper"
            )
        _close(folder, keep)


def _close(folder: Path, keep: list[Path]) -> None:
    with contextlib.suppress(OSError):
        mode = folder.lstat().st_mode
        if stat.S_ISLNK(mode):
            return
        if any(folder == k or folder.is_relative_to(k) for k in keep):
            return
        if not any(k.is_relative_to(folder) for k in keep):
            os.chmod(folder, stat.S_IMODE(mode) & ~0o007)
            return
        os.chmod(folder, (stat.S_IMODE(mode) & ~0o007) | 0o001)
        for entry in folder.iterdir():
            _close(entry, keep)
