"""The nbgrader course, run through the real nbgrader, and notebooks graded as modules."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from grader.cli import main
from grader.engine import grade
from grader.nbgrader import build_notebook, write_course
from grader.notebooks import MARKER

MODULE = "bce"


def nbgrader(course_dir: Path, *args: str) -> None:
    command = [sys.executable, "-m", "nbgrader", *args]
    done = subprocess.run(command, cwd=course_dir, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def save(notebook: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook), encoding="utf-8")


def cell(notebook: dict, grade_id: str) -> dict:
    return next(c for c in notebook["cells"] if c["metadata"]["nbgrader"]["grade_id"] == grade_id)


@pytest.fixture(scope="module")
def nbgrader_course(tmp_path_factory, course) -> Path:
    """An nbgrader course with one module generated, and four submissions autograded."""
    pytest.importorskip("nbgrader")
    course_dir = tmp_path_factory.mktemp("nbgrader")
    write_course(course, course_dir)
    nbgrader(course_dir, "generate_assignment", MODULE)
    source = load(course_dir / "source" / MODULE / f"{MODULE}.ipynb")
    released = load(course_dir / "release" / MODULE / f"{MODULE}.ipynb")
    submitted = course_dir / "submitted"

    save(source, submitted / "reference" / MODULE / f"{MODULE}.ipynb")
    save(released, submitted / "untouched" / MODULE / f"{MODULE}.ipynb")

    # Edits a locked test cell to pass without grading: nbgrader restores it.
    tampered = copy.deepcopy(released)
    cell(tampered, f"{MODULE}-sigmoid-test")["source"] = "pass\n"
    save(tampered, submitted / "tampered" / MODULE / f"{MODULE}.ipynb")

    # The textbook sigmoid: right values, but nan gradients at |x| = 1000.
    partial = copy.deepcopy(released)
    cell(partial, f"{MODULE}-sigmoid")["source"] = (
        "def sigmoid(x):\n    return 1.0 / (1.0 + jnp.exp(-x))\n"
    )
    save(partial, submitted / "partial" / MODULE / f"{MODULE}.ipynb")

    nbgrader(course_dir, "autograde", MODULE)
    nbgrader(course_dir, "generate_feedback", MODULE)
    return course_dir


def scores(course_dir: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(MODULE, MODULE, student)
        return {grade.name: grade.score for grade in notebook.grades}


def test_generated_notebook_has_a_solution_and_a_test_cell_per_function(course):
    module = course.module(MODULE)
    notebook = build_notebook(course, module)
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in notebook["cells"]]
    assert len(ids) == len(set(ids))
    for function in module.functions:
        solution = cell(notebook, f"{MODULE}-{function.name}")
        assert solution["metadata"]["nbgrader"]["solution"] is True
        assert "### BEGIN SOLUTION" in solution["source"]
        assert "### END SOLUTION" in solution["source"]
        test = cell(notebook, f"{MODULE}-{function.name}-test")["metadata"]["nbgrader"]
        assert test["grade"] and test["locked"] and test["schema_version"] == 3
        assert test["points"] == function.points
    assert notebook["cells"][0]["cell_type"] == "markdown"
    setup = cell(notebook, f"{MODULE}-setup")
    assert setup["source"].startswith(MARKER) and setup["metadata"]["nbgrader"]["locked"]


def test_the_real_nbgrader_gives_the_reference_full_marks_and_the_release_zero(
    nbgrader_course, course
):
    module = course.module(MODULE)
    reference = scores(nbgrader_course, "reference")
    assert reference == {f"{MODULE}-{f.name}-test": f.points for f in module.functions}
    assert set(scores(nbgrader_course, "untouched").values()) == {0.0}


def test_a_tampered_test_cell_is_restored_and_graded_as_untouched(nbgrader_course):
    assert scores(nbgrader_course, "tampered") == scores(nbgrader_course, "untouched")


def test_partial_credit_reaches_the_gradebook(nbgrader_course, course):
    sigmoid = scores(nbgrader_course, "partial")[f"{MODULE}-sigmoid-test"]
    assert 0 < sigmoid < course.module(MODULE).function("sigmoid").points


def test_test_cells_write_nothing_to_stderr(nbgrader_course):
    notebook = load(nbgrader_course / "autograded" / "reference" / MODULE / f"{MODULE}.ipynb")
    streams = [
        output
        for c in notebook["cells"]
        if c["cell_type"] == "code"
        for output in c["outputs"]
        if output.get("name") == "stderr" or output["output_type"] == "error"
    ]
    assert streams == []


def test_feedback_is_an_html_page_per_submission(nbgrader_course):
    for student in ("reference", "untouched", "tampered", "partial"):
        page = nbgrader_course / "feedback" / student / MODULE / f"{MODULE}.html"
        assert page.is_file()
    untouched = (nbgrader_course / "feedback" / "untouched" / MODULE / f"{MODULE}.html").read_text()
    assert "not implemented yet" in untouched


def test_a_notebook_is_graded_like_a_module(nbgrader_course, course, reference):
    source = nbgrader_course / "source" / MODULE / f"{MODULE}.ipynb"
    released = nbgrader_course / "release" / MODULE / f"{MODULE}.ipynb"
    assert grade(course, source, reference).score == pytest.approx(course.module(MODULE).points)
    assert grade(course, released, reference).score == 0


def test_a_plain_notebook_without_metadata_is_every_code_cell(tmp_path, course, reference):
    solution = (ROOT / "solutions" / "primitives.py").read_text(encoding="utf-8")
    imports, rest = solution.split("\n\n\n", 1)
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# my answers"},
            {"cell_type": "code", "metadata": {}, "source": imports, "outputs": []},
            {"cell_type": "code", "metadata": {}, "source": "%matplotlib inline", "outputs": []},
            {"cell_type": "code", "metadata": {}, "source": rest, "outputs": []},
        ],
    }
    save(notebook, tmp_path / "primitives.ipynb")
    result = grade(course, tmp_path / "primitives.ipynb", reference)
    assert result.score == pytest.approx(course.module("primitives").points)


def test_a_broken_notebook_is_a_clear_error_or_an_import_failure(tmp_path, course, reference):
    (tmp_path / "bce.ipynb").write_text("{not json", encoding="utf-8")
    result = grade(course, tmp_path / "bce.ipynb", reference)
    assert result.score == 0
    assert all("not a readable notebook" in c.message for c in result.checks)


def test_nbgrader_command_never_overwrites_without_force(tmp_path, capsys):
    course_file = str(ROOT / "course.yml")
    args = ["nbgrader", "--course-dir", str(tmp_path), "--course", course_file]
    assert main(args) == 0
    notebook = tmp_path / "source" / MODULE / f"{MODULE}.ipynb"
    notebook.write_text("my edits", encoding="utf-8")
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert notebook.read_text(encoding="utf-8") == "my edits"
    assert (tmp_path / "nbgrader_config.py").is_file()


def test_grade_batch_regrades_nbgraders_submitted_folder(nbgrader_course, course, tmp_path):
    # Outside the students' kernels: the way to regrade a class where nothing they ran counts.
    out = tmp_path / "grades"
    submitted = nbgrader_course / "submitted"
    course_file = str(ROOT / "course.yml")
    assert main(["grade-batch", str(submitted), "--out", str(out), "--course", course_file]) == 0
    rows = {row.split(",")[0]: row.split(",") for row in (out / "grades.csv").read_text().split()}
    points = course.module(MODULE).points
    assert float(rows["reference"][-1]) == pytest.approx(points)
    assert float(rows["untouched"][-1]) == 0
    assert 0 < float(rows["partial"][-1]) < points
