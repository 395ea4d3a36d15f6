"""`difflearn nbgrader autograde`: nbgrader's scores, decided in the sandbox.

`nbgrader autograde ASSIGNMENT` runs each submitted notebook in a kernel and scores a
test cell by what it printed. The student's code runs in that kernel too, so it can
make a test cell pass: a solution cell that replaces `check`, or a `grader/` folder
beside the notebook, which comes first on the kernel's path. The kernel's scores are
therefore only a student's self-check. This command decides the scores that count:

  1. it reads the gradebook nbgrader's autograde filled (the submissions, the test
     cells and their points) and checks it against course.yml;
  2. it grades every submitted notebook as `difflearn grade-batch` does (grader.batch:
     one sandboxed process per student, parallel workers, the instructor's live
     reference with its unseen cases), keeping the results in
     `DIR/difflearn/<assignment>/` (a run again grades only what changed);
  3. it writes each test cell's score into the gradebook through nbgrader's
     `Gradebook` API, and replaces the test cells' outputs in the autograded notebook
     with the sandbox's feedback, so `nbgrader generate_feedback` shows both.

Which score: the `auto_score`. nbgrader computes a grade's `score` as the manual score
where a human set one, else the auto score (plus any extra credit), and feedback,
export and formgrader all read `score`. The auto score is the autograder's number, the
one the kernel decided, so the sandbox's replaces it; a manual score is an
instructor's decision, which no command should silently undo, so it is kept, and, as
nbgrader's own SaveAutoGrades does, its grade is marked as needing manual grading, so
that the instructor looks at it again beside the new auto score. The command says how
many it kept.

The assignment is a module of the course (nbgrader's assignment `bce` holds
`bce.ipynb`), in nbgrader's default directory structure, which `difflearn nbgrader`
sets up.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.batch import Progress, run_batch, saved_result
from grader.course.specs import Course, ModuleSpec
from grader.errors import UsageError
from grader.output.report import atomic_write, function_feedback, results_checks
from grader.results import CheckResult, ModuleResult, format_points, round_points
from grader.runner.cells import bounded_notes
from grader.ship.notebook import test_cell_id

RESULTS = "difflearn"  # DIR/difflearn/<assignment>/: the sandbox's results, kept for a rerun
HEADER = "Graded by difflearn, outside the notebook's kernel:"


@dataclass(frozen=True)
class NbgraderCourse:
    """Where an nbgrader course folder keeps what this command reads and writes.

    Attributes:
      root: the course folder (nbgrader's `CourseDirectory.root`).
      db_url: the gradebook's database.
      course_id: nbgrader's name of the course, which the gradebook is opened with.
      submitted: the folder of the submissions, `<student>/<assignment>/` in it.
      autograded: the folder of the autograded notebooks, laid out the same way.
    """

    root: Path
    db_url: str
    course_id: str
    submitted: Path
    autograded: Path

    @property
    def gradebook_file(self) -> Path | None:
        """The gradebook's file, where it is a SQLite database (nbgrader's default)."""
        prefix = "sqlite:///"
        return Path(self.db_url[len(prefix) :]) if self.db_url.startswith(prefix) else None

    def notebook(self, stage: Path, student: str, module: str) -> Path:
        """A student's notebook of `module` (the assignment of the same name) in `stage`."""
        return stage / student / module / f"{module}.ipynb"


@dataclass(frozen=True)
class StudentScores:
    """What the command wrote for one student: the points, and the manual scores kept."""

    student: str
    score: float
    max_score: float
    manual_kept: int
    failed: str = ""  # why grading itself failed, if it did


def open_nbgrader_course(course_dir: Path) -> NbgraderCourse:
    """The nbgrader course at `course_dir`, as its nbgrader_config.py sets it up."""
    config_file = course_dir / "nbgrader_config.py"
    if not config_file.is_file():
        raise UsageError(
            f"no nbgrader_config.py in {course_dir}: not an nbgrader course folder "
            "(`difflearn nbgrader --course-dir DIR` makes one); pass --course-dir"
        )
    try:
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader
    except ImportError:
        raise UsageError("nbgrader is not installed: pip install nbgrader") from None
    root = course_dir.resolve()
    try:
        config = PyFileConfigLoader(config_file.name, path=str(root)).load_config()
    except Exception as error:  # the instructor's own Python, which may have a mistake
        raise UsageError(f"{config_file}: {type(error).__name__}: {error}") from None
    folders = CourseDirectory(config=config, root=str(root))
    nbgrader = NbgraderCourse(
        root=root,
        db_url=folders.db_url,
        course_id=folders.course_id,
        submitted=root / folders.submitted_directory,
        autograded=root / folders.autograded_directory,
    )
    expected = nbgrader.notebook(nbgrader.submitted, "S", "A").parent
    if Path(folders.format_path(folders.submitted_directory, "S", "A")) != expected:
        raise UsageError(
            f"{config_file} changes nbgrader's directory_structure; difflearn reads only "
            "the default, {nbgrader_step}/{student_id}/{assignment_id}"
        )
    return nbgrader


def autograde(
    course: Course,
    nbgrader: NbgraderCourse,
    assignment: str,
    workers: int,
    students: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> list[StudentScores]:
    """Grades the submissions of `assignment` (of `students`, by default all) in the
    sandbox and writes their scores into the gradebook (see the module's doc)."""
    module = _module(course, assignment)
    with _open_gradebook(nbgrader) as gradebook:
        cells = _test_cells(gradebook, module)
        names = _students(gradebook, nbgrader, module.name, students)
    out = nbgrader.root / RESULTS / module.name
    folders = [nbgrader.submitted / name for name in names]
    run_batch(
        course,
        nbgrader.submitted,
        out,
        workers,
        progress,
        students=folders,
        modules=[module.name],
    )
    saved = {n: _saved_result(module, out, f) for n, f in zip(names, folders, strict=True)}
    written = []
    with _open_gradebook(nbgrader) as gradebook:
        for name, (result, failure) in saved.items():
            kept = _write_grades(gradebook, module.name, name, cells, result)
            written.append(StudentScores(name, result.score, result.max_score, kept, failure))
    for name, (result, _) in saved.items():
        _write_feedback(nbgrader.notebook(nbgrader.autograded, name, module.name), cells, result)
    return written


def _module(course: Course, assignment: str) -> ModuleSpec:
    """The module an assignment grades, from a course that has the live reference."""
    if assignment not in course.module_names:
        raise UsageError(
            f"assignment {assignment!r} is not a module of the course; "
            f"course.yml has: {', '.join(course.module_names)}"
        )
    if course.recorded_file is not None:
        raise UsageError(
            f"{course.path} grades against a recording (a student copy's, or an nbgrader "
            "assignment's); pass the instructor's course.yml, beside solutions/, with --course"
        )
    return course.module(assignment)


def _open_gradebook(nbgrader: NbgraderCourse) -> Any:
    """nbgrader's Gradebook, which must exist: opening a missing one would make it."""
    from nbgrader.api import Gradebook

    file = nbgrader.gradebook_file
    if file is not None and not file.is_file():
        raise UsageError(
            f"no gradebook {file}: run `nbgrader autograde ASSIGNMENT` in the course folder first"
        )
    return Gradebook(nbgrader.db_url, nbgrader.course_id)


def _test_cells(gradebook: Any, module: ModuleSpec) -> dict[str, str]:
    """The function each test cell grades, by grade_id, once the gradebook's cells agree
    with course.yml: one per function, worth its points."""
    from nbgrader.api import MissingEntry

    try:
        notebook = gradebook.find_notebook(module.name, module.name)
    except MissingEntry:
        raise UsageError(
            f"the gradebook has no assignment {module.name!r} with a notebook "
            f"{module.name}.ipynb: run `nbgrader generate_assignment {module.name}` and "
            f"`nbgrader autograde {module.name}` first"
        ) from None
    points = {cell.name: cell.max_score for cell in notebook.grade_cells}
    cells = {}
    for function in module.functions:
        grade_id = test_cell_id(module.name, function.name)
        worth = f"{module.name}.{function.name} is worth {format_points(function.points)}"
        if grade_id not in points:
            problem = f"has no test cell {grade_id}, where {worth} points in course.yml"
        elif round_points(points[grade_id]) != round_points(function.points):
            problem = f"gives {grade_id} {format_points(points[grade_id])} points, where {worth}"
        else:
            cells[grade_id] = function.name
            continue
        raise UsageError(
            f"the gradebook's {module.name}.ipynb {problem}: generate the assignment again "
            "from course.yml (`difflearn nbgrader --force`, then nbgrader)"
        )
    return cells


def _students(
    gradebook: Any, nbgrader: NbgraderCourse, assignment: str, wanted: Sequence[str] | None
) -> list[str]:
    """The students to grade, each with a submission both on disk and in the gradebook."""
    recorded = {s.student.id for s in gradebook.assignment_submissions(assignment)}
    on_disk = {
        p.parent.name
        for p in nbgrader.submitted.glob(f"*/{assignment}")
        if p.is_dir() and not p.parent.is_symlink() and not p.parent.name.startswith(".")
    }
    if unrecorded := sorted(on_disk - recorded):
        raise UsageError(
            f"submissions of {assignment} not in the gradebook, from: {', '.join(unrecorded)}; "
            f"run `nbgrader autograde {assignment}` first"
        )
    if missing := sorted(recorded - on_disk):
        raise UsageError(
            f"the gradebook has submissions of {assignment} that {nbgrader.submitted} has "
            f"not, from: {', '.join(missing)}"
        )
    if unknown := [name for name in wanted or () if name not in recorded]:
        raise UsageError(
            f"no submission of {assignment} in the gradebook from: {', '.join(unknown)}"
        )
    if not recorded:
        raise UsageError(
            f"the gradebook has no submissions of {assignment}: "
            f"run `nbgrader autograde {assignment}` first"
        )
    return sorted(set(wanted or recorded))


def _saved_result(module: ModuleSpec, out: Path, folder: Path) -> tuple[ModuleResult, str]:
    """A student's results for `module`, as the batch saved them, and why grading itself
    failed, if it did (nothing gradable, a worker that died): then every check failed
    with that reason."""
    data = saved_result(out, folder)
    if data is None:
        raise UsageError(f"no results for {folder.name} in {out}; run the command again")
    meta = data.get("difflearn", {})
    if meta.get("failed"):
        failure = str(data.get("output", "grading failed"))
        checks = tuple(
            CheckResult(module.name, f.name, spec.title, 0.0, f.check_points(spec), False, failure)
            for f in module.functions
            for spec in f.checks
        )
        return ModuleResult(name=module.name, title=module.title, checks=checks), failure
    try:
        checks = tuple(c for c in results_checks(data) if c.module == module.name)
    except ValueError as error:
        raise UsageError(f"{folder.name}'s results in {out}: {error}; delete them") from None
    notes = bounded_notes(meta.get("notes", {}).get(module.name, ()))
    return ModuleResult(name=module.name, title=module.title, checks=checks, notes=notes), ""


def _write_grades(
    gradebook: Any, module: str, student: str, cells: dict[str, str], result: ModuleResult
) -> int:
    """Each test cell's auto score; the number of manual scores kept (see the module's doc)."""
    notebook = gradebook.find_submission_notebook(module, module, student)
    kept = 0
    for grade in notebook.grades:
        function = cells.get(grade.name)
        if function is None:
            continue  # a cell of the instructor's own, graded by hand
        grade.auto_score = result.function_score(function)[0]
        grade.needs_manual_grade = grade.manual_score is not None
        kept += grade.manual_score is not None
    gradebook.db.commit()
    return kept


def _write_feedback(path: Path, cells: dict[str, str], result: ModuleResult) -> None:
    """Replaces the outputs of the test cells of an autograded notebook with the sandbox's
    feedback (nothing to do where nbgrader wrote none)."""
    if not path.is_file():
        return
    import nbformat

    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    for cell in notebook.cells:
        function = cells.get(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
        if function is None or cell.cell_type != "code":
            continue
        text = "\n".join([HEADER, *function_feedback(result, function)]) + "\n"
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    mode = stat.S_IMODE(path.stat().st_mode)  # nbgrader's choice (read-only, or group-shared)
    atomic_write(path, nbformat.writes(notebook))
    os.chmod(path, mode)
