"""Without the test extras, the suite collects and skips, saying why: a student who ran
`pip install -e .` alone can still run `pytest -k sigmoid`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import EXTRAS, ROOT


def hide_extras(folder: Path) -> Path:
    """A folder that, first on PYTHONPATH, makes every test extra fail to import as a
    missing package does."""
    for name in EXTRAS:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError('{name} is hidden by the test', name='{name}')\n"
        )
    return folder


def pytest_without_extras(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    hidden = hide_extras(tmp_path / "hidden")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hidden), str(ROOT)])}
    # hypothesis's pytest plugin is registered by its installed package, hidden or not.
    plugins = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    command = [sys.executable, "-m", "pytest", *plugins, "-rs", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def test_the_suite_collects_without_the_extras(tmp_path):
    run = pytest_without_extras(tmp_path, "--collect-only", "-q", "-k", "sigmoid")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "error" not in run.stdout.lower()
    # The files that need hypothesis throughout are skipped whole, with the reason.
    assert re.search(r"SKIPPED \[\d+\] .*hypothesis is a test extra", run.stdout), run.stdout


def test_a_test_that_needs_an_extra_skips_with_the_reason(tmp_path):
    chosen = "matches_hmmlearn or dynamax or matches_scipy"
    run = pytest_without_extras(tmp_path, "tests/exercises/test_hmm.py", "-k", chosen)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "hmmlearn is a test extra" in run.stdout  # an oracle, imported by the test
    assert "dynamax is a test extra" in run.stdout  # a correct alternative's import
    assert "chex is a test extra" in run.stdout  # a fixture
    assert " passed" not in run.stdout and " failed" not in run.stdout
