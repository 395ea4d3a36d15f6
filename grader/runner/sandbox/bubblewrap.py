"""The bubblewrap command line: what a submission's process sees.

Nothing of the host's file system is there unless named here: the system's programs and
libraries (`/usr` and its links), a few files of `/etc` that programs read to start
(never `shadow`), the Python runtime and its packages, the grader's own package, the
CPU's description in `/sys`, and the submission's own staged folder. Folders to hide
that lie inside one of those (a course folder holding its virtual environment) are
covered again by empty ones. Its `/tmp` and `/dev/shm` are private tmpfs mounts of a
bounded size; it runs in new user, PID, IPC, UTS and network namespaces, as uid 65534
inside, with every capability dropped, and dies with the grading process.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

# Fixed places inside the sandbox: the child learns nothing of the host's layout.
SUBMISSION = "/opt/difflearn/submission"
SEED = "/opt/difflearn/cache-seed"
CACHE = "/tmp/jax-cache"
INSIDE_UID = 65534
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
)
SYS = ("/sys/devices/system/cpu",)


def runtime_folders() -> list[Path]:
    """What the child needs to run: Python and its packages, and the grader's package."""
    import grader

    folders = {Path(sys.prefix), Path(sys.base_prefix), Path(grader.__file__).parent}
    folders.update(Path(p) for p in site.getsitepackages())
    folders.add(Path(sys.executable).resolve().parent.parent)
    return sorted(f for f in folders if f.exists())


def command(
    argv: Sequence[str],
    *,
    submission: Path,
    cache: Path | None,
    grader_package: Path,
    seed: Path | None,
    hidden: Sequence[Path],
    tmp_mb: int,
) -> list[str]:
    """The bwrap command line that runs `argv` with the view above.

    `cache`, where given, is a host folder bound writable at CACHE (a run that fills the
    trusted layer); otherwise CACHE lives in the private /tmp."""
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [
        bwrap, "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--unshare-user", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID),
        "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts",
        "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev",
    ]  # fmt: skip
    for path in SYSTEM:
        if Path(path).is_symlink():
            args += ["--symlink", str(Path(path).readlink()), path]
        elif Path(path).is_dir():
            args += ["--ro-bind", path, path]
    for path in (*ETC, *SYS):
        if Path(path).exists():
            args += ["--ro-bind", path, path]
    # The private temporary folders first: a runtime folder under /tmp (a grader in a
    # student copy there) is bound on top of them.
    size = str(tmp_mb * 1024 * 1024)
    args += ["--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm"]
    shown = [p.resolve() for p in runtime_folders()]
    shown.append(grader_package.resolve())
    for folder in sorted(set(shown)):
        args += ["--ro-bind", str(folder), str(folder)]
    for folder in hidden:
        folder = folder.resolve()
        if any(folder.is_relative_to(s) for s in shown):
            args += ["--tmpfs", str(folder)]
            # What the child needs inside a hidden folder comes back, read-only.
            for inner in shown:
                if inner.is_relative_to(folder):
                    args += ["--ro-bind", str(inner), str(inner)]
    args += ["--ro-bind", str(submission), SUBMISSION]
    if seed is not None and seed.is_dir():
        args += ["--ro-bind", str(seed), SEED]
    if cache is not None:
        args += ["--bind", str(cache), CACHE]
    args += ["--chdir", "/tmp", "--", *argv]
    return args


def problem(uid: int | None = None) -> str:
    """Why bubblewrap cannot run here ('' if it can), tried as `uid` where given."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)  # for `uid` to bind it
        probe = command(
            ["true"],
            submission=Path(folder),
            cache=None,
            grader_package=Path(folder),
            seed=None,
            hidden=(),
            tmp_mb=1,
        )
        options = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
        try:
            run = subprocess.run(probe, capture_output=True, timeout=30, check=False, **options)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bwrap failed to start ({error})"
    if run.returncode != 0:
        said = run.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap cannot make its namespaces here ({said[-1] if said else run.returncode})"
    return ""
