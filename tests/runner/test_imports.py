"""What a submission's process imports: JAX, NumPy and grader.runner, nothing else of the
grader (the course, the checks, the reference) and none of its other dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

LOADED = """
import json, sys
{imports}
print(json.dumps(sorted(sys.modules)))
"""


def loaded(imports: str) -> set[str]:
    """The modules a fresh interpreter holds after `imports`."""
    run = subprocess.run(
        [sys.executable, "-c", LOADED.format(imports=imports)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(json.loads(run.stdout))


def test_the_child_and_the_verifier_import_only_jax_numpy_and_the_runner():
    floor = loaded("import jax, jax.numpy, numpy")
    entries = loaded("import grader.runner.child, grader.runner.verifier")
    grader = {m for m in entries if m == "grader" or m.startswith("grader.")}
    assert grader - {"grader", "grader.runner"} == {
        m for m in grader if m.startswith("grader.runner.")
    }
    others = {m.split(".")[0] for m in entries - floor - grader}
    assert others <= set(sys.stdlib_module_names), sorted(others - set(sys.stdlib_module_names))


def test_the_runner_package_itself_imports_nothing():
    assert (ROOT / "grader" / "runner" / "__init__.py").read_text().strip() == ""
