"""What a graded class is exported as, from the students' saved results alone.

Each student's results.json (grader.batch) is read back into the report's own types
(`report.results_checks`), and every output is a pure function of those results and the
course: a Canvas gradebook CSV, a student's feedback.md and the class's summary.md. So a
class graded in one run, or in shards merged later (grader.shards), exports the same
bytes.

The summary counts students apart by what happened to each function: not submitted, a
stub (NotImplementedError), not imported (an exception at import, a refused file),
crashed or timed out, or judged. Only judged functions show scores and mistakes: a stub
or a crash is no misconception, and counting it as one would hide the real ones. These
categories come from the checks' recorded causes (`results.Cause`), never from the
feedback's wording.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from grader.course.specs import Course
from grader.output.report import function_rows, markdown_text, module_functions, results_checks
from grader.results import CheckResult, ModuleResult, format_points, sum_points, to_hundredths

# What happened to one student's function, from its checks' causes (see `status`).
Status = Literal[
    "not submitted", "not implemented", "not imported", "crashed or timed out", "judged"
]
STATUSES: tuple[Status, ...] = (
    "not submitted",
    "not implemented",
    "not imported",
    "crashed or timed out",
    "judged",
)
# A Canvas gradebook import: the columns that say who a row is, then one per assignment;
# the "Points Possible" row gives a new assignment its points.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
PICTURES = {"scores": "scores.png", "failed": "failed.png"}
MOST_FAILED = 10  # checks listed, and drawn, in the summary


@dataclass(frozen=True)
class StudentResults:
    """One student's saved results, read back.

    Attributes:
      student: the student's folder name.
      modules: the modules graded of those asked for, in course order, with their checks
        (`cause` says which failed unjudged) and notes.
      failure: why nothing was graded ("" when something was): the batch's message.
      nothing_to_grade: the failure is that the folder held no module of the course.
    """

    student: str
    modules: tuple[ModuleResult, ...]
    failure: str = ""
    nothing_to_grade: bool = False

    def module(self, name: str) -> ModuleResult | None:
        return next((m for m in self.modules if m.name == name), None)

    def score(self, name: str) -> float:
        module = self.module(name)
        return module.score if module is not None else 0.0


def read_results(
    course: Course, student: str, data: dict[str, Any], modules: Sequence[str]
) -> StudentResults:
    """A student's results.json data, read for `modules`; malformed data reads as a
    failure that says so."""
    meta = data.get("difflearn", {})
    if not isinstance(meta, dict):
        meta = {}
    if meta.get("failed"):
        message = str(data.get("output", "grading failed"))
        return StudentResults(student, (), message, bool(meta.get("nothing_to_grade")))
    try:
        checks = results_checks(data)
    except ValueError as error:
        return StudentResults(student, (), f"unreadable results: {error}")
    notes = meta.get("notes", {}) if isinstance(meta.get("notes"), dict) else {}
    found = [
        ModuleResult(
            name=name,
            title=course.module(name).title,
            checks=tuple(c for c in checks if c.module == name),
            notes=tuple(str(n) for n in notes.get(name, ())),
        )
        for name in modules
        if any(c.module == name for c in checks)
    ]
    return StudentResults(student, tuple(found))


def status(checks: Sequence[CheckResult]) -> Status:
    """What happened to a function, from its checks: a cause that stopped it from running
    outweighs a stub; a function whose checks all raised NotImplementedError is a stub."""
    causes = {c.cause for c in checks if not c.passed}
    if not checks or all(c.cause == "not_submitted" for c in checks):
        return "not submitted"
    if causes & {"crash", "timeout", "grader"}:
        return "crashed or timed out"
    if "not_imported" in causes:
        return "not imported"
    if all(c.cause == "not_implemented" for c in checks):
        return "not implemented"
    return "judged"


def canvas_assignment(course: Course, modules: Sequence[str]) -> str:
    """The Canvas assignment the grades are for: the module graded alone, or the course."""
    return modules[0] if len(modules) == 1 else course.title


def selection_points(course: Course, modules: Sequence[str]) -> float:
    return sum_points(course.module(m).points for m in modules)


def grades_csv(course: Course, results: Sequence[StudentResults], modules: Sequence[str]) -> str:
    """grades.csv: a row per student, a column per module, and the total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", *modules, "total"])
    for student in results:
        scores = [student.score(m) for m in modules]
        writer.writerow(
            [student.student, *map(format_points, scores), format_points(sum_points(scores))]
        )
    return buffer.getvalue()


def canvas_csv(course: Course, results: Sequence[StudentResults], modules: Sequence[str]) -> str:
    """A gradebook CSV that Canvas imports (Grades, Import): one assignment column, named
    after the module graded alone or else the course, a "Points Possible" row, and a row
    per student matched by SIS Login ID, which is the student's folder name."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*CANVAS_COLUMNS, canvas_assignment(course, modules)])
    blank = [""] * (len(CANVAS_COLUMNS) - 1)
    writer.writerow(["Points Possible", *blank, format_points(selection_points(course, modules))])
    for student in results:
        total = sum_points(student.score(m) for m in modules)
        writer.writerow([student.student, "", "", student.student, "", format_points(total)])
    return buffer.getvalue()


def feedback_markdown(student: StudentResults, modules: Sequence[str]) -> str:
    """feedback.md: what the terminal report says, as plain Markdown: per module its
    points, a table of functions, checks, points and reasons, and its notes."""
    lines = [f"# Feedback: {markdown_text(student.student)}", ""]
    if student.failure:
        return "\n".join([*lines, f"Nothing was graded: {markdown_text(student.failure)}", ""])
    score = sum_points(m.score for m in student.modules)
    max_score = sum_points(m.max_score for m in student.modules)
    lines += [f"Total: {format_points(score)} / {format_points(max_score)} points", ""]
    if missing := [m for m in modules if student.module(m) is None]:
        lines += [f"Not submitted: {', '.join(missing)}", ""]
    for module in student.modules:
        lines += [
            f"## {module.name}: {markdown_text(module.title)} "
            f"({format_points(module.score)} / {format_points(module.max_score)} points)",
            "",
            "| function | check | points | feedback |",
            "|---|---|---:|---|",
        ]
        for function in module_functions(module):
            for i, row in enumerate(function_rows(module, function)):
                mark = "✓" if row.passed else "✗"
                lines.append(
                    f"| {function if i == 0 else ''} | {mark} {markdown_text(row.check)} | "
                    f"{row.points} | {markdown_text(row.feedback)} |"
                )
        lines.append("")
        lines += [f"Note: {markdown_text(note)}" for note in module.notes]
        if module.notes:
            lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class ModuleStats:
    """A module across the class: each student's function statuses, and the points of
    those who submitted it."""

    name: str
    max_score: float
    submitted: tuple[float, ...]  # points, one per student who submitted the module
    students: int
    with_status: Counter[Status]  # students with at least one function of each status


@dataclass(frozen=True)
class FunctionStats:
    """A function across the class: how many students' function had each status, and the
    points of those judged, out of `max_score`."""

    name: str  # module.function
    max_score: float
    statuses: Counter[Status]
    judged: tuple[float, ...]


@dataclass(frozen=True)
class ClassStats:
    """What summary.md and its pictures say of the class."""

    students: int
    nothing_to_grade: int
    grading_failed: int
    modules: tuple[ModuleStats, ...]
    functions: tuple[FunctionStats, ...]
    most_failed: tuple[tuple[str, int, int], ...]  # check, judged students failing, judged


def class_stats(
    course: Course, results: Sequence[StudentResults], modules: Sequence[str]
) -> ClassStats:
    functions: list[FunctionStats] = []
    failures: Counter[str] = Counter()
    judged_of: dict[str, int] = {}
    module_stats = []
    for name in modules:
        spec = course.module(name)
        with_status: Counter[Status] = Counter()
        per_student = [student_statuses(s, name, [f.name for f in spec.functions]) for s in results]
        for statuses in per_student:
            with_status.update(set(statuses.values()))
        submitted = tuple(s.score(name) for s in results if s.module(name) is not None)
        module_stats.append(ModuleStats(name, spec.points, submitted, len(results), with_status))
        for function in spec.functions:
            key = f"{name}.{function.name}"
            counted: Counter[Status] = Counter(st[function.name] for st in per_student)
            judged = []
            for student, statuses in zip(results, per_student, strict=True):
                if statuses[function.name] != "judged":
                    continue
                checks = _function_checks(student, name, function.name)
                judged.append(sum_points(c.score for c in checks))
                failures.update(c.name for c in checks if not c.passed and c.cause is None)
                for c in checks:
                    judged_of[c.name] = judged_of.get(c.name, 0) + 1
            functions.append(FunctionStats(key, function.points, counted, tuple(judged)))
    ranked = sorted(failures.items(), key=lambda item: (-item[1], item[0]))[:MOST_FAILED]
    return ClassStats(
        students=len(results),
        nothing_to_grade=sum(bool(s.failure) and s.nothing_to_grade for s in results),
        grading_failed=sum(bool(s.failure) and not s.nothing_to_grade for s in results),
        modules=tuple(module_stats),
        functions=tuple(functions),
        most_failed=tuple((name, count, judged_of[name]) for name, count in ranked),
    )


def student_statuses(
    student: StudentResults, module: str, functions: Iterable[str]
) -> dict[str, Status]:
    return {f: status(_function_checks(student, module, f)) for f in functions}


def _function_checks(student: StudentResults, module: str, function: str) -> list[CheckResult]:
    found = student.module(module)
    return [c for c in found.checks if c.function == function] if found is not None else []


def summary_markdown(stats: ClassStats, pictures: dict[str, str]) -> str:
    """summary.md: who was graded; per module and per function, what happened and the
    scores of those judged; the most failed checks. `pictures` are the names of the
    PNGs drawn beside it, by kind (`PICTURES`)."""
    graded = stats.students - stats.nothing_to_grade - stats.grading_failed
    lines = [
        f"# Batch summary: {stats.students} students",
        "",
        f"{graded} graded, {stats.nothing_to_grade} with nothing to grade (no module of the "
        f"course in their folder), {stats.grading_failed} whose grading failed.",
        "",
        "## Modules",
        "",
        "Students who submitted each module, and of those, how many had a function not "
        "implemented, not imported or crashed or timed out (counted apart from mistakes); "
        "points are those of the students who submitted it.",
        "",
        "| module | submitted | not submitted | with a stub | not imported "
        "| with a crash or timeout | mean points | median points | full marks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_module_row(m) for m in stats.modules]
    if "scores" in pictures:
        lines += ["", f"![Scores per module]({pictures['scores']})"]
    lines += [
        "",
        "## Functions",
        "",
        "Per function, the students whose function was judged: submitted, imported, "
        "implemented and run to an answer without a crash or a timeout. The points, the "
        "quartiles and the full marks are of those judged.",
        "",
        "| function | judged | not submitted | not implemented | not imported "
        "| crashed or timed out | mean points | mean | quartiles (of full marks) | full marks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    lines += [_function_row(f) for f in stats.functions]
    lines += [
        "",
        "## Most failed checks",
        "",
        "What to explain again in class: the checks failed most often by the students whose "
        "function was judged (so never a stub, a crash or a timeout), out of those judged.",
        "",
    ]
    lines += [
        f"- {markdown_text(name)}: {count} of {judged} judged"
        for name, count, judged in stats.most_failed
    ] or ["No judged check failed."]
    if "failed" in pictures:
        lines += ["", f"![Most failed checks]({pictures['failed']})"]
    return "\n".join(lines) + "\n"


def _module_row(module: ModuleStats) -> str:
    scores = module.submitted
    full = sum(to_hundredths(s) >= to_hundredths(module.max_score) for s in scores)
    counts = module.with_status
    return (
        f"| {module.name} | {len(scores)} | {module.students - len(scores)} | "
        f"{counts['not implemented']} | {counts['not imported']} | "
        f"{counts['crashed or timed out']} | {_mean(scores)} | "
        f"{format_points(statistics.median(scores)) if scores else '-'} | "
        f"{full}/{len(scores)} |"
    )


def _function_row(function: FunctionStats) -> str:
    judged = function.judged
    fractions = sorted(p / function.max_score if function.max_score else 0.0 for p in judged)
    if len(fractions) > 1:
        quartiles = " / ".join(f"{100 * q:.0f}%" for q in statistics.quantiles(fractions, n=4))
    else:
        quartiles = " / ".join([f"{100 * fractions[0]:.0f}%"] * 3) if fractions else "-"
    mean = f"{100 * statistics.mean(fractions):.0f}%" if fractions else "-"
    full = sum(f >= 1 - 1e-9 for f in fractions)
    counts = function.statuses
    return (
        f"| {function.name} | {len(judged)} | {counts['not submitted']} | "
        f"{counts['not implemented']} | {counts['not imported']} | "
        f"{counts['crashed or timed out']} | {_mean(judged)} | {mean} | {quartiles} | "
        f"{full}/{len(judged)} |"
    )


def _mean(points: Sequence[float]) -> str:
    return format_points(statistics.mean(points)) if points else "-"
