"""The difflearn command: the instructor's self-check, the stubs, JSON, and usage errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from grader.course.schema import load_course

COURSE = load_course(ROOT / "course.yml")
TOTAL = sum(m.points for m in COURSE.modules)
BCE = COURSE.module("bce").points


def difflearn(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("difflearn") or str(Path(sys.executable).parent / "difflearn")
    return subprocess.run(
        [executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_grading_the_solutions_gives_full_marks_and_valid_json(tmp_path):
    out = tmp_path / "results.json"
    run = difflearn("grade", "solutions/", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert f"Total: {TOTAL:g} / {TOTAL:g} points" in run.stdout
    results = json.loads(out.read_text())
    assert results["score"] == pytest.approx(TOTAL)
    assert results["tests"], "no tests in the report"
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output"}
        assert re.fullmatch(r"\w+\.\w+: [a-zA-Z ()]+", test["name"]), test["name"]
        assert test["status"] == "passed" and test["score"] == test["max_score"] > 0
        assert isinstance(test["output"], str)
    names = [t["name"] for t in results["tests"]]
    assert "bce.sigmoid: finite gradients" in names
    assert len(names) == len(set(names))
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(TOTAL, abs=1e-2)


def test_grading_the_stubs_gives_zero_with_a_readable_report(tmp_path):
    out = tmp_path / "results.json"
    run = difflearn("grade", "--module", "bce", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert f"Total: 0 / {BCE:g} points" in run.stdout
    assert "not implemented yet" in run.stdout
    results = json.loads(out.read_text())
    assert results["score"] == 0
    assert {t["status"] for t in results["tests"]} == {"failed"}
    assert {t["output"] for t in results["tests"]} == {"not implemented yet"}


def test_a_single_module_file_can_be_graded(tmp_path):
    run = difflearn("grade", "exercises/bce.py")
    assert run.returncode == 0 and f"Total: 0 / {BCE:g} points" in run.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grade", "no/such/folder"], "no such file or folder: no/such/folder"),
        (
            ["grade", "--module", "nosuch"],
            "unknown module 'nosuch'; course.yml has: primitives, bce,",
        ),
        (["grade", "README.md"], "is not a module of the course"),
        (["grade", "tests"], "no module of the course in tests"),
        (["grade", "--json", "/no/such/dir/results.json"], "cannot write"),
        (["grade", "--course", "missing.yml"], "cannot read the course manifest"),
        (["grade", "--explain", "bce"], "--explain bce: no graded function of that name"),
        (["grade", "--explain", "bce.softmax"], "bce.softmax: no graded function of that"),
        (["grade", "--explain", "nosuch.sigmoid"], "course.yml has no module 'nosuch'"),
        (["grade", "--function", "softmax"], "--function softmax: no graded function"),
        (["grade", "--watch", "no/such/folder"], "no such file or folder: no/such/folder"),
        (["grade", "--watch", "--explain", "bce.sigmoid"], "--watch grades, it does not"),
        (["grade-batch", "tests", "--module", "nosuch"], "unknown module 'nosuch'"),
        (["grade-batch", "tests", "--canvas-csv", "/no/such/dir/c.csv"], "cannot write"),
        (["merge", "no/such/out", "--to", "merged"], "no students/ in no/such/out"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    run = difflearn(*args)
    assert run.returncode == 2
    assert run.stderr.startswith("difflearn: error: ")
    assert message in run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_one_function_is_graded_alone(tmp_path):
    out = tmp_path / "results.json"
    run = difflearn("grade", "solutions/bce.py", "--function", "sigmoid", "--json", str(out))
    assert run.returncode == 0, run.stderr
    graded = {test["name"].split(":")[0] for test in json.loads(out.read_text())["tests"]}
    sigmoid = load_course(ROOT / "course.yml").module("bce").function("sigmoid")
    assert graded == {"bce.sigmoid"} and f"Total: {sigmoid.points:g} / " in run.stdout


def test_no_course_found_is_a_usage_error(tmp_path):
    run = difflearn("grade", cwd=tmp_path)
    assert run.returncode == 2 and "no course.yml in" in run.stderr


def test_a_bad_manifest_is_a_usage_error(tmp_path):
    bad = tmp_path / "course.yml"
    bad.write_text("title: t\nseed: 1\nmodules: []\n")
    run = difflearn("grade", "--course", str(bad))
    assert run.returncode == 2
    assert f"{bad}: modules: expected a non-empty list of modules" in run.stderr


def test_stubs_never_overwrite_work_without_force(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copy(ROOT / "course.yml", course / "course.yml")
    assert difflearn("stubs", "--check", cwd=course).returncode == 1

    assert difflearn("stubs", cwd=course).returncode == 0
    stub = course / "exercises" / "bce.py"
    assert stub.read_text() == (ROOT / "exercises" / "bce.py").read_text()
    assert difflearn("stubs", "--check", cwd=course).returncode == 0

    stub.write_text(stub.read_text() + "\n# my work\n")
    refused = difflearn("stubs", cwd=course)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert stub.read_text().endswith("# my work\n")
    assert difflearn("stubs", "--force", cwd=course).returncode == 0
    assert not stub.read_text().endswith("# my work\n")


def test_stubs_nobody_edited_follow_the_solutions_without_force(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copy(ROOT / "course.yml", course / "course.yml")
    assert difflearn("stubs", cwd=course).returncode == 0
    # The instructor rewrites two docstrings; a student (or a TA) edited one stub.
    for module in ("bce", "primitives"):
        solution = course / "solutions" / f"{module}.py"
        solution.write_text(solution.read_text().replace('"""', '"""Revised. ', 1))
    edited = course / "exercises" / "bce.py"
    edited.write_text(edited.read_text() + "\n# my work\n")
    refused = difflearn("stubs", cwd=course)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "bce.py: edited since difflearn generated it" in refused.stderr
    assert "primitives.py" not in refused.stderr
    assert edited.read_text().endswith("# my work\n")

    edited.write_text(difflearn_stub(course, "bce"))  # the edit undone: bce is current again
    run = difflearn("stubs", cwd=course)
    assert run.returncode == 0, run.stderr
    assert "primitives.py" in run.stdout  # regenerated: untouched since difflearn wrote it
    assert (course / "exercises" / "primitives.py").read_text().startswith('"""Revised. ')
    assert difflearn("stubs", "--check", cwd=course).returncode == 0


def difflearn_stub(course: Path, module: str) -> str:
    from grader.course.schema import load_course
    from grader.ship.stubs import course_stubs

    return course_stubs(load_course(course / "course.yml"))[module]


def test_explain_shows_the_first_failing_visible_case_whole(tmp_path):
    wrong = (ROOT / "solutions" / "bce.py").read_text(encoding="utf-8")
    wrong += "\n\ndef sigmoid(x):\n    return jax.nn.sigmoid(2.0 * x)\n"
    (tmp_path / "bce.py").write_text(wrong, encoding="utf-8")
    run = difflearn("grade", str(tmp_path / "bce.py"), "--explain", "bce.sigmoid")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert text.startswith("sigmoid: 'values' fails: case 1 of")
    assert "inputs:\n  x = [" in text and "expected (the reference):\n  output = [" in text
    assert "received (your function):\n  output = [" in text
    assert "unseen" not in text  # the unseen case fails too, and is never shown
    assert "Total:" not in text  # only the explanation
