"""A student's walk through a released copy (issue #18): install it, grade a notebook,
grade one function, make the HMM picture, with the `difflearn` the copy installs.

The copy is released once for the module. It is installed as `pip install -e .` in a
venv that sees the machine's packages: offline first, then letting pip fetch what the
build needs. Where neither works (no network, and a setuptools that needs the `wheel`
package for an editable install), the walk runs the copy's grader through PYTHONPATH
instead, and the install test is skipped with pip's reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT

from grader.course.specs import Course
from grader.results import format_points
from grader.ship.release import release

Run = Callable[..., subprocess.CompletedProcess[str]]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory, course: Course) -> Path:
    copy = tmp_path_factory.mktemp("walk") / "student"
    release(course, copy)
    return copy


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, copy: Path) -> tuple[list[str], str]:
    """The command that runs the copy's `difflearn`, and why it is not the venv's, if not."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "--no-deps", "-e", str(copy)]
    # Offline first, with the machine's setuptools; then as a student does, letting pip
    # fetch the build requirements (CI reaches the package registry).
    for isolation in (["--no-build-isolation"], []):
        install = subprocess.run(
            [*pip, *isolation], env=_student_env(), capture_output=True, text=True, timeout=600
        )
        if install.returncode == 0:
            return [str(venv / "bin" / "difflearn")], ""
    errors = [line.strip() for line in install.stderr.splitlines() if "error: " in line]
    return [sys.executable, "-m", "grader.cli"], "; ".join(errors) or "pip failed"


@pytest.fixture(scope="module")
def difflearn(copy: Path, installed: tuple[list[str], str]) -> Run:
    """Runs the copy's `difflearn` in the copy, as the student does."""
    command, why_not_installed = installed
    env = _student_env({"PYTHONPATH": str(copy)} if why_not_installed else {})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=900
        )

    return run


def _student_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without PYTHONPATH (which names the checkout under test), so that
    what runs is what the student installed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, **(extra or {})}


def test_the_copy_installs_offline_and_its_difflearn_runs_its_grader(copy, installed):
    command, why_not_installed = installed
    if why_not_installed:
        pytest.skip(f"pip install -e of the copy cannot build here: {why_not_installed}")
    python = Path(command[0]).parent / "python"
    where = subprocess.run(
        [str(python), "-c", "import grader; print(grader.__file__)"],
        cwd=copy.parent,  # not the copy itself, whose grader/ the current folder would offer
        env=_student_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).resolve().is_relative_to(copy.resolve())


def test_a_notebook_of_stubs_grades_0_not_implemented(difflearn, course):
    run = difflearn("grade", "notebooks/bce.ipynb")
    assert run.returncode == 0, run.stderr
    points = format_points(course.module("bce").points)
    assert f"Total: 0 / {points} points" in run.stdout
    assert "not implemented" in run.stdout


def test_one_function_is_graded_alone(difflearn, copy, course):
    # The student wrote bce.py (the solution here), and grades sigmoid alone.
    shutil.copy(ROOT / "solutions" / "bce.py", copy / "exercises" / "bce.py")
    run = difflearn("grade", "--function", "sigmoid")
    assert run.returncode == 0, run.stderr
    points = format_points(course.module("bce").function("sigmoid").points)
    assert f"Total: {points} / {points} points" in run.stdout
    assert "binary_cross_entropy" not in run.stdout


def test_the_hmm_picture_is_a_png(difflearn, copy):
    shutil.copy(ROOT / "solutions" / "hmm.py", copy / "exercises" / "hmm.py")
    run = difflearn("plot", "hmm", "--to", "hmm.png")
    assert run.returncode == 0, run.stderr
    assert (copy / "hmm.png").read_bytes().startswith(PNG_SIGNATURE)
