"""The nbgrader course, run through the real nbgrader, and notebooks graded as modules.

One course is autograded for the whole file: by nbgrader's kernels first (their
gradebook and notebooks are kept in `kernel/`, to show what the kernels decided), then
by `difflearn nbgrader autograde`, which decides the scores in the sandbox.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, reference_source

from grader import kernel
from grader.cli import main
from grader.course.notebooks import MARKER
from grader.engine import grade
from grader.output.report import gradescope_results
from grader.runner.sandbox import current_sandbox
from grader.ship.gradebook import HEADER, RESULTS
from grader.ship.nbgrader import build_notebook, write_course

MODULE = "bce"
STUDENTS = (
    "reference",
    "untouched",
    "tampered",
    "partial",
    "forged-check",
    "forged-grader",
    "stray",
)
COURSE_FILE = str(ROOT / "course.yml")
KERNEL = "kernel"  # the course's gradebook and autograded notebooks as nbgrader's kernels left them
STRAY_NOTE = "ZeroDivisionError: division by zero"
# A forgery of the grader's own test cell function, and one of the grader package beside
# the notebook, which the kernel imports before the real one: each makes every test cell
# pass in the kernel.
FORGED_CHECK = "\ncheck = lambda *a, **k: None\n"
FORGED_KERNEL = "def check(*args, **kwargs):\n    pass\n\n\ndef track_cells():\n    pass\n"


def nbgrader(course_dir: Path, *args: str) -> None:
    command = [sys.executable, "-m", "nbgrader", *args]
    env = {**os.environ, "PYTHONPATH": str(kernel_path(course_dir.parent))}
    done = subprocess.run(command, cwd=course_dir, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def kernel_path(folder: Path) -> Path:
    """A folder for PYTHONPATH whose sitecustomize makes a kernel import the grader under
    test, wherever pytest runs from; from the end of sys.path, as an installed grader
    would be, behind the kernel's own folder (a PYTHONPATH entry would come before it,
    and stop the forged `grader/` package the tests need nbgrader to fall for)."""
    path = folder / "kernel-path"
    path.mkdir(exist_ok=True)
    (path / "sitecustomize.py").write_text(
        f"import sys\n\nsys.path.append({str(ROOT)!r})\n", encoding="utf-8"
    )
    return path


def autograde(course_dir: Path, *args: str) -> int:
    """`difflearn nbgrader autograde bce` on `course_dir`, with the instructor's course."""
    options = ["--course-dir", str(course_dir), "--course", COURSE_FILE]
    return main(["nbgrader", "autograde", MODULE, *options, *args])


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def save(notebook: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook), encoding="utf-8")


def cell(notebook: dict, grade_id: str) -> dict:
    return next(
        c
        for c in notebook["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    )


@pytest.fixture(scope="module")
def nbgrader_course(tmp_path_factory, course) -> Path:
    """An nbgrader course with one module generated, and seven submissions autograded by
    nbgrader (kept in `kernel/`), then by difflearn, and their feedback generated."""
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

    forged_check = copy.deepcopy(released)
    cell(forged_check, f"{MODULE}-sigmoid")["source"] += FORGED_CHECK
    save(forged_check, submitted / "forged-check" / MODULE / f"{MODULE}.ipynb")

    save(released, submitted / "forged-grader" / MODULE / f"{MODULE}.ipynb")
    forged_package = submitted / "forged-grader" / MODULE / "grader"
    forged_package.mkdir()
    (forged_package / "__init__.py").write_text("", encoding="utf-8")
    (forged_package / "kernel.py").write_text(FORGED_KERNEL, encoding="utf-8")

    # The reference, with a stray cell that raises before the functions are defined.
    stray = copy.deepcopy(source)
    first_solution = stray["cells"].index(cell(stray, f"{MODULE}-sigmoid"))
    stray["cells"].insert(first_solution, code_cell("1 / 0\n"))
    save(stray, submitted / "stray" / MODULE / f"{MODULE}.ipynb")

    nbgrader(course_dir, "autograde", MODULE)
    shutil.copytree(course_dir / "autograded", course_dir / KERNEL / "autograded")
    shutil.copy(course_dir / "gradebook.db", course_dir / KERNEL / "gradebook.db")
    assert autograde(course_dir) == 0
    nbgrader(course_dir, "generate_feedback", MODULE)
    return course_dir


def code_cell(source: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def scores(course_dir: Path, student: str) -> dict[str, float]:
    """A student's score per test cell in the course's gradebook."""
    return grades(course_dir, student, "score")


def grades(course_dir: Path, student: str, field: str) -> dict[str, float]:
    """A field of a student's grade per test cell: score, auto_score, manual_score..."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", "difflearn") as gradebook:
        notebook = gradebook.find_submission_notebook(MODULE, MODULE, student)
        return {grade.name: getattr(grade, field) for grade in notebook.grades}


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
    reference = scores(nbgrader_course / KERNEL, "reference")
    assert reference == {f"{MODULE}-{f.name}-test": f.points for f in module.functions}
    assert set(scores(nbgrader_course / KERNEL, "untouched").values()) == {0.0}


def test_a_tampered_test_cell_is_restored_and_graded_as_untouched(nbgrader_course):
    kernels = nbgrader_course / KERNEL
    assert scores(kernels, "tampered") == scores(kernels, "untouched")


def test_partial_credit_reaches_the_gradebook(nbgrader_course, course):
    sigmoid = scores(nbgrader_course / KERNEL, "partial")[f"{MODULE}-sigmoid-test"]
    assert 0 < sigmoid < course.module(MODULE).function("sigmoid").points


def test_test_cells_write_nothing_to_stderr(nbgrader_course):
    autograded = nbgrader_course / KERNEL / "autograded"
    notebook = load(autograded / "reference" / MODULE / f"{MODULE}.ipynb")
    streams = [
        output
        for c in notebook["cells"]
        if c["cell_type"] == "code"
        for output in c["outputs"]
        if output.get("name") == "stderr" or output["output_type"] == "error"
    ]
    assert streams == []


def test_feedback_is_an_html_page_per_submission(nbgrader_course):
    for student in STUDENTS:
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


def test_an_edited_nbgrader_config_is_kept_even_with_force(tmp_path, capsys, course, monkeypatch):
    from dataclasses import replace

    from grader import cli
    from grader.ship import generated
    from grader.ship.nbgrader import CONFIG

    one_module = replace(course, modules=(course.module(MODULE),))  # quicker to write
    monkeypatch.setattr(cli, "find_course", lambda explicit: one_module)
    args = ["nbgrader", "--course-dir", str(tmp_path)]
    config = tmp_path / "nbgrader_config.py"
    generated.write(config, "# what an older difflearn wrote\n")  # untouched: replaced
    assert main(args) == 0
    assert config.read_text(encoding="utf-8") == CONFIG
    config.write_text(CONFIG + "c.Exchange.root = '/srv/exchange'\n", encoding="utf-8")
    assert main([*args, "--force"]) == 0
    assert config.read_text(encoding="utf-8").endswith("'/srv/exchange'\n")
    assert f"kept {config}: it was edited" in capsys.readouterr().out


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
    assert float(rows["forged-check"][-1]) == float(rows["forged-grader"][-1]) == 0
    # A cell that raises is skipped, not the whole notebook lost; the feedback says so.
    assert float(rows["stray"][-1]) == pytest.approx(points)
    stray = json.loads((out / "students" / "stray" / "results.json").read_text())
    assert STRAY_NOTE in stray["output"] and "it was skipped" in stray["output"]


def test_the_forgeries_pass_in_the_kernel_and_get_the_stubs_score_from_the_sandbox(
    nbgrader_course, course
):
    points = {f"{MODULE}-{f.name}-test": f.points for f in course.module(MODULE).functions}
    stubs = scores(nbgrader_course, "untouched")
    assert set(stubs.values()) == {0.0}
    for forgery in ("forged-check", "forged-grader"):
        assert scores(nbgrader_course / KERNEL, forgery) == points  # the attack is real
        assert scores(nbgrader_course, forgery) == stubs


def test_sandboxed_scores_give_full_marks_and_partial_credit(nbgrader_course, course):
    module = course.module(MODULE)
    assert scores(nbgrader_course, "reference") == {
        f"{MODULE}-{f.name}-test": f.points for f in module.functions
    }
    sigmoid = scores(nbgrader_course, "partial")[f"{MODULE}-sigmoid-test"]
    assert 0 < sigmoid < module.function("sigmoid").points


def test_a_stray_cell_that_raises_costs_nothing_and_is_noted(nbgrader_course, course):
    reference = scores(nbgrader_course, "reference")
    assert scores(nbgrader_course / KERNEL, "stray") == reference
    assert scores(nbgrader_course, "stray") == reference
    # The note, in the kernel's test cells (which shows that nbgrader's kernels ran the
    # grader under test) and in the sandbox's, which the feedback shows.
    for stage in (nbgrader_course / KERNEL / "autograded", nbgrader_course / "autograded"):
        notebook = load(stage / "stray" / MODULE / f"{MODULE}.ipynb")
        test = cell(notebook, f"{MODULE}-sigmoid-test")
        text = "".join("".join(output.get("text", "")) for output in test["outputs"])
        assert STRAY_NOTE in text and "it was skipped" in text
    page = nbgrader_course / "feedback" / "stray" / MODULE / f"{MODULE}.html"
    assert STRAY_NOTE in page.read_text(encoding="utf-8")


def test_the_feedback_shows_what_the_sandbox_said(nbgrader_course, course):
    notebook = load(nbgrader_course / "autograded" / "forged-check" / MODULE / f"{MODULE}.ipynb")
    for function in course.module(MODULE).functions:
        outputs = cell(notebook, f"{MODULE}-{function.name}-test")["outputs"]
        assert [o["output_type"] for o in outputs] == ["stream"]
        text = "".join(outputs[0]["text"])
        assert text.startswith(HEADER) and f"{MODULE}.{function.name}: 0 of" in text
    page = nbgrader_course / "feedback" / "forged-check" / MODULE / f"{MODULE}.html"
    text = page.read_text(encoding="utf-8")
    assert HEADER in text and "not implemented yet" in text


def copy_course(nbgrader_course: Path, to: Path, results: bool) -> Path:
    """The course with the gradebook as nbgrader's kernels left it, and the sandbox's saved
    results or none."""
    ignore = shutil.ignore_patterns(KERNEL, "feedback", *([] if results else [RESULTS]))
    copied = Path(shutil.copytree(nbgrader_course, to / "course", ignore=ignore))
    shutil.copy(nbgrader_course / KERNEL / "gradebook.db", copied / "gradebook.db")
    return copied


def test_manual_scores_are_kept_and_marked_for_review(nbgrader_course, tmp_path, capsys):
    from nbgrader.api import Gradebook

    sigmoid = f"{MODULE}-sigmoid-test"
    copied = copy_course(nbgrader_course, tmp_path, results=True)
    with Gradebook(f"sqlite:///{copied / 'gradebook.db'}", "difflearn") as gradebook:
        grade = gradebook.find_grade(sigmoid, MODULE, MODULE, "forged-check")
        assert grade.auto_score == 4.0  # the kernel's, forged
        grade.manual_score = 1.5
        gradebook.db.commit()
    assert autograde(copied) == 0  # from the saved results: nothing is graded again
    assert "manual scores kept: 1 " in capsys.readouterr().out
    assert grades(copied, "forged-check", "manual_score")[sigmoid] == 1.5
    assert grades(copied, "forged-check", "auto_score")[sigmoid] == 0
    assert scores(copied, "forged-check")[sigmoid] == 1.5
    review = grades(copied, "forged-check", "needs_manual_grade")
    assert review == {name: name == sigmoid for name in review}


def test_the_forgeries_get_the_stubs_score_in_the_user_sandbox(
    nbgrader_course, course, tmp_path, monkeypatch
):
    monkeypatch.setenv("DIFFLEARN_SANDBOX", "user")
    current_sandbox.cache_clear()
    try:
        current_sandbox()
    except Exception as error:  # the user mode needs root; CI runs it
        if os.environ.get("CI"):
            pytest.fail(f"the user sandbox cannot run in CI: {error}")
        pytest.skip(str(error))
    copied = copy_course(nbgrader_course, tmp_path, results=False)
    assert sum(scores(copied, "forged-check").values()) == course.module(MODULE).points
    try:
        assert autograde(copied, "--student", "forged-check", "--student", "forged-grader") == 0
    finally:
        current_sandbox.cache_clear()
    stubs = scores(nbgrader_course, "untouched")
    assert scores(copied, "forged-check") == scores(copied, "forged-grader") == stubs
    results = copied / RESULTS / MODULE / "students" / "forged-check" / "results.json"
    assert json.loads(results.read_text())["extra_data"]["sandbox"] == "user"


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    return error


def test_autograde_refuses_bad_input_with_one_line(nbgrader_course, tmp_path, capsys):
    options = ["--course-dir", str(nbgrader_course), "--course", COURSE_FILE]
    assert main(["nbgrader", "autograde", "nope", *options]) == 2
    assert "'nope' is not a module" in one_line_error(capsys)

    assert autograde(nbgrader_course, "--student", "ghost") == 2
    assert "no submission of bce in the gradebook from: ghost" in one_line_error(capsys)

    recording = str(nbgrader_course / "source" / MODULE / "course.yml")
    assert (
        main(
            ["nbgrader", "autograde", MODULE, "--course-dir", str(tmp_path), "--course", recording]
        )
        == 2
    )
    assert "nbgrader_config.py" in one_line_error(capsys)
    shutil.copy(nbgrader_course / "nbgrader_config.py", tmp_path)
    assert (
        main(
            ["nbgrader", "autograde", MODULE, "--course-dir", str(tmp_path), "--course", recording]
        )
        == 2
    )
    assert "grades against a recording" in one_line_error(capsys)

    assert autograde(tmp_path) == 2
    assert "no gradebook" in one_line_error(capsys)
    assert not (tmp_path / "gradebook.db").exists()

    # A submission that nbgrader's autograde has not recorded.
    shutil.copy(nbgrader_course / "gradebook.db", tmp_path)
    late = tmp_path / "submitted" / "late" / MODULE
    late.mkdir(parents=True)
    shutil.copy(nbgrader_course / "source" / MODULE / f"{MODULE}.ipynb", late)
    assert autograde(tmp_path) == 2
    assert "not in the gradebook, from: late;" in one_line_error(capsys)


def test_a_notebook_cell_that_raises_is_skipped_with_a_note(tmp_path, course, reference):
    notebook = build_notebook(course, course.module(MODULE))
    sigmoid = notebook["cells"].index(cell(notebook, f"{MODULE}-sigmoid"))
    notebook["cells"][sigmoid:sigmoid] = [code_cell("1 / 0\n"), code_cell("x = = 1\n")]
    # Defined again after the reference, raising on its 2nd line: its place is the cell's
    # line, also for an error raised when a probe calls it, after the import.
    notebook["cells"].append(code_cell("def sigmoid(x):\n    return x.no_such_attribute\n"))
    last = len(notebook["cells"])
    save(notebook, tmp_path / f"{MODULE}.ipynb")
    result = grade(course, tmp_path / f"{MODULE}.ipynb", reference)
    module = result.modules[0]
    assert len(module.notes) == 2
    assert re.fullmatch(
        rf"cell {sigmoid + 1} raised {STRAY_NOTE} \(line 1: 1 / 0\); it was skipped",
        module.notes[0],
    )
    assert re.fullmatch(
        rf"cell {sigmoid + 2} raised SyntaxError: invalid syntax \(line 1: x = = 1\); "
        "it was skipped",
        module.notes[1],
    )
    failed = {c.message for c in module.checks if not c.passed}
    # Its place is told on the visible cases; on the unseen one only the error's kind.
    placed = {m for m in failed if f"(cell {last}, line 2: return x.no_such_attribute)" in m}
    assert placed and all("raised AttributeError (what was given" in m for m in failed - placed)
    assert module.score == module.max_score - module.function_score("sigmoid")[1]
    assert module.notes[0] in gradescope_results(result)["output"]


def test_a_cell_that_raised_in_the_kernel_is_noted_by_the_test_cells(monkeypatch, capsys):
    monkeypatch.setattr(kernel, "_tracking", True)
    monkeypatch.setattr(kernel, "_cells", {})
    monkeypatch.setattr(kernel, "_skipped", {})

    def run(count: int, source: str, error: BaseException | None = None) -> None:
        info = SimpleNamespace(raw_cell=source, cell_id=f"cell{count}")
        result = SimpleNamespace(
            info=info, execution_count=count, error_in_exec=error, error_before_exec=None
        )
        kernel._remember(result)

    run(1, reference_source(MODULE))
    run(2, "1 / 0", ZeroDivisionError("division by zero"))
    assert kernel.check(MODULE, "sigmoid", COURSE_FILE) is None
    assert f"Note: In [2] raised {STRAY_NOTE}; it was skipped" in capsys.readouterr().out
