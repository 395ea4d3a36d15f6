"""A class's exports from its saved results: the Canvas CSV, feedback.md, summary.md and
its pictures (on hand-made results of the toy course), and the causes they rest on (from
real grading)."""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TOY

from grader import cli
from grader.batch import results_file, summarize, write_canvas, write_feedback
from grader.course.specs import Course
from grader.output.exports import status
from grader.output.plots import DPI, WIDTH_IN, failed_height, scores_height
from grader.output.report import gradescope_results, results_checks
from grader.results import Cause, CheckResult, GradeResult, ModuleResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check(function: str, name: str, passed: bool, cause: Cause | None = None) -> CheckResult:
    message = (
        ""
        if passed
        else {None: "wrong", "not_implemented": "not implemented yet"}.get(
            cause, f"{cause} [red]\x1b[2J"
        )
    )
    return CheckResult("toy", function, name, float(passed), 1.0, passed, message, cause=cause)


def double(passed: tuple[bool, bool] = (True, True), cause: Cause | None = None) -> list:
    """toy.double's two visible checks: values, gradients."""
    return [
        check("double", "values", passed[0], cause),
        check("double", "gradients", passed[1], cause),
    ]


def save(out: Path, student: str, checks: list[CheckResult]) -> None:
    """A student's results.json as the batch writes it (gradescope_results and its stamp)."""
    result = GradeResult((ModuleResult("toy", "Toy functions", tuple(checks)),), 1.0)
    data = gradescope_results(result)
    data["difflearn"] = {"submission_sha256": "0" * 64}
    write(out, student, data)


def write(out: Path, student: str, data: dict) -> None:
    path = results_file(out, Path(student))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))


def nothing_to_grade(out: Path, student: str) -> None:
    meta = {"failed": True, "nothing_to_grade": True}
    write(out, student, {"score": 0, "output": "no module", "tests": [], "difflearn": meta})


def a_class(out: Path) -> None:
    """One student per way a function can end: a mistake, a stub, a crash, a timeout, a
    module that did not import, and a folder with nothing to grade."""
    save(out, "ada", [check("batched_dot", "values", True), *double((False, True))])
    save(out, "bob", double((False, False), "not_implemented"))
    save(out, "cat", double((False, False), "crash"))
    save(out, "dan", double((False, False), "timeout"))
    save(out, "eve", double((False, False), "not_imported"))
    nothing_to_grade(out, "zed")


def test_causes_survive_results_json():
    stub = check("batched_dot", "values", False, "timeout")
    checks = (*double((False, True)), stub)
    data = json.loads(
        json.dumps(gradescope_results(GradeResult((ModuleResult("toy", "T", checks),), 1)))
    )
    assert [c.cause for c in results_checks(data)] == [None, None, "timeout"]
    assert data["tests"][2]["output"].startswith("timeout")  # the feedback is untouched


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ([], "not submitted"),
        (double((False, True)), "judged"),
        (double((False, False), "not_implemented"), "not implemented"),
        (double((False, False), "crash"), "crashed or timed out"),
        (double((False, False), "grader"), "crashed or timed out"),
        (double((False, False), "not_imported"), "not imported"),
        # An assignment's module missing from a Gradescope upload, listed at 0.
        (double((False, False), "not_submitted"), "not submitted"),
        # A stub in one check only (a branch not written yet): the rest was judged.
        (
            [check("double", "values", False, "not_implemented"), check("double", "g", False)],
            "judged",
        ),
    ],
)
def test_a_functions_status_comes_from_its_causes(checks, expected):
    assert status(checks) == expected


def test_the_summary_counts_stubs_crashes_and_timeouts_apart_from_mistakes(tmp_path, toy_course):
    a_class(tmp_path)
    summary = summarize(toy_course, tmp_path)
    assert "# Batch summary: 6 students" in summary
    assert "5 graded, 1 with nothing to grade" in summary
    # module: submitted, not submitted, with a stub, not imported, with a crash or timeout
    assert "| toy | 5 | 1 | 1 | 1 | 2 |" in summary
    # function: judged, not submitted, not implemented, not imported, crashed or timed out
    assert "| toy.double | 1 | 1 | 1 | 1 | 2 | 1 | 50% |" in summary
    most_failed = summary.split("## Most failed checks")[1]
    assert "- toy.double: values: 1 of 1 judged" in most_failed
    assert "gradients" not in most_failed  # bob's stub and cat's crash failed it: no mistake
    assert summarize(toy_course, tmp_path) == summary


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk (the first, right after the
    signature: length, b'IHDR', width, height)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert kind == b"IHDR" and length == 13
    return width, height


def test_the_summary_shows_its_pictures_of_a_fixed_size_and_the_same_bytes(tmp_path, toy_course):
    a_class(tmp_path)
    summary = summarize(toy_course, tmp_path)
    assert "![Scores per module](scores.png)" in summary
    assert "![Most failed checks](failed.png)" in summary
    scores, failed = (tmp_path / "scores.png").read_bytes(), (tmp_path / "failed.png").read_bytes()
    assert png_size(scores) == (WIDTH_IN * DPI, scores_height(1) * DPI)
    assert png_size(failed) == (WIDTH_IN * DPI, failed_height(1) * DPI)
    assert b"tIME" not in scores and b"Software" not in scores and b"matplotlib" not in failed
    summarize(toy_course, tmp_path)
    assert (tmp_path / "scores.png").read_bytes() == scores
    assert (tmp_path / "failed.png").read_bytes() == failed
    # No judged check failed: no picture of failures, not even an earlier one.
    (tmp_path / "students" / "ada").rename(tmp_path / "ada")
    assert "failed.png" not in summarize(toy_course, tmp_path)
    assert not (tmp_path / "failed.png").exists()


def test_importing_the_grader_does_not_import_matplotlib():
    code = "import sys, grader.cli; print('matplotlib' in sys.modules)"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert run.stdout.strip() == "False"


def test_feedback_md_is_the_report_as_plain_markdown(tmp_path, toy_course):
    a_class(tmp_path)
    save(tmp_path, "[oops]**x**", double((False, False), "crash"))
    write_feedback(toy_course, tmp_path)
    ada = (results_file(tmp_path, Path("ada")).parent / "feedback.md").read_text()
    assert ada.startswith("# Feedback: ada\n\nTotal: 2 / 3 points\n\n")
    assert "## toy: Toy functions (2 / 3 points)" in ada
    assert "| double | ✗ values | 0/1 | wrong |" in ada
    assert "|  | ✓ gradients | 1/1 |  |" in ada
    hostile = (results_file(tmp_path, Path("[oops]**x**")).parent / "feedback.md").read_text()
    assert hostile.startswith("# Feedback: \\[oops\\]\\*\\*x\\*\\*\n")
    # One cause for every check is one row, as on the terminal; no control sequence.
    assert "| double | ✗ all 2 checks | 0/2 | crash \\[red\\]\\\\x1b\\[2J |" in hostile
    assert "\x1b" not in hostile
    zed = (results_file(tmp_path, Path("zed")).parent / "feedback.md").read_text()
    assert zed == "# Feedback: zed\n\nNothing was graded: no module\n"


def canvas_rows(course: Course, out: Path, modules: list[str] | None) -> list[list[str]]:
    return list(csv.reader(write_canvas(course, out, out / "canvas.csv", modules).open()))


def test_the_canvas_csv_has_canvas_columns_points_possible_and_a_row_per_student(
    tmp_path, toy_course, course
):
    a_class(tmp_path)
    rows = canvas_rows(toy_course, tmp_path, ["toy"])
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "toy"]
    assert rows[1] == ["Points Possible", "", "", "", "", "9"]
    assert rows[2] == ["ada", "", "", "ada", "", "2"]
    assert [r[0] for r in rows[2:]] == ["ada", "bob", "cat", "dan", "eve", "zed"]
    # More than one module graded: the assignment is the course.
    assert canvas_rows(course, tmp_path, None)[0][-1] == course.title


def test_the_canvas_csv_is_never_overwritten_without_force(tmp_path, capsys):
    a_class(tmp_path / "shard")
    target = tmp_path / "canvas.csv"
    target.write_text("the instructor's own\n")
    command = ["merge", str(tmp_path / "shard"), "--to", str(tmp_path / "class")]
    command += ["--course", str(TOY / "course.yml"), "--canvas-csv", str(target)]
    assert cli.main(command) == 2
    error = capsys.readouterr().err
    assert error == f"difflearn: error: {target} exists; pass --force to overwrite it\n"
    assert target.read_text() == "the instructor's own\n"
    assert not (tmp_path / "class").exists()  # refused before anything was written
    assert cli.main([*command, "--force"]) == 0
    assert target.read_text().startswith("Student,ID,SIS User ID")


def test_grading_records_why_a_check_failed_unjudged(grade_toy):
    result = grade_toy(
        """
        import jax.numpy as jnp

        def cumulative_sum(xs):
            return jnp.cumsum(xs)

        def batched_dot(A, B):
            import os
            os._exit(3)

        def double(x):
            raise NotImplementedError()
        """
    )
    causes: dict[str, set] = {}
    for c in result.checks:
        causes.setdefault(c.function, set()).add(c.cause)
    assert causes == {
        "cumulative_sum": {None},
        "batched_dot": {"crash"},
        "double": {"not_implemented"},
    }


def test_a_check_that_met_a_stub_is_no_mistake_in_a_function_judged(tmp_path, toy_course):
    save(tmp_path, "ada", double((False, True)))
    stub = check("double", "values", False, "not_implemented")  # a branch not written yet
    save(tmp_path, "bob", [stub, check("double", "gradients", False)])
    most_failed = summarize(toy_course, tmp_path).split("## Most failed checks")[1]
    assert "- toy.double: values: 1 of 2 judged" in most_failed
    assert "- toy.double: gradients: 1 of 2 judged" in most_failed


def test_an_assignments_missing_module_is_not_submitted_not_a_crash(toy_course):
    from grader.engine import _not_submitted

    checks = _not_submitted(toy_course.module("toy")).checks
    assert checks and {c.cause for c in checks} == {"not_submitted"}
    assert status([c for c in checks if c.function == "double"]) == "not submitted"
