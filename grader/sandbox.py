"""Confinement of a submission's process, as strong as the machine allows.

Three modes, chosen once per grading run (`DIFFLEARN_SANDBOX` overrides the choice):

- `bubblewrap`: the child runs under bwrap in new mount, PID, IPC and network
  namespaces with every capability dropped. The file system is read-only; the
  course folder (solutions/, course.yml, .git) and the reference's compilation
  cache are hidden under empty tmpfs mounts; only its own working folder and the
  submissions' compilation cache are writable. It cannot see the grading process
  or outlive it.
- `user`: without bwrap but as root, the child runs as the unprivileged user
  `nobody`; files that are not readable by others (chmod go-rwx) stay hidden.
- `none`: the child runs as the grading user (a student's own laptop).
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import UsageError

ENV_VAR = "DIFFLEARN_SANDBOX"
MODES = ("bubblewrap", "user", "none")
UNPRIVILEGED_USER = "nobody"


@dataclass(frozen=True)
class Sandbox:
    mode: str

    def wrap(
        self,
        command: Sequence[str],
        *,
        workdir: Path,
        writable: Sequence[Path] = (),
        hidden: Sequence[Path] = (),
        visible: Sequence[Path] = (),
    ) -> list[str]:
        """The command line that runs `command` confined.

        `hidden` folders are covered by empty ones, then `visible` folders (inside
        hidden ones, such as the grader's own package) are shown again, read-only.
        """
        if self.mode != "bubblewrap":
            return list(command)
        bwrap = shutil.which("bwrap") or "bwrap"
        args = [
            bwrap, "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        ]  # fmt: skip
        for folder in hidden:
            if folder.exists():
                args += ["--tmpfs", str(folder.resolve())]
        # /tmp is covered too (by an empty tmpfs): a grader installed there must reappear.
        covered = [Path("/tmp").resolve(), *(folder.resolve() for folder in hidden)]
        for folder in visible:
            if any(folder.resolve().is_relative_to(h) for h in covered):
                args += ["--ro-bind", str(folder.resolve()), str(folder.resolve())]
        for folder in (workdir, *writable):
            args += ["--bind", str(folder.resolve()), str(folder.resolve())]
        args += ["--chdir", str(workdir.resolve()), "--", *command]
        return args

    def popen_options(self) -> dict[str, Any]:
        """Extra arguments for subprocess.Popen: the user to run as, where that applies."""
        if self.mode != "user":
            return {}
        nobody = pwd.getpwnam(UNPRIVILEGED_USER)
        return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def grant(self, path: Path) -> None:
        """Makes a folder the child writes to usable by the user it runs as."""
        if self.mode == "user":
            nobody = pwd.getpwnam(UNPRIVILEGED_USER)
            for root, folders, files in os.walk(path):
                for name in [root, *(os.path.join(root, f) for f in folders + files)]:
                    os.chown(name, nobody.pw_uid, nobody.pw_gid)


@functools.cache
def current_sandbox() -> Sandbox:
    """The sandbox for this run: DIFFLEARN_SANDBOX, or the strongest that works here."""
    wanted = os.environ.get(ENV_VAR, "auto")
    if wanted in MODES:
        return Sandbox(wanted)
    if wanted != "auto":
        raise UsageError(f"{ENV_VAR}={wanted!r}: expected auto, {', '.join(MODES)}")
    if _bubblewrap_works():
        return Sandbox("bubblewrap")
    if os.geteuid() == 0 and _user_exists(UNPRIVILEGED_USER) and _others_can_run_python():
        return Sandbox("user")
    return Sandbox("none")


def _bubblewrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory() as workdir:
        probe = Sandbox("bubblewrap").wrap(["true"], workdir=Path(workdir))
        try:
            run = subprocess.run(probe, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return run.returncode == 0


def _others_can_run_python() -> bool:
    """Whether a user other than the owner may run this Python and read the grader."""
    import grader

    def reachable(path: Path, bit: int) -> bool:
        path = path.resolve()
        folders_open = all(p.stat().st_mode & stat.S_IXOTH for p in path.parents)
        return folders_open and bool(path.stat().st_mode & bit)

    return reachable(Path(sys.executable), stat.S_IXOTH) and reachable(
        Path(grader.__file__), stat.S_IROTH
    )


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
