"""Grading a whole class: one folder per student, graded in parallel worker processes.

Each worker loads the course and its reference once and grades students one after
another (each student's code still runs in children of its own). The batch writes
`<out>/<student>/results.json` as each student finishes, atomically, so an
interrupted batch resumes where it stopped: a student whose results exist for the
same submission files is not graded again. At the end, `grades.csv` and
`summary.md` are made from every student's results in `<out>`.
"""

from __future__ import annotations

import json
import multiprocessing
import stat
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import __version__
from grader.course.specs import Course
from grader.errors import NothingToGrade, SubmissionError, UsageError
from grader.output.exports import (
    PICTURES,
    StudentResults,
    canvas_csv,
    class_stats,
    feedback_markdown,
    grades_csv,
    read_results,
    summary_markdown,
)
from grader.output.plots import pictures
from grader.output.report import atomic_write, gradescope_results
from grader.results import round_points
from grader.runner.cache import course_version
from grader.runner.intake import read_submission

RESULTS = "results.json"
FEEDBACK = "feedback.md"
STUDENTS = "students"


@dataclass(frozen=True)
class StudentResult:
    student: str
    score: float
    max_score: float
    failed: bool  # the grading itself failed (nothing gradable, a broken worker)
    message: str = ""


# Called as each student is done: their result, how many are done, of how many to grade.
Progress = Callable[[StudentResult, int, int], None]


def find_students(submissions: Path) -> list[Path]:
    """The student folders of a submissions folder, in name order: real folders only (a
    link to another student's folder, or to the course, is no student)."""
    if not submissions.is_dir():
        raise UsageError(f"no such folder: {submissions}")
    students = sorted(
        p
        for p in submissions.iterdir()
        if not p.name.startswith(".") and stat.S_ISDIR(p.lstat().st_mode)
    )
    if not students:
        raise UsageError(f"no student folders in {submissions}")
    return students


def fingerprint(course: Course, folder: Path, modules: Sequence[str] | None = None) -> str:
    """A hash of what would be graded of a student's folder (its `modules`, by default
    all), to tell a resumed run what changed: read as grading reads it (grader.runner.intake),
    so a link is never followed."""
    names = modules or course.module_names
    return read_submission(folder, names, course.max_file_bytes).fingerprint()


def results_file(out: Path, student: Path) -> Path:
    """Where a student's results go: below `students/`, so that no student's folder name
    (`grades.csv`, `summary.md`) can stand where the batch writes its own files."""
    return out / STUDENTS / student.name / RESULTS


def graded_against(course: Course) -> str:
    """A hash of what a result depends on besides the student's files: course.yml, the
    reference (its solutions, or a copy's recording) and the versions of the grader and
    JAX. A result saved under another is stale, and the next run grades it again."""
    from importlib.metadata import PackageNotFoundError, version

    if course.recorded_file is not None:
        reference = [course.recorded_file]
    else:
        reference = sorted(course.solutions_dir.glob("*.py"))
    try:
        jax_version = version("jax")
    except PackageNotFoundError:
        jax_version = "unknown"
    return course_version([course.path, *reference], __version__, jax_version)


@dataclass(frozen=True)
class Plan:
    """Who a run grades.

    Attributes:
      stamps: for each student, what a current result records: the hash of their files
        as they are (`submission_sha256`) and what they are graded against.
      pending: the students whose saved result is not current (there is none, their
        files changed, or the course did), and those asked for again.
    """

    stamps: dict[Path, dict[str, str]]
    pending: list[Path]


def plan(
    course: Course,
    out: Path,
    students: Sequence[Path],
    modules: Sequence[str] | None = None,
    regrade: Collection[Path] = (),
) -> Plan:
    """Who of `students` needs grading into `out`; `regrade` ones always do."""
    against = graded_against(course)
    # Hashed before grading: a file changed while it is graded gets graded again next run.
    stamps = {
        s: {"submission_sha256": fingerprint(course, s, modules), "graded_against": against}
        for s in students
    }
    pending = [s for s in students if s in regrade or not _current(out, s, stamps[s])]
    return Plan(stamps, pending)


def _current(out: Path, student: Path, stamp: dict[str, str]) -> bool:
    saved = saved_result(out, student)
    recorded = saved.get("difflearn", {}) if saved is not None else {}
    return isinstance(recorded, dict) and all(recorded.get(k) == v for k, v in stamp.items())


def run_batch(
    course: Course,
    submissions: Path,
    out: Path,
    workers: int,
    progress: Progress | None = None,
    *,
    students: Sequence[Path] | None = None,
    modules: Sequence[str] | None = None,
    planned: Plan | None = None,
) -> list[StudentResult]:
    """Grades every student not yet graded (see `plan`, or the `planned` run); returns
    what this run graded. `students` (folders in `submissions`) and `modules` narrow it;
    by default, all of both."""
    students = find_students(submissions) if students is None else list(students)
    if planned is None:
        planned = plan(course, out, students, modules)
    pending, stamps = list(planned.pending), planned.stamps
    out.mkdir(parents=True, exist_ok=True)
    graded: list[StudentResult] = []
    broken: Counter[Path] = Counter()
    total = len(pending)
    while pending:
        pending = _run_pool(course, pending, out, workers, graded, progress, total, stamps, modules)
        broken.update(pending[:1])
        for student in [s for s in pending if broken[s] >= 2]:
            # Twice in a pool that broke: grade it no more, and say so.
            pending.remove(student)
            failure = _failure("grading failed: a worker died twice")
            graded.append(_save(out, student, failure, stamps[student]))
    return graded


def _run_pool(
    course: Course,
    pending: list[Path],
    out: Path,
    workers: int,
    graded: list[StudentResult],
    progress: Progress | None,
    total: int,
    stamps: dict[Path, dict[str, str]],
    modules: Sequence[str] | None,
) -> list[Path]:
    """Grades `pending` in one pool; returns the students left if the pool broke."""
    context = multiprocessing.get_context("spawn")  # JAX does not survive a fork
    # The results of the class are the class's too: no student's process may read them.
    (out / STUDENTS).mkdir(parents=True, exist_ok=True)
    private = [str(p) for p in [*private_folders(pending[0].parent), out / STUDENTS]]
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(str(course.path), private, list(modules) if modules else None),
    ) as pool:
        futures: dict[Future[dict[str, Any]], Path] = {
            pool.submit(_grade_student, str(s)): s for s in pending
        }
        remaining = set(futures)
        try:
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    student = futures[future]
                    try:
                        data = future.result()
                    except BrokenProcessPool:
                        # A worker died: the students it had not finished go to a new pool.
                        return [futures[f] for f in (remaining | {future})]
                    except UsageError:  # the course or the sandbox: every student would fail
                        raise
                    except Exception as error:  # the grader itself failed on this student
                        data = _failure(f"grading failed: {type(error).__name__}: {error}")
                    graded.append(_save(out, student, data, stamps[student]))
                    if progress is not None:
                        progress(graded[-1], len(graded), total)
        except (KeyboardInterrupt, UsageError):  # what is graded so far is saved
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return []


_worker: dict[str, Any] = {}


def private_folders(submissions: Path) -> list[Path]:
    """What a student's process must not see besides the course: the whole class and,
    in an nbgrader course (`submitted/` beside `source/`), the other stages' folders."""
    folders = [submissions]
    course = submissions.parent
    if submissions.name == "submitted" or (course / "nbgrader_config.py").is_file():
        stages = ("source", "release", "autograded", "feedback", "gradebook.db")
        folders += [course / stage for stage in stages if (course / stage).exists()]
    return folders


def _init_worker(course_path: str, private: list[str], modules: list[str] | None) -> None:
    from grader.course.schema import load_course
    from grader.reference.recorded import reference_for

    course = load_course(course_path)
    _worker["course"] = course
    _worker["reference"] = reference_for(course)
    _worker["private"] = [Path(p) for p in private]
    _worker["modules"] = modules


def _grade_student(folder: str) -> dict[str, Any]:
    from grader.engine import grade

    try:
        # The other students' folders are hidden from this one's process.
        result = grade(
            _worker["course"],
            Path(folder),
            _worker["reference"],
            _worker["modules"],
            hidden=_worker["private"],
        )
    except NothingToGrade as error:  # no module of the course in the folder
        return _failure(str(error), nothing_to_grade=True)
    except SubmissionError as error:  # this student's files, not the course, are at fault
        return _failure(str(error))
    data = gradescope_results(result, _worker["course"].gradescope)
    data["difflearn"] = {
        "modules": {m.name: [m.score, m.max_score] for m in result.modules},
        "notes": {m.name: list(m.notes) for m in result.modules if m.notes},
        "max_score": result.max_score,
    }
    return data


def _failure(message: str, nothing_to_grade: bool = False) -> dict[str, Any]:
    meta = {"failed": True, "nothing_to_grade": nothing_to_grade}
    return {"score": 0.0, "output": message, "tests": [], "difflearn": meta}


def _save(out: Path, student: Path, data: dict[str, Any], stamp: dict[str, str]) -> StudentResult:
    data.setdefault("difflearn", {}).update(stamp)
    path = results_file(out, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=2) + "\n")
    meta = data["difflearn"]
    return StudentResult(
        student.name,
        round_points(data["score"]),
        round_points(meta.get("max_score", 0.0)),
        failed=bool(meta.get("failed")),
        message=data.get("output", ""),
    )


def saved_result(out: Path, student: Path) -> dict[str, Any] | None:
    """A student's saved results, or None where there are none (or they are unreadable)."""
    try:
        saved = json.loads(results_file(out, student).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def saved_results(out: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every student's saved results in `out`, in name order."""
    for path in sorted((out / STUDENTS).glob(f"*/{RESULTS}")):
        try:
            yield path.parent.name, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue


def class_results(
    course: Course, out: Path, modules: Sequence[str] | None = None
) -> list[StudentResults]:
    """Every student's saved results in `out`, read back for `modules` (default: all)."""
    names = list(modules or course.module_names)
    return [read_results(course, student, data, names) for student, data in saved_results(out)]


def write_feedback(course: Course, out: Path, modules: Sequence[str] | None = None) -> list[Path]:
    """feedback.md beside each student's results.json: what their report says."""
    names = list(modules or course.module_names)
    written = []
    for student in class_results(course, out, names):
        path = out / STUDENTS / student.student / FEEDBACK
        atomic_write(path, feedback_markdown(student, names))
        written.append(path)
    return written


def write_grades(course: Course, out: Path, modules: Sequence[str] | None = None) -> Path:
    """grades.csv: a row per student, a column per module, and the total."""
    names = list(modules or course.module_names)
    path = out / "grades.csv"
    atomic_write(path, grades_csv(course, class_results(course, out, names), names))
    return path


def write_canvas(course: Course, out: Path, to: Path, modules: Sequence[str] | None = None) -> Path:
    """The Canvas gradebook CSV (grader.output.exports.canvas_csv) of the class in `out`."""
    names = list(modules or course.module_names)
    atomic_write(to, canvas_csv(course, class_results(course, out, names), names))
    return to


def summarize(course: Course, out: Path, modules: Sequence[str] | None = None) -> str:
    """summary.md, and the pictures it shows beside it (grader.output.plots); returns its text."""
    names = list(modules or course.module_names)
    stats = class_stats(course, class_results(course, out, names), names)
    drawn = pictures(stats)
    for kind, name in PICTURES.items():
        if kind in drawn:
            atomic_write(out / name, drawn[kind])
        else:  # a picture of an earlier run that this one has nothing to draw in
            (out / name).unlink(missing_ok=True)
    text = summary_markdown(stats, {kind: PICTURES[kind] for kind in drawn})
    atomic_write(out / "summary.md", text)
    return text
