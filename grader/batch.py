"""Grading a whole class: one folder per student, graded in parallel worker processes.

Each worker loads the course and its reference once and grades students one after
another (each student's code still runs in children of its own). The batch writes
`<out>/<student>/results.json` as each student finishes, atomically, so an
interrupted batch resumes where it stopped: a student whose results exist for the
same submission files is not graded again. At the end, `grades.csv` and
`summary.md` are made from every student's results in `<out>`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import UsageError
from grader.manifest import Course
from grader.report import atomic_write, gradescope_results

RESULTS = "results.json"


@dataclass(frozen=True)
class StudentResult:
    student: str
    score: float
    max_score: float
    failed: bool  # the grading itself failed (nothing gradable, a broken worker)
    message: str = ""


Progress = Callable[[StudentResult, int, int], None]


def find_students(submissions: Path) -> list[Path]:
    """The student folders of a submissions folder, in name order."""
    if not submissions.is_dir():
        raise UsageError(f"no such folder: {submissions}")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise UsageError(f"no student folders in {submissions}")
    return students


def fingerprint(folder: Path) -> str:
    """A hash of a student's submission files, to tell a resumed run what changed."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".ipynb"):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def is_done(out: Path, student: Path, sha256: str | None = None) -> bool:
    """Whether `out` holds results for the student's files as they are (hash `sha256`)."""
    try:
        saved = json.loads((out / student.name / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return saved.get("difflearn", {}).get("submission_sha256") == (sha256 or fingerprint(student))


def run_batch(
    course: Course, submissions: Path, out: Path, workers: int, progress: Progress | None = None
) -> list[StudentResult]:
    """Grades every student not yet graded; returns what this run graded."""
    students = find_students(submissions)
    # Hashed before grading: a file changed while it is graded gets graded again next run.
    hashes = {s: fingerprint(s) for s in students}
    pending = [s for s in students if not is_done(out, s, hashes[s])]
    out.mkdir(parents=True, exist_ok=True)
    graded: list[StudentResult] = []
    broken: Counter[Path] = Counter()
    while pending:
        pending = _run_pool(course, pending, out, workers, graded, progress, hashes)
        broken.update(pending[:1])
        for student in [s for s in pending if broken[s] >= 2]:
            # Twice in a pool that broke: grade it no more, and say so.
            pending.remove(student)
            failure = _failure("grading failed: a worker died twice")
            graded.append(_save(out, student, failure, hashes[student]))
    return graded


def _run_pool(
    course: Course,
    pending: list[Path],
    out: Path,
    workers: int,
    graded: list[StudentResult],
    progress: Progress | None,
    hashes: dict[Path, str],
) -> list[Path]:
    """Grades `pending` in one pool; returns the students left if the pool broke."""
    context = multiprocessing.get_context("spawn")  # JAX does not survive a fork
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(str(course.path),),
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
                    except Exception as error:  # the grader itself failed on this student
                        data = _failure(f"grading failed: {type(error).__name__}: {error}")
                    graded.append(_save(out, student, data, hashes[student]))
                    if progress is not None:
                        progress(graded[-1], len(graded), len(hashes))
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return []


_worker: dict[str, Any] = {}


def _init_worker(course_path: str) -> None:
    from grader.manifest import load_course
    from grader.recorded import reference_for

    course = load_course(course_path)
    _worker["course"] = course
    _worker["reference"] = reference_for(course)


def _grade_student(folder: str) -> dict[str, Any]:
    from grader.engine import grade

    try:
        result = grade(_worker["course"], Path(folder), _worker["reference"])
    except UsageError as error:
        return _failure(str(error))
    data = gradescope_results(result)
    data["difflearn"] = {
        "modules": {m.name: [m.score, m.max_score] for m in result.modules},
        "max_score": result.max_score,
    }
    return data


def _failure(message: str) -> dict[str, Any]:
    return {"score": 0.0, "output": message, "tests": [], "difflearn": {"failed": True}}


def _save(out: Path, student: Path, data: dict[str, Any], sha256: str) -> StudentResult:
    data.setdefault("difflearn", {})["submission_sha256"] = sha256
    folder = out / student.name
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / RESULTS, json.dumps(data, indent=2) + "\n")
    meta = data["difflearn"]
    return StudentResult(
        student.name,
        data["score"],
        meta.get("max_score", 0.0),
        failed=bool(meta.get("failed")),
        message=data.get("output", ""),
    )


def saved_results(out: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every student's saved results in `out`, in name order."""
    for path in sorted(out.glob(f"*/{RESULTS}")):
        try:
            yield path.parent.name, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue


def write_grades(course: Course, out: Path) -> Path:
    """grades.csv: a row per student, a column per module, and the total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", *course.module_names, "total"])
    for student, data in saved_results(out):
        modules = data.get("difflearn", {}).get("modules", {})
        row = [round(modules.get(m, [0.0])[0], 4) for m in course.module_names]
        writer.writerow([student, *row, round(data.get("score", 0.0), 4)])
    path = out / "grades.csv"
    atomic_write(path, buffer.getvalue())
    return path


def summarize(out: Path, top: int = 10) -> str:
    """summary.md: per function, the mean and spread of the scores; the most failed checks."""
    fractions: dict[str, list[float]] = {}
    points: dict[str, list[float]] = {}
    failures: Counter[str] = Counter()
    students = 0
    for _, data in saved_results(out):
        students += 1
        per_function: dict[str, list[float]] = {}
        for test in data.get("tests", []):
            function = test["name"].split(":")[0]
            scored = per_function.setdefault(function, [0.0, 0.0])
            scored[0] += test["score"]
            scored[1] += test["max_score"]
            if test["status"] != "passed":
                failures[test["name"]] += 1
        for function, (score, max_score) in per_function.items():
            fractions.setdefault(function, []).append(score / max_score if max_score else 0.0)
            points.setdefault(function, []).append(score)
    lines = [
        f"# Batch summary: {students} students",
        "",
        "| function | mean points | mean | quartiles (of full marks) | full marks |",
        "|---|---:|---:|---|---:|",
    ]
    for function in sorted(fractions):
        values = sorted(fractions[function])
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        full = sum(v >= 1 - 1e-9 for v in values)
        lines.append(
            f"| {function} | {statistics.mean(points[function]):.2f} | "
            f"{100 * statistics.mean(values):.0f}% | "
            f"{' / '.join(f'{100 * q:.0f}%' for q in quartiles)} | {full}/{len(values)} |"
        )
    lines += ["", "Most failed checks (what to explain again in class):", ""]
    for name, count in failures.most_common(top):
        lines.append(f"- {name}: {count} of {students} students")
    text = "\n".join(lines) + "\n"
    atomic_write(out / "summary.md", text)
    return text
