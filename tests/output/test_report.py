"""Reports show text from submissions as it is: never read as rich markup, Markdown or
HTML, and never let through a terminal control sequence."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from conftest import TOY
from rich.console import Console

from grader import cli
from grader.batch import Plan, StudentResult, results_file, summarize, write_grades
from grader.course.schema import load_course
from grader.output.report import gradescope_results, print_report
from grader.results import CheckResult, GradeResult, ModuleResult, Timing

HOSTILE = (
    "[/oops]",
    "[green]pwned",
    "jnp.dot(A[n], B[n])",
    "\x1b[2Jclear",
    "\x1b]0;title\x07retitled",
    "over\rwritten",
    "back\x08space",
    "csi\x9b31m",
)
# What may never reach the terminal: the sequences above, raw.
RAW_CONTROLS = ("\x1b[2J", "\x1b]", "\x07", "\r", "\x08", "\x9b")


def hostile_result() -> GradeResult:
    """A result whose feedback carries the hostile messages, one per failed check."""
    checks = tuple(
        CheckResult(
            module="m",
            function=f"f{i}",
            check="values",
            score=0.0,
            max_score=1.0,
            passed=False,
            message=message,
        )
        for i, message in enumerate(HOSTILE)
    )
    return GradeResult(modules=(ModuleResult(name="m", title="M", checks=checks),), elapsed_s=1.0)


def rendered(result: GradeResult) -> str:
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    print_report(result, console)
    return console.file.getvalue()


def test_feedback_is_shown_literally_in_the_terminal_report():
    output = rendered(hostile_result())
    for literal in ("[/oops]", "[green]pwned", "jnp.dot(A[n], B[n])"):
        assert literal in output
    for raw in RAW_CONTROLS:
        assert raw not in output, repr(raw)
    for shown in (r"\x1b[2Jclear", r"\x1b]0;title\x07retitled", r"over\x0dwritten"):
        assert shown in output
    assert r"back\x08space" in output and r"csi\x9b31m" in output
    assert "Total: 0 / 8 points" in output


def test_one_cause_for_every_check_is_shown_literally_too():
    checks = tuple(
        CheckResult("m", "f", check, 0.0, 1.0, False, "[bold]\x1b[2J[/oops]")
        for check in ("shape", "values")
    )
    output = rendered(GradeResult((ModuleResult("m", "M", checks),), 1.0))
    assert r"[bold]\x1b[2J[/oops]" in output and "\x1b[2J" not in output


def test_results_json_keeps_feedback_plain():
    data = gradescope_results(hostile_result())
    assert [t["output"] for t in data["tests"]] == list(HOSTILE)
    assert json.loads(json.dumps(data)) == data


def write_results(out: Path, student: str, tests: list[tuple[str, float, float]]) -> None:
    """A student's results.json as the batch saves it (see batch._save), for checks of
    the toy course's `double` named as given."""
    folder = results_file(out, Path(student)).parent
    folder.mkdir(parents=True)
    checks = tuple(
        CheckResult("toy", "double", name, score, max_score, score == max_score, "")
        for name, score, max_score in tests
    )
    result = GradeResult((ModuleResult("toy", "Toy", checks),), 0.0)
    data = gradescope_results(result)
    data["difflearn"] = {
        "modules": {"toy": [sum(s for _, s, _ in tests), sum(m for _, _, m in tests)]},
        "max_score": sum(m for _, _, m in tests),
        "submission_sha256": "0" * 64,
    }
    (folder / "results.json").write_text(json.dumps(data))


STUDENTS = ("<img src=x onerror=alert(1)>", "**bold**|pipe", "[link](x.html)", "`tick`")


def hostile_class(out: Path) -> None:
    for student in STUDENTS:
        write_results(
            out,
            student,
            [
                ("values", 2 / 3, 2 / 3),
                ("<b>shout</b> | *x*", 0.0, 1 / 3),
            ],
        )


def table_rows(summary: str) -> list[str]:
    return [line for line in summary.splitlines() if line.startswith("|")]


def test_summary_markdown_escapes_names_and_keeps_its_table(tmp_path):
    hostile_class(tmp_path)
    summary = summarize(load_course(TOY / "course.yml"), tmp_path)
    assert (tmp_path / "summary.md").read_text() == summary
    for raw in ("<img", "<b>", "**bold**", "*x*", "[link]", "`tick`"):
        assert raw not in summary, raw
    for table in summary.split("\n\n"):
        rows = table_rows(table)
        # Every row has its table's columns: as many pipes that are not escaped.
        for row in rows:
            assert len(re.findall(r"(?<!\\)\|", row)) == rows[0].count("|"), row
    assert "| toy.double | 4 | 0 | 0 | 0 | 0 | 0.67 |" in summary
    assert "4 of 4 judged" in summary


def test_grades_csv_writes_points_with_at_most_two_decimals(tmp_path):
    hostile_class(tmp_path)
    rows = list(csv.reader(write_grades(load_course(TOY / "course.yml"), tmp_path).open()))
    assert rows[0] == ["student", "toy", "total"]
    assert sorted(r[0] for r in rows[1:]) == sorted(STUDENTS)
    assert {tuple(r[1:]) for r in rows[1:]} == {("0.67", "0.67")}


def fake_batch(monkeypatch: pytest.MonkeyPatch, students: list[StudentResult]) -> None:
    """cli.run_grade_batch without grading: `run_batch` reports the given students."""

    def run_batch(course, submissions, out, workers, progress, **options):
        for done, student in enumerate(students, 1):
            progress(student, done, len(students))
        return students

    def plan(course, out, folders, modules=None, regrade=()):
        return Plan(stamps={}, pending=list(folders))  # nobody graded yet

    monkeypatch.setattr(cli, "run_batch", run_batch)
    monkeypatch.setattr(cli, "plan", plan)
    monkeypatch.setattr(cli, "write_feedback", lambda course, out, modules: [])
    monkeypatch.setattr(cli, "write_grades", lambda course, out, modules: out / "grades.csv")
    monkeypatch.setattr(cli, "summarize", lambda course, out, modules: "# [/oops] summary\x1b[2J")


def batch_students(tmp_path: Path) -> list[StudentResult]:
    names = ["[/oops]", "\x1b[2Jclear"]
    for name in names:
        (tmp_path / "submissions" / name).mkdir(parents=True)
    return [
        StudentResult(names[0], 22.999899999999997, 22.999899999999997, failed=False),
        StudentResult(names[1], 0.0, 0.0, failed=True, message="grading failed: [red]\x1b]0;x"),
    ]


def grade_batch(tmp_path: Path) -> int:
    return cli.main(
        [
            "grade-batch",
            str(tmp_path / "submissions"),
            "--out",
            str(tmp_path / "out"),
            "--course",
            str(TOY / "course.yml"),
        ]
    )


def test_the_batch_log_shows_names_and_points_plainly(tmp_path, monkeypatch, capsys):
    fake_batch(monkeypatch, batch_students(tmp_path))
    assert grade_batch(tmp_path) == 0
    output = capsys.readouterr().out
    assert "[1/2] [/oops]: 23 / 23\n" in output
    assert r"[2/2] \x1b[2Jclear: FAILED: grading failed: [red]\x1b]0;x" in output
    assert "# [/oops] summary" in output
    assert "\x1b" not in output


def test_the_batch_progress_bar_shows_names_plainly(tmp_path, monkeypatch):
    fake_batch(monkeypatch, batch_students(tmp_path))
    terminal = io.StringIO()
    monkeypatch.setattr(
        cli, "Console", lambda **options: Console(file=terminal, force_terminal=True, **options)
    )
    assert grade_batch(tmp_path) == 0
    output = terminal.getvalue()
    assert "\x1b[2J" not in output and r"\x1b[2J" in output
    assert "# [/oops] summary" in output


def test_feedback_is_bounded_in_every_report():
    from grader.results import MAX_MESSAGE_CHARS, CheckResult

    huge = CheckResult(
        "toy", "double", "values", 0.0, 1.0, False, "expected {" + "'k': 1, " * 10**5
    )
    assert len(huge.message) <= MAX_MESSAGE_CHARS + len(" ... (cut)")
    assert huge.message.endswith("(cut)")


def timed_result(cpu_s: float) -> GradeResult:
    """One function, `fit`, that took `cpu_s` of its 10 s."""
    check = CheckResult("m", "fit", "values", 1.0, 1.0, True, "")
    module = ModuleResult("m", "M", (check,), times={"fit": Timing(cpu_s, 10.0)})
    return GradeResult(modules=(module,), elapsed_s=1.0)


def test_the_report_shows_each_function_s_cpu_time_and_a_hint_past_half_its_limit():
    fast, slow = rendered(timed_result(2.5)), rendered(timed_result(7.25))
    assert "2.5 s" in fast and "Hint" not in fast
    assert "Hint: fit took 7.2 s of its 10 s of CPU time: is a Python loop" in slow


def test_times_stay_out_of_results_json_but_in_its_extra_data():
    fast, slow = gradescope_results(timed_result(2.5)), gradescope_results(timed_result(7.25))
    assert fast["extra_data"]["times"] == {"m": {"fit": 2.5}}
    fast["extra_data"].pop("times"), slow["extra_data"].pop("times")
    assert fast == slow
