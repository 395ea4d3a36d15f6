"""The grading engine: plan the probes, run them in isolation, judge, score.

For each function of a module: gather the probes its checks need, send them
to the submission's process, run the same probes on the reference while the
student's code works, then judge every check from the two sets of outcomes.
The score is decided here, in the grading process, and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from grader.checks import Check, Verdict, make_checks
from grader.errors import UsageError
from grader.isolation import Failure, ImportFailure, SubmissionProcess
from grader.manifest import Course, FunctionSpec, ModuleSpec
from grader.probes import Outcome, Probe
from grader.reference import Reference
from grader.results import CheckResult, GradeResult, ModuleResult

Progress = Callable[[str, str], None]
SUFFIXES = (".py", ".ipynb")  # a module, or a notebook that defines it (the .py wins)


def find_submissions(
    course: Course, path: Path, modules: Sequence[str] | None = None
) -> list[tuple[ModuleSpec, Path]]:
    """The course modules found at `path`: a folder of `<module>.py` or `<module>.ipynb`
    files (or of `<module>/<module>.ipynb`, as nbgrader collects them), or one such file."""
    for name in modules or ():
        if name not in course.module_names:
            raise UsageError(
                f"unknown module {name!r}; course.yml has: {', '.join(course.module_names)}"
            )
    if path.is_file():
        if path.suffix not in SUFFIXES or path.stem not in course.module_names:
            raise UsageError(
                f"{path} is not a module of the course (expected one of: "
                f"{', '.join(m + '.py' for m in course.module_names)}, or a notebook "
                "named like one)"
            )
        if modules and path.stem not in modules:
            raise UsageError(f"{path} is not the module asked for with --module")
        return [(course.module(path.stem), path)]
    if not path.is_dir():
        raise UsageError(f"no such file or folder: {path}")
    found = []
    for module in course.modules:
        if modules and module.name not in modules:
            continue
        files = [
            folder / f"{module.name}{suffix}"
            for folder in (path, path / module.name)  # nbgrader's submitted/<student>/<module>/
            for suffix in SUFFIXES
        ]
        file = next((f for f in files if f.is_file()), None)
        if file is not None:
            found.append((module, file))
        elif modules:
            raise UsageError(f"no {module.name}.py in {path}")
    if not found:
        raise UsageError(
            f"no module of the course in {path} (expected one of: "
            f"{', '.join(m + '.py' for m in course.module_names)})"
        )
    return found


def grade(
    course: Course,
    path: Path,
    reference: Reference,
    modules: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> GradeResult:
    """Grades every course module found at `path`, all in one child process."""
    started = time.monotonic()
    found = find_submissions(course, path, modules)
    memory_mb = max(module.limits.memory_mb for module, _ in found)
    with SubmissionProcess(path, memory_mb, hidden=reference.private_paths()) as process:
        results = tuple(
            _grade_module(process, module, reference, progress=progress) for module, _ in found
        )
    return GradeResult(modules=results, elapsed_s=time.monotonic() - started)


def grade_module(
    module: ModuleSpec,
    module_file: Path,
    reference: Reference,
    functions: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ModuleResult:
    """Grades one submitted module file, function by function, in a child process."""
    hidden = reference.private_paths()
    with SubmissionProcess(module_file, module.limits.memory_mb, hidden=hidden) as process:
        return _grade_module(process, module, reference, functions, progress)


def _grade_module(
    process: SubmissionProcess,
    module: ModuleSpec,
    reference: Reference,
    functions: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ModuleResult:
    selected = [f for f in module.functions if functions is None or f.name in functions]
    results: list[CheckResult] = []
    module_failure: str | None = None
    namespace = reference.namespace(module.name)
    for function in selected:
        recorded = reference.inputs(module.name, function.name)
        checks = make_checks(function, module.name, namespace, recorded)
        if module_failure is None and not process.loaded(module.name):
            module_failure = _load(process, module)
        if module_failure is not None:
            verdicts = [Verdict(False, module_failure)] * len(checks)
        else:
            verdicts = _run_function(process, module, function, checks, reference)
        results.extend(_score(module, function, checks, verdicts))
        if progress is not None:
            progress(module.name, function.name)
    return ModuleResult(name=module.name, title=module.title, checks=tuple(results))


def _load(process: SubmissionProcess, module: ModuleSpec) -> str | None:
    """Imports the module in the submission's process; why every function fails if it cannot."""
    limits = module.limits
    outcome = process.load(module.name, limits.import_time_s, limits.memory_mb)
    if isinstance(outcome, ImportFailure):
        return f"the module could not be imported: {outcome.error.summary}"
    if isinstance(outcome, Failure):
        return f"the module could not be imported: {outcome.message}"
    return None


def _run_function(
    process: SubmissionProcess,
    module: ModuleSpec,
    function: FunctionSpec,
    checks: list[Check],
    reference: Reference,
) -> list[Verdict]:
    probes: dict[str, Probe] = {}
    for check in checks:
        probes.update(check.probes())
    process.send(module.name, function.name, list(probes.values()), function.harness)
    expected = reference.outcomes(module.name, function.name, probes, function.harness)
    reply = process.receive(function.limits.time_s)
    if isinstance(reply, Failure):
        return [Verdict(False, reply.message)] * len(checks)
    if len(reply) != len(probes):
        process.stop()
        return [Verdict(False, "the submission's process returned a malformed result")] * len(
            checks
        )
    actual: dict[str, Outcome] = dict(zip(probes, reply, strict=True))
    return [_judge(check, expected, actual) for check in checks]


def _judge(check: Check, expected: dict[str, Outcome], actual: dict[str, Outcome]) -> Verdict:
    try:
        return check.judge(expected, actual)
    except (ArithmeticError, AttributeError, IndexError, KeyError, TypeError, ValueError):
        # The outcomes come from an untrusted process: data of the wrong form fails the check.
        return Verdict(False, "the submission's process returned a result of the wrong form")


def _score(
    module: ModuleSpec, function: FunctionSpec, checks: list[Check], verdicts: list[Verdict]
) -> list[CheckResult]:
    """Points per check; checks other than shape and values need the (visible) values
    right, so that a student copy, which has no hidden checks, gates as the grader does."""
    values_passed = all(
        v.passed
        for c, v in zip(checks, verdicts, strict=True)
        if c.spec.kind == "values" and not c.spec.hidden
    )
    results = []
    for check, verdict in zip(checks, verdicts, strict=True):
        passed, message = verdict.passed, verdict.message
        if passed and check.spec.gated and not values_passed:
            passed = False
            message = f"{message}, but this check earns points only once 'values' passes"
        max_score = function.check_points(check.spec)
        results.append(
            CheckResult(
                module=module.name,
                function=function.name,
                check=check.title,
                score=max_score if passed else 0.0,
                max_score=max_score,
                passed=passed,
                message=message,
            )
        )
    return results
