"""`difflearn release`: a student copy that grades without solutions/ and holds none."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, with_override

import grader
from grader.cli import main
from grader.course.schema import load_course
from grader.engine import grade
from grader.reference.recorded import RecordedReference, reference_for
from grader.ship.notebook import build_notebook
from grader.ship.release import DOCS, NOTEBOOKS, RECORDING, grader_files, release
from grader.ship.stubs import BEGIN_MARKER, END_MARKER


@pytest.fixture(scope="module")
def released(tmp_path_factory, course) -> Path:
    copy = tmp_path_factory.mktemp("release") / "student"
    release(course, copy)
    return copy


@pytest.fixture(scope="module")
def student_side(released):
    course = load_course(released / "course.yml")
    return course, reference_for(course)


def solution_regions() -> list[str]:
    """The code between the solution markers of every reference module, line by line:
    lines of 25 characters or more that the handout does not show elsewhere (a hint in
    a docstring may spell out an API call that the solution then makes)."""
    lines = []
    for path in sorted((ROOT / "solutions").glob("*.py")):
        inside, hidden, shown = False, [], []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() == BEGIN_MARKER:
                inside = True
            elif line.strip() == END_MARKER:
                inside = False
            elif inside and len(line.strip()) >= 25 and not line.strip().startswith("#"):
                hidden.append(line.strip())
            elif not inside:
                shown.append(line)
        handout = "\n".join(shown)
        lines.extend(line for line in hidden if line not in handout)
    return lines


def released_text(released: Path) -> dict[Path, str]:
    texts = {}
    for path in released.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            texts[path] = data.decode("utf-8", errors="replace")
    return texts


def test_the_copy_holds_no_line_of_the_reference_solutions(released):
    regions = solution_regions()
    assert len(regions) > 50  # the scan looks for something real
    texts = released_text(released)
    leaked = [
        (str(path.relative_to(released)), line)
        for path, text in texts.items()
        for line in regions
        if line in text
    ]
    assert leaked == []
    assert not (released / "solutions").exists()
    # The exported programs carry no source locations (file names, line numbers).
    recording = json.loads(texts[released / RECORDING])
    for module in recording["modules"].values():
        for programs in module["programs"].values():
            for program in programs.values():
                assert b".py" not in base64.b64decode(program)
    # and the scan can fail: a copy of a solution file is found
    texts[released / "leak.py"] = (ROOT / "solutions" / "bce.py").read_text(encoding="utf-8")
    assert any(line in texts[released / "leak.py"] for line in regions)


def test_the_copy_has_what_a_student_needs(released):
    for name in ("README.md", "pyproject.toml", "course.yml", RECORDING, "tests/test_exercises.py"):
        assert (released / name).is_file(), name
    for module in load_course(ROOT / "course.yml").module_names:
        assert (released / "exercises" / f"{module}.py").read_text() == (
            ROOT / "exercises" / f"{module}.py"
        ).read_text()
    assert (released / "grader" / "engine.py").is_file()


def test_the_copy_is_the_course_pages_notebooks_and_a_readme_that_links_them(released):
    readme = (released / "README.md").read_text(encoding="utf-8")
    assert "pip install -e ." in readme and "difflearn grade notebooks/bce.ipynb" in readme
    for module in load_course(ROOT / "course.yml").module_names:
        page, notebook = f"{DOCS}/{module}.md", f"{NOTEBOOKS}/{module}.ipynb"
        assert (released / page).read_bytes() == (ROOT / page).read_bytes()
        assert (released / notebook).is_file()
        assert f"]({page})" in readme and f"]({notebook})" in readme
    for image in (ROOT / DOCS / "img").iterdir():
        assert (released / DOCS / "img" / image.name).read_bytes() == image.read_bytes()


def test_every_picture_a_released_page_shows_is_in_the_copy(released):
    # The loop above compares what docs/img holds; this follows the pages' own links, so a
    # picture a page shows but docs/img lacks (or the release leaves out) is caught too.
    shown = {
        (page.parent / link).resolve()
        for page in (released / DOCS).glob("*.md")
        for link in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
    }
    assert {"vmap_vs_loop.png", "scan_vs_unroll.png"} <= {p.name for p in shown}
    inside = released.resolve()  # a link out of the copy would only work here, not for students
    assert sorted(str(p) for p in shown if not (p.is_file() and p.is_relative_to(inside))) == []


def test_a_released_notebook_holds_the_stubs_and_grades_as_its_module(
    released, student_side, course, tmp_path
):
    # The leak scan above reads the notebooks too; here: stubs in, and gradable.
    student_course, reference = student_side
    path = released / NOTEBOOKS / "primitives.ipynb"
    notebook = json.loads(path.read_text(encoding="utf-8"))
    tests = [c for c in notebook["cells"] if c["metadata"]["nbgrader"]["grade"]]
    for cell in tests:  # a kernel runs in the notebook's folder; course.yml is one up
        (course_file,) = re.findall(r"course_file='(.+?)'", cell["source"])
        assert (path.parent / course_file).resolve() == released / "course.yml"
    stubs = grade(student_course, path, reference).modules[0]
    assert stubs.score == 0 and stubs.max_score == course.module("primitives").points
    assert all("not implemented" in c.message for c in stubs.checks)
    # The reference's bodies pasted into the stub cells: full marks.
    solved = {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in build_notebook(course, course.module("primitives"))["cells"]
    }
    for cell in notebook["cells"]:
        if cell["metadata"]["nbgrader"]["solution"]:
            assert "raise NotImplementedError()" in cell["source"]
            cell["source"] = solved[cell["metadata"]["nbgrader"]["grade_id"]]
    filled = tmp_path / "primitives.ipynb"
    filled.write_text(json.dumps(notebook), encoding="utf-8")
    result = grade(student_course, filled, reference).modules[0]
    assert [f"{c.name}: {c.message}" for c in result.checks if not c.passed] == []


def test_the_copy_holds_the_whole_grader_subpackages_included(released):
    copied = {
        p.relative_to(released / "grader").as_posix()
        for p in (released / "grader").rglob("*")
        if p.is_file()
    }
    assert copied == set(grader_files()) and "runner/sandbox/__init__.py" in copied


def test_a_new_subpackage_reaches_the_copy_and_the_bundle(tmp_path, course, monkeypatch):
    from grader.ship.gradescope import build_bundle

    package = tmp_path / "package" / "grader"
    shutil.copytree(Path(grader.__file__).parent, package, ignore=shutil.ignore_patterns("*.pyc"))
    (package / "newpart").mkdir()
    (package / "newpart" / "__init__.py").write_text("PART = 1\n")
    monkeypatch.setattr(grader, "__file__", str(package / "__init__.py"))
    release(course, tmp_path / "copy")
    assert (tmp_path / "copy" / "grader" / "newpart" / "__init__.py").read_text() == "PART = 1\n"
    names = build_bundle(course, tmp_path / "bundle.zip")
    assert "grader/newpart/__init__.py" in names


def _wheel_names(source: Path, to: Path) -> set[str]:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--wheel-dir", str(to), str(source)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = to.glob("*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_an_installed_wheel_holds_every_subpackage(tmp_path):
    # What Gradescope's setup.sh installs: `pip install` of the source, not an editable
    # one. Built from a clean copy: a checkout's build/ folder may hold an older build.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "grader", source / "grader", ignore=shutil.ignore_patterns("*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / name, source / name)
    held = _wheel_names(source, tmp_path)
    wanted = {f"grader/{name}" for name in grader_files() if name.endswith(".py")}
    assert wanted - held == set()


def test_a_student_copy_installs_every_subpackage(released, tmp_path):
    # A student runs `pip install .` (or -e) in the copy: its own pyproject must find the
    # grader's subpackages too, and carry the grader's version.
    source = tmp_path / "copy"
    shutil.copytree(released, source, ignore=shutil.ignore_patterns("*.pyc", "build"))
    held = _wheel_names(source, tmp_path)
    wanted = {f"grader/{name}" for name in grader_files() if name.endswith(".py")}
    assert wanted - held == set()
    assert any(n.startswith(f"difflearn_student-{grader.__version__}") for n in held)


def test_released_stubs_score_zero_and_the_reference_full_marks(student_side, released):
    course, reference = student_side
    assert isinstance(reference, RecordedReference)
    stubs = grade(course, released / "exercises", reference)
    assert stubs.score == 0 and stubs.max_score == pytest.approx(course.points)
    pasted = grade(course, ROOT / "solutions", reference)
    assert [f"{c.name}: {c.message}" for c in pasted.checks if not c.passed] == []
    assert pasted.score == pytest.approx(course.points)


def test_a_wrong_fit_fails_against_the_recorded_objective(student_side, tmp_path):
    # The final loss is the reference's negative log-likelihood of the student's fit,
    # computed in the copy by a program exported at release, not by any source code.
    course, reference = student_side
    stalled = with_override(
        "hmm",
        """
        def fit_hmm(raw, xs, learning_rate, num_steps):
            loss = negative_log_likelihood(raw, xs)
            return raw, jnp.full((num_steps,), loss)
        """,
    )
    (tmp_path / "hmm.py").write_text(stalled, encoding="utf-8")
    result = grade(course, tmp_path / "hmm.py", reference).modules[0]
    failures = {c.check: c.message for c in result.checks if not c.passed}
    assert set(failures) == {"final loss", "losses fall", "means up to relabelling"}
    assert "the reference's fit" in failures["final loss"]


def test_release_never_overwrites_without_force(tmp_path, capsys):
    target = tmp_path / "copy"
    target.mkdir()
    (target / "work.py").write_text("my work\n")
    course_file = str(ROOT / "course.yml")
    assert main(["release", "--to", str(target), "--course", course_file]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["release", "--to", str(target), "--course", course_file, "--force"]) == 2
    assert "not an earlier release" in capsys.readouterr().err
    assert (target / "work.py").read_text() == "my work\n"
    inside = ROOT / "student-copy"
    assert main(["release", "--to", str(inside), "--course", course_file]) == 2
    assert "inside the course folder" in capsys.readouterr().err and not inside.exists()


def test_pytest_in_the_copy_runs_one_test_per_check(released, tmp_path):
    copy = tmp_path / "student"
    shutil.copytree(released, copy)
    env = {**os.environ, "PYTHONPATH": str(copy)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "sigmoid"]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True)

    stubs = run()
    assert stubs.returncode == 1, stubs.stdout + stubs.stderr
    failed_ids = re.findall(r"FAILED tests/test_exercises.py::test\[(.+?)\]", stubs.stdout)
    sigmoid = load_course(ROOT / "course.yml").module("bce").function("sigmoid")
    assert sorted(failed_ids) == sorted(f"bce.sigmoid: {c.title}" for c in sigmoid.checks)
    assert "NotImplementedError" in stubs.stdout or "not implemented" in stubs.stdout

    shutil.copy(ROOT / "solutions" / "bce.py", copy / "exercises" / "bce.py")
    solved = run()
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert f"{len(sigmoid.checks)} passed" in solved.stdout


def test_the_recording_is_reproducible(course, released, tmp_path):
    again = tmp_path / "again"
    release(course, again)
    assert (again / RECORDING).read_bytes() == (released / RECORDING).read_bytes()
