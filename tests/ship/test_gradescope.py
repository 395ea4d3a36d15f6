"""Gradescope bundles per assignment: what a submission's folder may hold (intake), the
missing modules in the total, the pinned setup, and one bundle run end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT

from grader.cli import main as difflearn
from grader.course.specs import Course
from grader.engine import find_submissions, grade
from grader.output.report import gradescope_results
from grader.reference.live import LiveReference
from grader.runner.intake import read_submission
from grader.ship.gradescope import build_bundle

SOURCE = "def first():\n    return 1\n"
# The building interpreter's, which the bundle asks for.
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"


def notebook(source: str = SOURCE) -> str:
    cell = {"cell_type": "code", "source": source, "metadata": {}, "outputs": []}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def folder_of(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# --- where a submission's modules are -----------------------------------------------------


@pytest.mark.parametrize("name", ["exercises/bce.py", "exercises/bce.ipynb"])
def test_the_student_repositorys_layout_is_taken(tmp_path: Path, name: str) -> None:
    text = SOURCE if name.endswith(".py") else notebook()
    found = read_submission(folder_of(tmp_path, {name: text}), ["bce", "hmm"])
    assert list(found.modules) == ["bce"] and found.modules["bce"].origin == name
    assert b"def first" in found.modules["bce"].source


@pytest.mark.parametrize("name", ["Untitled.ipynb", "bce (1).ipynb"])
def test_an_assignments_one_notebook_counts_whatever_its_name(
    tmp_path: Path, course: Course, name: str
) -> None:
    folder = folder_of(tmp_path, {name: notebook(), "notes.txt": "hi"})
    found = find_submissions(course, folder, ["bce"], assignment=True)
    assert found.modules["bce"].origin == name
    # Only for an assignment of that one module: elsewhere the name decides.
    assert read_submission(folder, ["bce"]).names == []
    assert read_submission(folder, ["bce", "hmm"], course=course.module_names).names == []


def test_a_notebook_named_otherwise_is_not_taken_when_it_is_not_the_only_one(
    tmp_path: Path, course: Course
) -> None:
    two = folder_of(tmp_path / "two", {"a.ipynb": notebook(), "b.ipynb": notebook()})
    assert find_submissions(course, two, ["bce"], assignment=True).names == []
    # Another module's notebook is that module's: ignored, not graded as this one.
    other = folder_of(tmp_path / "other", {"hmm.ipynb": notebook()})
    assert find_submissions(course, other, ["bce"], assignment=True).names == []
    # The module's own file wins over a notebook named otherwise.
    own = folder_of(tmp_path / "own", {"bce.py": SOURCE, "Untitled.ipynb": notebook()})
    assert find_submissions(course, own, ["bce"], assignment=True).modules["bce"].origin == (
        "bce.py"
    )


def test_a_notebook_named_in_bytes_that_are_not_utf8_is_taken_and_told_printably(
    tmp_path: Path, course: Course
) -> None:
    """A file name is bytes: one that is not UTF-8 is read by its real name, and every
    message (and the results.json that carries it) shows it with an escape."""
    taken = tmp_path / "taken"
    taken.mkdir()
    with open(os.fsencode(taken) + b"/caf\xe9.ipynb", "w") as file:
        file.write(notebook())
    found = find_submissions(course, taken, ["bce"], assignment=True)
    assert b"def first" in found.modules["bce"].source and found.fingerprint()
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(ROOT / "solutions" / "bce.py", os.fsencode(linked) + b"/caf\xe9.ipynb")
    refused = find_submissions(course, linked, ["bce"], assignment=True)
    assert refused.refused == {"bce": "caf\\xe9.ipynb is a symbolic link; submit the file itself"}
    assert refused.fingerprint() and json.dumps(refused.refused).encode("utf-8")


def test_links_in_the_new_places_are_refused_never_followed(tmp_path: Path) -> None:
    """A linked exercises/ folder, a linked file in it and a linked notebook named
    otherwise, each pointing at the solutions: refused with the reason, never read."""
    solutions = ROOT / "solutions"
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "exercises").symlink_to(solutions, target_is_directory=True)
    (tmp_path / "file" / "exercises").mkdir(parents=True)
    (tmp_path / "file" / "exercises" / "bce.py").symlink_to(solutions / "bce.py")
    (tmp_path / "notebook").mkdir()
    (tmp_path / "notebook" / "Untitled.ipynb").symlink_to(solutions / "bce.py")
    cases = {
        "folder": ("exercises", None),
        "file": ("exercises/bce.py", None),
        "notebook": ("Untitled.ipynb", ("bce",)),
    }
    for case, (linked, course) in cases.items():
        found = read_submission(tmp_path / case, ["bce"], course=course)
        assert found.modules == {}, case
        assert found.refused == {"bce": f"{linked} is a symbolic link; submit the file itself"}


def test_an_assignment_lists_what_a_submission_lacks_in_its_total(
    tmp_path: Path, course: Course, reference: LiveReference
) -> None:
    """Nothing submitted, so nothing runs: every module of the assignment (by default the
    course) at 0 of its points, hidden checks kept hidden, and the others left out."""
    bce = course.module("bce")
    for modules, expected in ((["bce"], [bce]), (None, list(course.modules))):
        result = grade(course, tmp_path, reference, modules, assignment=True)
        assert [m.name for m in result.modules] == [m.name for m in expected]
        assert result.score == 0
        assert result.max_score == pytest.approx(sum(m.points for m in expected))
    data = gradescope_results(grade(course, tmp_path, reference, ["bce"], assignment=True))
    assert data["output"] == f"0 / {bce.points:g} points"
    hidden = [t for t in data["tests"] if "(hidden)" in t["name"]]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
    assert all(t["output"].startswith("not submitted: no bce.py") for t in data["tests"])


# --- the bundle -------------------------------------------------------------------------


def test_gradescope_module_validates_names_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    to = tmp_path / "autograder.zip"
    args = ["gradescope", "--course", str(ROOT / "course.yml"), "--to", str(to)]
    assert difflearn([*args, "--module", "primitives", "nope"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "unknown module 'nope'" in error and not to.exists()
    assert difflearn([*args, "--module", "bce", "primitives"]) == 0
    assert "grading primitives, bce" in capsys.readouterr().out
    with zipfile.ZipFile(to) as bundle:
        run = bundle.read("run_autograder").decode()
        setup = bundle.read("setup.sh").decode()
    assert '-P -m grader.ship.gradescope "$ROOT" primitives bce ' in run
    assert "--module primitives --module bce > /dev/null" in setup  # warms these only


def test_setup_pins_this_environments_versions_and_python(tmp_path: Path, course: Course) -> None:
    bundle = tmp_path / "autograder.zip"
    build_bundle(course, bundle)
    again = tmp_path / "again.zip"
    build_bundle(course, again)
    assert bundle.read_bytes() == again.read_bytes()
    with zipfile.ZipFile(bundle) as archive:
        setup = archive.read("setup.sh").decode()
        requirements = archive.read("requirements.txt").decode()
    subprocess.run(["bash", "-n"], input=setup, text=True, check=True)
    assert "@" not in setup  # every placeholder filled
    assert f"PYTHON=python{PYTHON_VERSION}\n" in setup
    assert 'pip" install -r "$ROOT/source/requirements.txt"' in setup
    pins = dict(line.split("==") for line in requirements.splitlines() if not line.startswith("#"))
    assert {"jax", "jaxlib", "numpy", "optax", "pyyaml", "rich", "scipy", "ml-dtypes"} <= set(pins)
    assert pins == {name: metadata.version(name) for name in pins}
    assert "difflearn" not in pins and "chex" not in pins  # the grader itself; a test extra


def test_setup_fails_clearly_without_the_python_it_needs(tmp_path: Path, course: Course) -> None:
    """An image whose apt has no python3.X: setup.sh stops at once and says why."""
    bundle = tmp_path / "autograder.zip"
    build_bundle(course, bundle)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path / "source")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "apt-get").write_text("#!/bin/sh\nexit 0\n")  # installs nothing
    (tools / "apt-get").chmod(0o755)
    run = subprocess.run(
        ["/bin/bash", str(tmp_path / "source" / "setup.sh")],
        env={"PATH": str(tools), "AUTOGRADER_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert f"this autograder needs Python {PYTHON_VERSION}" in run.stderr
    assert not (tmp_path / "venv").exists()


@pytest.fixture
def autograder_root() -> Iterator[Path]:
    """A folder standing for /autograder that other users may pass through, as
    /autograder is: the user sandbox runs the bundle's grader there under another uid."""
    root = Path(tempfile.mkdtemp(prefix="difflearn-autograder-"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_an_assignment_bundle_grades_its_modules_only(
    autograder_root: Path, course: Course, tmp_path: Path
) -> None:
    """primitives and bce as the assignment; the upload is the student repository with
    primitives solved, hmm (not in the assignment, and fatal if run) and no bce."""
    bundle = tmp_path / "autograder.zip"
    build_bundle(course, bundle, modules=["primitives", "bce"])
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(autograder_root / "source")
    folder_of(
        autograder_root / "submission",
        {
            "exercises/primitives.py": (ROOT / "solutions" / "primitives.py").read_text(),
            "exercises/hmm.py": "import os\nos._exit(3)\n",
        },
    )
    env = {
        **os.environ,
        "AUTOGRADER_ROOT": str(autograder_root),
        "DIFFLEARN_PYTHON": sys.executable,
        "DIFFLEARN_SANDBOX": "user",  # root without bubblewrap, as in Gradescope's Docker
        "DIFFLEARN_CACHE_DIR": "off",  # one grade: warming a cache would only double it
    }
    script = autograder_root / "source" / "run_autograder"
    run = subprocess.run(["bash", str(script)], env=env, capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr
    results = json.loads((autograder_root / "results" / "results.json").read_text())
    assert results["extra_data"]["sandbox"] == "user"
    by_module: dict[str, list[dict]] = {}
    for test in results["tests"]:
        by_module.setdefault(test["name"].split(".")[0], []).append(test)
    assert list(by_module) == ["primitives", "bce"]
    primitives, bce = course.module("primitives"), course.module("bce")
    assert all(t["status"] == "passed" for t in by_module["primitives"])
    assert results["score"] == pytest.approx(primitives.points)
    assert len(by_module["bce"]) == sum(len(f.checks) for f in bce.functions)
    assert all(t["score"] == 0 and t["max_score"] > 0 for t in by_module["bce"])
    assert all(t["output"].startswith("not submitted") for t in by_module["bce"])
    total = sum(t["max_score"] for t in results["tests"])
    assert total == pytest.approx(primitives.points + bce.points)
    points = f"{primitives.points:g} / {primitives.points + bce.points:g} points"
    assert results["output"].startswith(points)
