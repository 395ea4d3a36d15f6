"""The `difflearn` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)

from grader import __version__
from grader.batch import Progress as BatchProgress
from grader.batch import (
    StudentResult,
    find_students,
    plan,
    run_batch,
    summarize,
    write_canvas,
    write_feedback,
    write_grades,
)
from grader.course.schema import load_course
from grader.course.specs import Course
from grader.engine import Observation, find_submissions, grade, selected_modules
from grader.errors import UsageError, check_target
from grader.output.explain import explain
from grader.output.report import plain, print_report, printable, write_json
from grader.reference.base import Reference
from grader.reference.recorded import reference_for
from grader.results import GradeResult, format_points
from grader.shards import merge, parse_shard, shard_students
from grader.ship import generated as generated_files
from grader.ship.gradebook import autograde, open_nbgrader_course
from grader.ship.gradescope import build_bundle
from grader.ship.nbgrader import CONFIG, write_course
from grader.ship.release import release
from grader.ship.stubs import course_stubs
from grader.watch import watch

MANIFEST = "course.yml"
REPORT_WIDTH = 120  # for logs and pipes, where there is no terminal to measure


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"difflearn: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("difflearn: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="difflearn",
        description="Exercises in differentiable programming with JAX, and their grader.",
    )
    parser.add_argument("--version", action="version", version=f"difflearn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade_parser = commands.add_parser(
        "grade",
        help="grade a submission against the reference solutions",
        description="Grade the modules at PATH against the course's reference solutions.",
    )
    grade_parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="PATH",
        help="a folder of <module>.py or <module>.ipynb files, or one such file "
        "(default: the course's exercises/)",
    )
    grade_parser.add_argument(
        "--module",
        "-m",
        action="append",
        metavar="NAME",
        help="grade only this module (repeatable); default: every module found at PATH",
    )
    grade_parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the results in Gradescope's results.json format to FILE",
    )
    grade_parser.add_argument(
        "--show-output",
        action="store_true",
        help="show what each function printed (a bounded head and tail) under its rows",
    )
    grade_parser.add_argument(
        "--function",
        "-f",
        action="append",
        default=[],
        metavar="NAME",
        help="grade only this function (repeatable): its name, or MODULE.FUNCTION where two "
        "modules share it",
    )
    grade_parser.add_argument(
        "--explain",
        metavar="MODULE.FUNCTION",
        help="grade only this function, and show its first failure on a visible case: "
        "the inputs, the expected and the received outputs",
    )
    grade_parser.add_argument(
        "--watch",
        action="store_true",
        help="grade, then grade again each module whose file changes (checked every "
        "second), until Ctrl-C",
    )
    _add_course_option(grade_parser)
    grade_parser.set_defaults(handler=run_grade)

    batch_parser = commands.add_parser(
        "grade-batch",
        help="grade a whole class, one folder per student, in parallel",
        description="Grade every student folder in SUBMISSIONS_DIR in parallel workers. "
        "Results go to OUT/students/<student>/results.json as each finishes; a second "
        "run grades only what is new or changed: a student's files, or course.yml, the "
        "reference or the grader. Writes OUT/students/<student>/feedback.md, "
        "OUT/grades.csv and OUT/summary.md with its pictures.",
    )
    batch_parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    _add_workers(batch_parser)
    batch_parser.add_argument(
        "--out",
        type=Path,
        default=Path("grades"),
        metavar="DIR",
        help="where the results go (default: grades/)",
    )
    batch_parser.add_argument(
        "--regrade",
        action="store_true",
        help="grade every student again, even those whose results are current",
    )
    batch_parser.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="NAME",
        help="grade this student again (repeatable)",
    )
    batch_parser.add_argument(
        "--shard",
        metavar="I/N",
        help="grade only the I-th of N slices of the class (I from 0: JOB_COMPLETION_INDEX, "
        "SLURM_ARRAY_TASK_ID), and write their results only; then `difflearn merge`",
    )
    _add_class_outputs(batch_parser, run_grade_batch)

    merge_parser = commands.add_parser(
        "merge",
        help="merge the results of grade-batch --shard runs, and write the class's outputs",
        description="Copy the students' results of the OUT folders (grade-batch --shard "
        "runs) into DIR/students, then write DIR/grades.csv, DIR/summary.md with its "
        "pictures and each student's feedback.md: the same files as one grade-batch run.",
    )
    merge_parser.add_argument("outs", nargs="+", type=Path, metavar="OUT")
    merge_parser.add_argument(
        "--to", type=Path, required=True, metavar="DIR", help="where the merged class goes"
    )
    _add_class_outputs(merge_parser, run_merge)

    gradescope_parser = commands.add_parser(
        "gradescope",
        help="build the Gradescope autograder bundle",
        description="Build a Gradescope autograder zip: setup.sh, run_autograder, the "
        "grader and the course, solutions included (hidden from submissions). One bundle "
        "per assignment: it grades the modules given with --module (default: all).",
    )
    gradescope_parser.add_argument(
        "--to", type=Path, default=Path("autograder.zip"), metavar="FILE", help="the zip to write"
    )
    gradescope_parser.add_argument(
        "--module",
        "-m",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="the assignment's modules: the bundle grades these only, and lists those a "
        "submission lacks at 0 points (default: every module of the course)",
    )
    _add_force_and_course(gradescope_parser, "overwrite FILE if it exists", run_gradescope)

    release_parser = commands.add_parser(
        "release",
        help="write the student copy of the course, without the solutions",
        description="Write a student copy of the course to DIR: the stubs, the grader, "
        "course.yml, the reference's outcomes recorded (no solution code), a README and the "
        "checks as pytest tests. `difflearn grade` and `pytest` work there.",
    )
    release_parser.add_argument(
        "--to",
        type=Path,
        required=True,
        metavar="DIR",
        help="where the copy goes, outside the course folder (it becomes its own repository)",
    )
    _add_force_and_course(release_parser, "replace DIR if it holds an earlier release", run_release)

    nbgrader_parser = commands.add_parser(
        "nbgrader",
        help="write an nbgrader course: a notebook per module, with autograded test cells",
        description="Write source/<module>/<module>.ipynb for every module (teaching text, "
        "solution cells, an autograded test cell per function) and nbgrader_config.py "
        "into the nbgrader course folder DIR. With `autograde ASSIGNMENT`: decide the "
        "scores of nbgrader's autograded submissions in the sandbox instead.",
    )
    _add_course_dir(nbgrader_parser, Path("nbgrader"))
    _add_force_and_course(
        nbgrader_parser, "replace notebooks that exist in DIR/source", run_nbgrader
    )
    nbgrader_commands = nbgrader_parser.add_subparsers(dest="nbgrader_command", metavar="COMMAND")
    autograde_parser = nbgrader_commands.add_parser(
        "autograde",
        help="decide an assignment's scores in the sandbox and write them into the gradebook",
        description="Run after `nbgrader autograde ASSIGNMENT`, before `nbgrader "
        "generate_feedback ASSIGNMENT`. Grades every submission of ASSIGNMENT (a module of "
        "the course) in the sandbox, against the instructor's reference with its unseen "
        "cases, and writes each test cell's score into DIR's gradebook (as the auto score; "
        "manual scores are kept) and the sandbox's feedback into the autograded notebooks.",
    )
    autograde_parser.add_argument("assignment", metavar="ASSIGNMENT")
    autograde_parser.add_argument(
        "--student",
        action="append",
        metavar="ID",
        help="grade only this student (repeatable); default: every submission",
    )
    _add_workers(autograde_parser)
    # The options shared with `difflearn nbgrader` may also come after the subcommand.
    _add_course_dir(autograde_parser, argparse.SUPPRESS)
    _add_course_option(autograde_parser, argparse.SUPPRESS)
    autograde_parser.set_defaults(handler=run_nbgrader_autograde)

    plot_parser = commands.add_parser(
        "plot",
        help="draw a picture of a submission's work",
        description="Draw a picture of a submission's work. `plot hmm`: fit_hmm fitted on "
        "the course's data (in the sandbox, as in grading): the losses beside the "
        "reference's and hmmlearn's EM, the data coloured by the Viterbi path, and the "
        "fitted means and covariances against the true ones.",
    )
    plot_parser.add_argument("what", choices=["hmm"], help="the picture to draw")
    plot_parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="PATH",
        help="the hmm module: a folder or a file (default: the course's exercises/)",
    )
    plot_parser.add_argument(
        "--to", type=Path, required=True, metavar="FILE", help="the PNG to write"
    )
    _add_force_and_course(plot_parser, "overwrite FILE if it exists", run_plot)

    stubs_parser = commands.add_parser(
        "stubs",
        help="generate the student stubs in exercises/ from solutions/",
        description="Generate exercises/<module>.py from solutions/<module>.py by replacing "
        "each ### BEGIN SOLUTION ... ### END SOLUTION region with a placeholder.",
    )
    stubs_parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any stub differs from its solution",
    )
    stubs_parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite stubs that differ (they may hold a student's work)",
    )
    _add_course_option(stubs_parser)
    stubs_parser.set_defaults(handler=run_stubs)
    return parser


def _add_class_outputs(parser: argparse.ArgumentParser, handler: Callable[..., int]) -> None:
    """The end of a command that writes a class's outputs: which modules, a Canvas CSV."""
    parser.add_argument(
        "--module",
        "-m",
        action="append",
        metavar="NAME",
        help="grade (or report) only this module (repeatable); default: every module",
    )
    parser.add_argument(
        "--canvas-csv",
        type=Path,
        metavar="FILE",
        help="also write a gradebook CSV for Canvas's import to FILE: one assignment, named "
        "after the module when one is graded, else the course; students by SIS Login ID",
    )
    _add_force_and_course(parser, "overwrite the --canvas-csv FILE if it exists", handler)


def _add_force_and_course(
    parser: argparse.ArgumentParser, force_help: str, handler: Callable[..., int]
) -> None:
    """The end of a command that writes files: --force, --course, and what runs it."""
    parser.add_argument("--force", action="store_true", help=force_help)
    _add_course_option(parser)
    parser.set_defaults(handler=handler)


def _add_course_option(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--course",
        type=Path,
        default=default,
        metavar="FILE",
        help=f"the course manifest (default: {MANIFEST} in this folder or the nearest above)",
    )


def _add_course_dir(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--course-dir",
        type=Path,
        default=default,
        metavar="DIR",
        help="the nbgrader course folder (default: nbgrader/)",
    )


def _add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: the CPU cores)",
    )


def find_course(explicit: Path | None) -> Course:
    if explicit is not None:
        return load_course(explicit)
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / MANIFEST
        if candidate.is_file():
            return load_course(candidate)
    raise UsageError(f"no {MANIFEST} in {here} or any folder above it; pass --course FILE")


def _progress_bar(console: Console, time_left: bool) -> Progress:
    """A terminal progress bar: done of total and, for a long batch, the time left (kept on
    screen); a grade's bar goes away before its report."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns.append(MofNCompleteColumn())
    if time_left:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, transient=not time_left)


def run_grade(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    path = args.path if args.path is not None else course.exercises_dir
    explained = _function_named(course, args.explain, "--explain") if args.explain else None
    chosen = [_function_named(course, name, "--function") for name in args.function]
    asked = [explained[0]] if explained else [m for m, _ in chosen] or args.module
    submissions = find_submissions(course, path, asked)
    if args.json is not None:
        check_target(args.json, force=True)  # results.json is rewritten at every grade
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, REPORT_WIDTH))
    if args.watch and explained is not None:
        raise UsageError("--watch grades, it does not --explain: use one or the other")
    reference = reference_for(course)
    if explained is not None:
        return _explain(course, path, reference, explained, console)
    functions = [f for _, f in chosen] or None

    def grade_and_report(modules: Sequence[str]) -> None:
        result = _grade_with_progress(course, path, reference, modules, functions, console)
        print_report(result, console, show_output=args.show_output)
        if args.json is not None:
            write_json(result, args.json, course.gradescope)

    if not args.watch:
        grade_and_report(submissions.names)
        return 0
    files = {
        (path / m.origin if path.is_dir() else path): m.name for m in submissions.modules.values()
    }
    console.print(plain(f"Watching {len(files)} file(s); Ctrl-C to stop.", "dim"))
    try:
        watch(list(files), lambda changed: grade_and_report(sorted({files[f] for f in changed})))
    except KeyboardInterrupt:
        console.print(plain("Stopped watching.", "dim"))
    return 0


def _grade_with_progress(
    course: Course,
    path: Path,
    reference: Reference,
    modules: Sequence[str],
    functions: Sequence[str] | None,
    console: Console,
) -> GradeResult:
    """Grades `modules` at `path`, with a progress bar on a terminal."""
    if not console.is_terminal:
        return grade(course, path, reference, modules, functions=functions)
    total = sum(
        len([f for f in course.module(name).functions if not functions or f.name in functions])
        for name in modules
    )
    with _progress_bar(console, time_left=False) as bar:
        task = bar.add_task("grading", total=total)

        def advance(module: str, function: str) -> None:
            bar.update(task, advance=1, description=f"graded {module}.{function}")

        return grade(course, path, reference, modules, advance, functions=functions)


def _function_named(course: Course, name: str, option: str) -> tuple[str, str]:
    """(module, function) of `name`, a function of the course: MODULE.FUNCTION, or a
    function's name where one module alone has it."""
    module, _, function = name.rpartition(".")
    owners = [
        m.name
        for m in course.modules
        if (not module or m.name == module) and function in [f.name for f in m.functions]
    ]
    if len(owners) == 1:
        return owners[0], function
    if module and module not in course.module_names:
        raise UsageError(f"{option} {name}: course.yml has no module {module!r}")
    if len(owners) > 1:
        raise UsageError(f"{option} {name}: in {' and '.join(owners)}; say MODULE.FUNCTION")
    raise UsageError(f"{option} {name}: no graded function of that name in course.yml")


def _explain(
    course: Course, path: Path, reference: Reference, name: tuple[str, str], console: Console
) -> int:
    module, function = name
    observed: list[Observation] = []
    result = grade(course, path, reference, [module], functions=[function], observe=observed)
    if observed:
        console.print(plain(explain(observed[0])))
    else:  # the module could not be imported: the report's sentence says why
        console.print(plain(next(c.message for c in result.checks if not c.passed)))
    return 0


@contextlib.contextmanager
def _class_progress(console: Console, total: int | None = None) -> Iterator[BatchProgress]:
    """What a batch reports as each student is done: a progress bar on a terminal (the
    last student, the failures so far), otherwise a line per student."""
    if not console.is_terminal:

        def log(student: StudentResult, done: int, total: int) -> None:
            status = (
                f"FAILED: {student.message}"
                if student.failed
                else f"{format_points(student.score)} / {format_points(student.max_score)}"
            )
            print(printable(f"[{done}/{total}] {student.student}: {status}"), flush=True)

        yield log
        return
    failures = 0
    with _progress_bar(console, time_left=True) as bar:
        task = bar.add_task("grading", total=total)

        def advance(student: StudentResult, done: int, total: int) -> None:
            nonlocal failures
            failures += student.failed
            # The bar reads its description as markup; a student names the folder.
            name = escape(printable(student.student))
            bar.update(
                task, completed=done, total=total, description=f"graded {name} ({failures} failed)"
            )

        yield advance


def _check_workers(workers: int) -> None:
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")


def run_grade_batch(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    _check_workers(args.workers)
    modules = selected_modules(course, args.module)
    shard = parse_shard(args.shard) if args.shard is not None else None
    if args.canvas_csv is not None:  # before grading, not after an hour of it
        check_target(args.canvas_csv, args.force)
    everyone = find_students(args.submissions)
    students = everyone if shard is None else shard_students(everyone, shard)
    console = Console(highlight=False)
    by_name = {s.name: s for s in everyone}
    unknown = [name for name in args.student if name not in by_name]
    if unknown:
        raise UsageError(f"no student folder {', '.join(unknown)} in {args.submissions}")
    asked = [by_name[name] for name in args.student]
    regrade = students if args.regrade else [s for s in asked if s in students]
    planned = plan(course, args.out, students, modules, regrade=regrade)
    done_before = len(students) - len(planned.pending)
    if done_before:
        console.print(
            plain(
                f"{done_before} of {len(students)} students already graded in {args.out} "
                "(against this course, its reference and this grader); grading the rest"
            )
        )
    with _class_progress(console, len(planned.pending)) as progress:
        run_batch(
            course,
            args.submissions,
            args.out,
            args.workers,
            progress,
            students=students,
            # Only what --module names must be in a folder; otherwise a student's
            # missing modules count 0 and the rest is graded.
            modules=args.module or None,
            planned=planned,
        )
    if shard is not None:
        write_feedback(course, args.out, modules)
        console.print(
            plain(
                f"graded shard {shard} ({len(students)} of {len(everyone)} students) "
                f"into {args.out}; once every shard is done: difflearn merge OUT... --to DIR"
            )
        )
        return 0
    return _write_class(console, course, args.out, modules, args.canvas_csv)


def run_merge(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    modules = selected_modules(course, args.module)
    if args.canvas_csv is not None:
        check_target(args.canvas_csv, args.force)
    names = merge(args.outs, args.to, force=args.force)
    console = Console(highlight=False)
    console.print(plain(f"merged the results of {len(names)} students into {args.to}"))
    return _write_class(console, course, args.to, modules, args.canvas_csv)


def _write_class(
    console: Console, course: Course, out: Path, modules: list[str], canvas: Path | None
) -> int:
    """The class's outputs from the results in `out`: feedback, grades, a Canvas CSV if
    asked for, and the summary, which is also shown."""
    write_feedback(course, out, modules)
    written = [write_grades(course, out, modules)]
    if canvas is not None:
        written.append(write_canvas(course, out, canvas, modules))
    console.print(plain(summarize(course, out, modules)))
    written.append(out / "summary.md")
    console.print(plain(f"wrote {', '.join(map(str, written))} and each student's feedback.md"))
    return 0


def run_gradescope(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    names = build_bundle(course, args.to, force=args.force, modules=args.module)
    assignment = ", ".join(selected_modules(course, args.module))
    print(
        f"wrote {args.to} ({len(names)} files), grading {assignment}: upload it as the "
        "autograder of that assignment in Gradescope"
    )
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from grader.output.hmm_plot import hmm_png  # matplotlib, only for a picture

    course = find_course(args.course)
    check_target(args.to, args.force)
    path = args.path if args.path is not None else course.exercises_dir
    png = hmm_png(course, reference_for(course), path)
    args.to.write_bytes(png)
    print(f"wrote {args.to}")
    return 0


def run_release(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    files = release(course, args.to, force=args.force)
    print(f"wrote the student copy to {args.to} ({len(files)} files)")
    return 0


def run_nbgrader(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    files = write_course(course, args.course_dir, force=args.force)
    config = args.course_dir / "nbgrader_config.py"
    if config not in files and generated_files.state(config, CONFIG) == "edited":
        print(f"kept {config}: it was edited since difflearn wrote it")
    print(
        f"wrote {len(files)} files to {args.course_dir}; next, there: "
        "nbgrader generate_assignment <module>"
    )
    return 0


def run_nbgrader_autograde(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    _check_workers(args.workers)
    nbgrader = open_nbgrader_course(args.course_dir)
    console = Console(highlight=False)
    with _class_progress(console) as progress:
        scores = autograde(course, nbgrader, args.assignment, args.workers, args.student, progress)
    lines = [f"{s.student}: grading failed: {s.failed}" for s in scores if s.failed]
    if kept := sum(s.manual_kept for s in scores):
        lines.append(
            f"manual scores kept: {kept} (they count over the auto scores written, and are "
            "marked as needing manual grading, to be looked at again)"
        )
    lines.append(
        f"wrote the sandbox's scores of {len(scores)} submissions of {args.assignment} into "
        f"{nbgrader.gradebook_file or nbgrader.db_url}; next, in {args.course_dir}: "
        f"nbgrader generate_feedback {args.assignment}"
    )
    print(printable("\n".join(lines)))
    return 0


def run_stubs(args: argparse.Namespace) -> int:
    course = find_course(args.course)
    generated = {
        course.exercises_dir / f"{name}.py": text for name, text in course_stubs(course).items()
    }
    states = {path: generated_files.state(path, text) for path, text in generated.items()}
    if args.check:
        stale = [path for path, now in states.items() if now != "current"]
        for path in stale:
            print(f"{path}: differs from the stub generated from solutions/", file=sys.stderr)
        if stale:
            return 1
        print(f"all {len(generated)} stubs match their solutions")
        return 0
    # A stub exactly as difflearn wrote it last time is regenerated; one edited since
    # (or of which there is no record) may hold work, and is replaced only with --force.
    edited = [path for path, now in states.items() if now == "edited"]
    if edited and not args.force:
        names = ", ".join(str(p) for p in edited)
        raise UsageError(
            f"{names}: edited since difflearn generated it and may hold work; "
            "pass --force to overwrite"
        )
    course.exercises_dir.mkdir(parents=True, exist_ok=True)
    for path, text in generated.items():
        if generated_files.refresh(path, text, force=args.force):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
