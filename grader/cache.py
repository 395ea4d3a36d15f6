"""JAX's persistent compilation cache, in folders of difflearn's own.

Most of a grade's time is XLA compiling the same small programs again, so both
processes keep compiled programs on disk. The reference and the submissions
use separate folders: the grading process never loads a program that a
submission's process wrote.

`DIFFLEARN_CACHE_DIR` sets the base folder (default: `$XDG_CACHE_HOME/difflearn`
or `~/.cache/difflearn`); `DIFFLEARN_CACHE_DIR=off` turns the cache off.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "DIFFLEARN_CACHE_DIR"
REFERENCE = "reference"
SUBMISSIONS = "submissions"


def cache_dir(role: str) -> Path | None:
    """The cache folder for `role` (REFERENCE or SUBMISSIONS), created; None if off or unusable."""
    value = os.environ.get(ENV_VAR, "")
    if value.lower() == "off":
        return None
    if value:
        base = Path(value)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "difflearn"
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
    }


def enable_in_this_process(folder: Path | None) -> None:
    """Makes this process's JAX cache every compilation in `folder`."""
    if folder is None:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
