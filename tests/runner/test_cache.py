"""The compilation cache's layers: a program has one key wherever its layer lives.

Each submission's process writes to a private folder of its own (grader.runner.cache), seeded
from the trusted layer; a seeded program only helps if the key it was stored under does
not depend on the folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from grader.runner.cache import jax_cache_environment

COMPILE = "import jax, jax.numpy as jnp; jax.jit(lambda x: x * 2 + 1)(jnp.ones(3))"


def compiled_names(folder: Path) -> set[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **jax_cache_environment(folder)}
    subprocess.run([sys.executable, "-I", "-c", COMPILE], env=env, check=True, timeout=120)
    return {p.name for p in folder.iterdir() if p.name.endswith("-cache")}


def test_a_program_has_the_same_key_in_every_private_folder(tmp_path):
    first = compiled_names(tmp_path / "one")
    second = compiled_names(tmp_path / "two" / "deeper")
    assert first and first == second
