"""Grading a whole class (on the toy course), and the Gradescope autograder bundle."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, TOY, make_class

from grader.batch import find_students, plan, run_batch, summarize, write_grades
from grader.course.schema import load_course
from grader.ship.gradescope import build_bundle


def difflearn_command() -> str:
    return shutil.which("difflearn") or str(Path(sys.executable).parent / "difflearn")


def test_a_class_is_graded_summarized_and_resumed(tmp_path):
    course = load_course(TOY / "course.yml")
    submissions, out = make_class(tmp_path), tmp_path / "grades"
    graded = run_batch(course, submissions, out, workers=2)
    assert sorted(s.student for s in graded) == ["ada", "bob", "eve", "zed"]
    scores = {s.student: s.score for s in graded}
    assert scores["ada"] == pytest.approx(9) and 0 < scores["bob"] < 9
    assert scores["eve"] == 0 and scores["zed"] == 0
    assert [s.failed for s in graded if s.student == "zed"] == [True]
    eve = json.loads((out / "students" / "eve" / "results.json").read_text())
    checks = sum(len(f.checks) for f in course.module("toy").functions)
    assert len(eve["tests"]) == checks and "exited with status 0" in eve["tests"][0]["output"]

    rows = list(csv.reader(write_grades(course, out).open()))
    assert rows[0] == ["student", "toy", "total"]
    assert [r[0] for r in rows[1:]] == ["ada", "bob", "eve", "zed"]
    assert float(rows[1][1]) == pytest.approx(9) == float(rows[1][2])
    summary = summarize(course, out)
    assert "4 students" in summary and "3 graded, 1 with nothing to grade" in summary
    # eve's process died at import: counted apart, never as a mistake in double's values.
    assert "| toy | 3 | 1 | 0 | 0 | 1 |" in summary
    assert "| toy.double | 2 | 1 | 0 | 0 | 1 |" in summary
    assert "- toy.double: values: 1 of 2 judged" in summary

    # A second run grades nothing again; a changed submission is graded again.
    stamp = (out / "students" / "ada" / "results.json").stat().st_mtime_ns
    assert run_batch(course, submissions, out, workers=2) == []
    assert (out / "students" / "ada" / "results.json").stat().st_mtime_ns == stamp
    shutil.copy(TOY / "solutions" / "toy.py", submissions / "bob" / "toy.py")
    again = run_batch(course, submissions, out, workers=1)
    assert [(s.student, s.score) for s in again] == [("bob", pytest.approx(9))]
    assert not list(out.rglob(".results.json.*")), "a temporary file was left behind"

    # Points changed in course.yml: every result is stale, and graded again.
    changed = tmp_path / "course"
    shutil.copytree(TOY, changed)
    manifest = changed / "course.yml"
    manifest.write_text(manifest.read_text().replace("points: ", "points: 1", 1))
    recourse = load_course(manifest)
    assert len(plan(recourse, out, find_students(submissions)).pending) == 4
    assert plan(course, out, find_students(submissions)).pending == []
    forced = plan(course, out, find_students(submissions), regrade=[submissions / "zed"])
    assert forced.pending == [submissions / "zed"]


def test_regrade_options_name_students_or_all(tmp_path):
    submissions, out = make_class(tmp_path), tmp_path / "grades"
    for student in ("bob", "eve", "zed"):  # one student is quicker to grade twice
        shutil.rmtree(submissions / student)
    command = [difflearn_command(), "grade-batch", str(submissions), "--out", str(out)]
    command += ["--course", str(TOY / "course.yml"), "--workers", "1"]
    assert subprocess.run(command, capture_output=True, text=True).returncode == 0
    results = out / "students" / "ada" / "results.json"
    stamp = results.stat().st_mtime_ns
    again = subprocess.run([*command, "--student", "ada"], capture_output=True, text=True)
    assert again.returncode == 0 and results.stat().st_mtime_ns != stamp
    unknown = subprocess.run([*command, "--student", "nobody"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "no student folder nobody in" in unknown.stderr
    assert unknown.stderr.count("\n") == 1
    stamp = results.stat().st_mtime_ns
    regraded = subprocess.run([*command, "--regrade"], capture_output=True, text=True)
    assert regraded.returncode == 0 and results.stat().st_mtime_ns != stamp


def test_a_killed_batch_resumes_without_regrading(tmp_path):
    submissions, out = make_class(tmp_path), tmp_path / "grades"
    command = [
        difflearn_command(),
        "grade-batch",
        str(submissions),
        "--out",
        str(out),
        "--workers",
        "1",
        "--course",
        str(TOY / "course.yml"),
    ]
    batch = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("students/*/results.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(batch.pid, signal.SIGKILL)
    batch.wait()
    finished = {p.parent.name for p in out.glob("students/*/results.json")}
    assert finished, "no student was graded before the kill"
    for path in out.glob("students/*/results.json"):
        json.loads(path.read_text())  # never half-written
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(finished)} of 4 students already graded" in resumed.stdout
    graded_now = {
        line.split("]")[1].split(":")[0].strip()
        for line in resumed.stdout.splitlines()
        if line.startswith("[")
    }
    assert graded_now == {"ada", "bob", "eve", "zed"} - finished
    assert (out / "grades.csv").is_file() and (out / "summary.md").is_file()


def test_odd_folder_names_neither_break_the_batch_nor_overwrite_its_outputs(tmp_path):
    course = load_course(TOY / "course.yml")
    submissions, out = tmp_path / "submissions", tmp_path / "grades"
    names = ["grades.csv", "summary.md", "-rf", "with space", "ünïcødé", "students"]
    for name in names:
        (submissions / name).mkdir(parents=True)
        shutil.copy(TOY / "solutions" / "toy.py", submissions / name / "toy.py")
    # Links are not students: not to another student, nor to the course.
    (submissions / "link-to-a-classmate").symlink_to(submissions / "-rf")
    (submissions / "link-to-the-course").symlink_to(TOY)
    graded = run_batch(course, submissions, out, workers=2)
    assert sorted(s.student for s in graded) == sorted(names)
    assert all(s.score == pytest.approx(9) for s in graded)
    rows = list(csv.reader(write_grades(course, out).open()))
    assert sorted(r[0] for r in rows[1:]) == sorted(names)
    assert "6 students" in summarize(course, out)
    assert (out / "grades.csv").is_file() and (out / "summary.md").is_file()


def test_batch_usage_errors(tmp_path):
    run = subprocess.run(
        [difflearn_command(), "grade-batch", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 2 and "no such folder" in run.stderr


def run_autograder(bundle: Path, root: Path, files: dict[str, str]) -> dict:
    """Lays out /autograder in `root` as Gradescope does and runs run_autograder."""
    shutil.rmtree(root, ignore_errors=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir(parents=True)
    for name, text in files.items():
        (root / "submission" / name).write_text(text)
    script = root / "source" / "run_autograder"
    script.chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "DIFFLEARN_PYTHON": sys.executable}
    subprocess.run(["bash", str(script)], env=env, timeout=300, check=True, capture_output=True)
    return json.loads((root / "results" / "results.json").read_text())


def test_the_gradescope_bundle_grades_right_wrong_and_empty_submissions(tmp_path):
    course = load_course(ROOT / "course.yml")
    bundle = tmp_path / "autograder.zip"
    names = build_bundle(course, bundle)
    assert {
        "setup.sh",
        "run_autograder",
        "course.yml",
        "solutions/bce.py",
        "grader/cli.py",
        "pyproject.toml",
    } <= set(names)
    with pytest.raises(Exception, match="--force"):
        build_bundle(course, bundle)

    root = tmp_path / "autograder"
    right = run_autograder(bundle, root, {"bce.py": (ROOT / "solutions" / "bce.py").read_text()})
    assert right["score"] == pytest.approx(23)
    # The whole course is the assignment: the modules not uploaded count, at 0 points.
    bce = [t for t in right["tests"] if t["name"].startswith("bce.")]
    assert bce and all(t["status"] == "passed" for t in bce)
    others = [t for t in right["tests"] if not t["name"].startswith("bce.")]
    assert others and all(t["output"].startswith("not submitted") for t in others)
    total = sum(m.points for m in course.modules)
    assert right["output"].startswith(f"23 / {total:g} points")
    stub = run_autograder(bundle, root, {"bce.py": (ROOT / "exercises" / "bce.py").read_text()})
    assert stub["score"] == 0 and stub["tests"]
    empty = run_autograder(bundle, root, {"readme.txt": "nothing"})
    assert empty["score"] == 0 and empty["output"].startswith(f"0 / {total:g} points")
    assert all(t["output"].startswith("not submitted") for t in empty["tests"])


def test_a_broken_reference_stops_the_batch_and_counts_no_student_as_empty(tmp_path):
    """The course's fault would be every student's: the batch stops with one line, rather
    than record each student as having submitted nothing."""
    course = tmp_path / "course"
    shutil.copytree(TOY, course)
    toy = course / "solutions" / "toy.py"
    toy.write_text(toy.read_text() + "\n\ndef double(x):\n    raise ValueError('broken')\n")
    submissions, out = make_class(tmp_path), tmp_path / "grades"
    run = subprocess.run(
        [difflearn_command(), "grade-batch", str(submissions), "--out", str(out),
         "--course", str(course / "course.yml"), "--workers", "1"],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=600,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "the reference toy.double failed" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    saved = [json.loads(p.read_text()) for p in out.glob("students/*/results.json")]
    assert not [s for s in saved if s["difflearn"].get("nothing_to_grade")]
