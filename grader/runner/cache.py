"""JAX's persistent compilation cache, in folders of difflearn's own.

Most of a grade's time is XLA compiling the same small programs again, so compiled
programs are kept on disk. A cached program is trusted blindly by whoever loads it,
so no folder is ever shared writable between submissions:

- the grading process's own folder (REFERENCE) is never visible to a child;
- the trusted layer (CHILDREN) holds the programs a child compiles when it runs the
  reference solutions (a warm-up, once per course version); children read it only;
- each submission's process seeds a private layer from the trusted one when it
  starts, writes there, and the layer is thrown away with it (grader.runner.process).

A student copy has no reference to warm with: there the student's own cache
(SUBMISSIONS) is used as it is, since the student grades only their own work.

`DIFFLEARN_CACHE_DIR` sets the base folder (default: `$XDG_CACHE_HOME/difflearn`
or `~/.cache/difflearn`); `DIFFLEARN_CACHE_DIR=off` turns the cache off.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from grader.runner.sandbox import bubblewrap

if TYPE_CHECKING:
    from grader.runner.sandbox import Jail

ENV_VAR = "DIFFLEARN_CACHE_DIR"
REFERENCE = "reference"
CHILDREN = "children"
SUBMISSIONS = "submissions"
SEED_ENV = "DIFFLEARN_CACHE_SEED"
LAYOUT = "keys-without-paths"  # part of a warm layer's version: a new layout warms again


def cache_base() -> Path | None:
    """The folder of difflearn's caches; None if they are off."""
    value = os.environ.get(ENV_VAR, "")
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "difflearn"


def cache_dir(role: str) -> Path | None:
    """The cache folder for `role` (REFERENCE, CHILDREN or SUBMISSIONS), created; None if
    off or unusable."""
    base = cache_base()
    if base is None:
        return None
    folder = base / f"jax-{role}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def jax_cache_environment(folder: Path | None) -> dict[str, str]:
    """Environment variables that make a new JAX process use `folder` for every compilation."""
    if folder is None:
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": str(folder),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
        # XLA's own caches live below the cache folder, and their paths enter every key:
        # off, a program has the same key in every submission's private folder.
        "JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES": "none",
    }


def library_versions() -> tuple[str, ...]:
    """The versions of what compiles and computes (JAX, jaxlib, NumPy), read from their
    installed metadata rather than by importing them: part of every cache's version."""
    versions = []
    for name in ("jax", "jaxlib", "numpy"):
        try:
            versions.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return tuple(versions)


def enable_in_this_process(folder: Path | None) -> None:
    """Makes this process's JAX cache every compilation in `folder`."""
    if folder is None:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_persistent_cache_enable_xla_caches", "none")


@dataclass(frozen=True)
class ChildCache:
    """The compilation cache of a submission's process.

    Attributes:
      seed: the trusted layer, read-only; copied into the private layer at start.
      shared: a folder used as it is, read and written (a student copy's own cache).
      promote: whether the private layer's programs join the trusted layer afterwards:
        only for a warm-up, where the child runs the reference solutions.
    """

    seed: Path | None = None
    shared: Path | None = None
    promote: bool = False

    def prepare(self, jail: Jail) -> None:
        """Copies the trusted layer into the jail, where only the submission's uid reads it
        (the grader's cache folders stay closed to every child)."""
        if self.seed is not None and self.shared is None:
            for path in _entries(self.seed):
                if not path.name.startswith("."):
                    jail.stage_seed(path.name, path.read_bytes())

    def environment(self, jail: Jail, bwrapped: bool) -> dict[str, str]:
        """The child's variables: its cache folder, and the seed, as the child sees them."""
        if self.shared is not None:
            return jax_cache_environment(Path(bubblewrap.CACHE) if bwrapped else self.shared)
        env = jax_cache_environment(Path(bubblewrap.CACHE) if bwrapped else jail.cache)
        if self.seed is not None:
            env[SEED_ENV] = bubblewrap.SEED if bwrapped else str(jail.seed)
        return env

    def writable(self, jail: Jail) -> Path | None:
        """The host folder a bubblewrapped child writes its cache to, if any (otherwise
        the private layer lives in its bounded /tmp and vanishes with it)."""
        if self.shared is not None:
            return self.shared
        return jail.cache if self.promote else None

    def finish(self, jail: Jail) -> None:
        """After a warm-up: the programs the reference's run compiled join the seed."""
        if self.promote and self.seed is not None:
            for path in _entries(jail.cache):
                target = self.seed / path.name
                if not target.exists():
                    _copy_atomically(path, target)


def _entries(folder: Path) -> Iterator[Path]:
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            if path.is_file() and not path.is_symlink():
                yield path


def _copy_atomically(source: Path, target: Path) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


def course_version(files: list[Path], *extra: str) -> str:
    """A hash of what a warm trusted layer depends on: the course's files and versions."""
    digest = hashlib.sha256()
    for item in extra:
        digest.update(item.encode() + b"\0")
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def warm_lock(folder: Path) -> Iterator[None]:
    """Held while a warm-up fills `folder`, so parallel workers warm it once."""
    with open(folder / ".warm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
