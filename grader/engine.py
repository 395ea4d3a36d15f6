"""The grading engine: plan the probes, run them in isolation, judge, score.

For each function of a module: gather the probes its checks need, send them
to the submission's process, run the same probes on the reference while the
student's code works, then judge every check from the two sets of outcomes.
The score is decided here, in the grading process, and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import __version__
from grader.checks import CHECKS, make_checks
from grader.checks.base import Check, Verdict
from grader.checks.callgraph import calls
from grader.checks.outcomes import OutcomeCheck
from grader.checks.programs import ProgramCheck
from grader.course.inputs import is_secret
from grader.course.specs import Course, FunctionSpec, ModuleSpec
from grader.errors import NothingToGrade, UsageError
from grader.reference.base import CourseError, Reference
from grader.results import Cause, CheckResult, GradeResult, ModuleResult, Timing
from grader.runner.cache import (
    CHILDREN,
    LAYOUT,
    SUBMISSIONS,
    ChildCache,
    cache_base,
    cache_dir,
    course_version,
    library_versions,
    warm_lock,
)
from grader.runner.intake import SUFFIXES, Submission, SubmittedModule, read_submission
from grader.runner.probes import ErrorInfo, Outcome, Probe, ProbeKey
from grader.runner.process import Failure, ImportFailure, SubmissionProcess, Verifier
from grader.runner.sandbox import JailLimits, current_sandbox
from grader.runner.unwritten import stubs_in_source

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class Observation:
    """One function's checks, verdicts, probes and both sides' outcomes, by probe key: what
    `difflearn grade --explain` shows (grader.output.explain)."""

    function: FunctionSpec
    checks: list[Check]
    verdicts: list[Verdict]
    probes: dict[ProbeKey, Probe]
    expected: dict[ProbeKey, Outcome]
    actual: dict[ProbeKey, Outcome]


def selected_modules(course: Course, modules: Sequence[str] | None = None) -> list[str]:
    """`modules` (default: all) in the course's order; a one-line error for a name that
    is not the course's."""
    for name in modules or ():
        if name not in course.module_names:
            raise UsageError(
                f"unknown module {name!r}; course.yml has: {', '.join(course.module_names)}"
            )
    return [m for m in course.module_names if not modules or m in modules]


def find_submissions(
    course: Course, path: Path, modules: Sequence[str] | None = None, assignment: bool = False
) -> Submission:
    """The course modules at `path`: a folder, where grader.runner.intake's `candidates` says
    they may be, or one module file. Modules refused by the intake are in `refused`,
    with the reason.
    With `assignment`, `modules` (default: the course's) were asked for, and a
    submission may lack any of them."""
    wanted = selected_modules(course, modules)
    expected = ", ".join(m + ".py" for m in course.module_names)
    if not path.exists() and not path.is_symlink():
        raise NothingToGrade(f"no such file or folder: {path}")
    if not path.is_dir() and (path.suffix not in SUFFIXES or path.stem not in course.module_names):
        raise UsageError(
            f"{path} is not a module of the course (expected one of: {expected}, "
            "or a notebook named like one)"
        )
    if not path.is_dir() and modules and path.stem not in modules:
        raise UsageError(f"{path} is not the module asked for with --module")
    if assignment:
        return read_submission(path, wanted, course.max_file_bytes, course.module_names)
    found = read_submission(path, wanted, course.max_file_bytes)
    for name in modules or ():
        if name not in found.names:
            raise NothingToGrade(f"no {name}.py in {path}")
    if not found.names:
        raise NothingToGrade(f"no module of the course in {path} (expected one of: {expected})")
    return found


def grade(
    course: Course,
    path: Path,
    reference: Reference,
    modules: Sequence[str] | None = None,
    progress: Progress | None = None,
    hidden: Sequence[Path] = (),
    functions: Sequence[str] | None = None,
    observe: list[Observation] | None = None,
    assignment: bool = False,
) -> GradeResult:
    """Grades every course module found at `path` (its `functions` only, if given), all in
    one child process. `hidden` folders are kept from it besides the course's (in a
    batch: the other students); `observe` collects each function's outcomes. With
    `assignment`, `modules` (default: the course's) are what was asked for: the
    submission's other modules are not graded, and those it lacks are listed as not
    submitted, every check at 0 points, so that the total is out of the assignment's."""
    started = time.monotonic()
    found = find_submissions(course, path, modules, assignment)
    specs = [course.module(name) for name in found.names]
    results = (
        _grade_submission(found, specs, reference, functions, progress, hidden, observe=observe)
        if specs
        else ()
    )
    if assignment:
        graded = {module.name: module for module in results}
        asked = selected_modules(course, modules)
        results = tuple(graded.get(m) or _not_submitted(course.module(m)) for m in asked)
    return GradeResult(
        modules=results, elapsed_s=time.monotonic() - started, sandbox=current_sandbox()
    )


def _not_submitted(module: ModuleSpec) -> ModuleResult:
    """A module of the assignment that the submission lacks: every check, at 0 points."""
    message = f"not submitted: no {module.name}.py or {module.name}.ipynb in the submission"
    checks = [c for f in module.functions for c in _failed(module, f, message, "not_submitted")]
    return ModuleResult(name=module.name, title=module.title, checks=tuple(checks))


def grade_module(
    module: ModuleSpec,
    module_file: Path,
    reference: Reference,
    functions: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ModuleResult:
    """Grades one submitted module file, function by function, in a child process."""
    found = read_submission(module_file, [module.name])
    return _grade_submission(found, [module], reference, functions, progress)[0]


def _grade_submission(
    found: Submission,
    specs: Sequence[ModuleSpec],
    reference: Reference,
    functions: Sequence[str] | None,
    progress: Progress | None,
    hidden: Sequence[Path] = (),
    cache: ChildCache | None = None,
    observe: list[Observation] | None = None,
) -> tuple[ModuleResult, ...]:
    """Grades the modules `specs` of one submission in one jailed child process."""
    limits = JailLimits(
        memory_mb=max(m.limits.memory_mb for m in specs),
        cpu_s=int(sum(_budget_s(m) for m in specs)) + 60,
    )
    # A first grade is mostly stubs: nothing to warm a cache or start a verifier for.
    unwritten = all(
        function.name in stubs_in_source(module.source)
        for spec in specs
        if (module := found.modules.get(spec.name)) is not None
        for function in spec.functions
    )
    if cache is None:
        cache = _child_cache(specs, reference, warm=not unwritten)
    private = kept_from_child(reference, hidden)
    with (
        SubmissionProcess(found, limits, hidden=private, cache=cache) as process,
        Verifier(limits, hidden=private, cache=cache) as verifier,
    ):
        if found.modules:
            process.begin()  # JAX imports there while the checks are made here
        kinds = {c.kind for m in specs for f in m.functions for c in f.checks}
        if not unwritten and any(issubclass(CHECKS[kind], ProgramCheck) for kind in kinds):
            verifier.begin()  # JAX imports there while the submission's process starts
        return _grade_modules(
            process, specs, reference, {m.name: found.refused.get(m.name) for m in specs},
            {m.name: found.modules.get(m.name) for m in specs}, functions, progress,
            verifier, observe,
        )  # fmt: skip


def kept_from_child(reference: Reference, hidden: Sequence[Path] = ()) -> list[Path]:
    """What a submission's process must not see: the reference's files and caches,
    `hidden` (in a batch, the other students), and the grader's caches (a child gets a
    copy of what it may read)."""
    private = [*reference.private_paths(), *hidden]
    if (base := cache_base()) is not None:
        private.append(base)
    return private


def _budget_s(module: ModuleSpec) -> float:
    """The most CPU time a module's grading may take: its import and every function."""
    return module.limits.import_time_s + sum(f.limits.time_s for f in module.functions)


def _child_cache(
    specs: Sequence[ModuleSpec], reference: Reference, warm: bool = True
) -> ChildCache:
    """The trusted layer, warmed by the reference where there is one (see
    grader.runner.cache), unless not to `warm` it (as it is: for a submission of stubs)."""
    solutions = [reference.solution_file(m.name) for m in specs]
    if any(path is None for path in solutions):
        # A student copy grades the student's own work, in a cache of their own; a root
        # grader's submissions run under uids of their own, and share nothing.
        return ChildCache(shared=None if current_sandbox().uids else cache_dir(SUBMISSIONS))
    trusted = cache_dir(CHILDREN)
    if trusted is None:
        return ChildCache()
    # One stamp per module's version: grading another selection of modules warms only
    # those not warmed yet.
    stamps = {
        module.name: trusted / f".warm-{module.name}-"
        f"{course_version([path], repr(module), __version__, LAYOUT, *library_versions())}"
        for module, path in zip(specs, solutions, strict=True)
        if path is not None
    }
    if warm and not all(stamp.exists() for stamp in stamps.values()):
        with warm_lock(trusted):
            cold = [m for m in specs if not stamps[m.name].exists()]
            if cold:
                # The reference, graded as a submission: what its child compiles is trusted.
                folder = reference.solution_file(cold[0].name).parent  # type: ignore[union-attr]
                warm = read_submission(folder, [m.name for m in cold])
                _grade_submission(
                    warm, cold, reference, None, None, cache=ChildCache(trusted, promote=True)
                )
                for module in cold:
                    stamps[module.name].touch()
    return ChildCache(seed=trusted)


def _grade_module(
    process: SubmissionProcess,
    module: ModuleSpec,
    reference: Reference,
    refused: str | None = None,
    functions: Sequence[str] | None = None,
    progress: Progress | None = None,
    verifier: Verifier | None = None,
    submitted: SubmittedModule | None = None,
    observe: list[Observation] | None = None,
) -> ModuleResult:
    """Grades one module's functions (see `_grade_modules`)."""
    return _grade_modules(
        process, [module], reference, {module.name: refused}, {module.name: submitted},
        functions, progress, verifier, observe,
    )[0]  # fmt: skip


@dataclass
class _Work:
    """One function being graded: its checks, their probes, and what came back.

    Attributes:
      failed: the verdict on every check, where the function failed as a whole (its
        module did not import, its process crashed or timed out, the grader failed).
      cpu_s: the CPU seconds its probes on the visible cases took in the child.
      expected: the reference's outcomes, asked for while the child works (a stub's
        only if the child answered anything but errors).
    """

    module: ModuleSpec
    function: FunctionSpec
    checks: list[Check]
    probes: dict[ProbeKey, Probe]
    stub: bool = False
    actual: dict[ProbeKey, Outcome] = field(default_factory=dict)
    expected: dict[ProbeKey, Outcome] | None = None
    failed: Verdict | None = None
    cpu_s: float | None = None
    grader_error: Exception | None = None
    verified: dict[ProbeKey, Outcome] | None = None

    def phase(self, secret: bool) -> dict[ProbeKey, Probe]:
        """The probes of the cases kept from students (`secret`), or of the others."""
        return {k: p for k, p in self.probes.items() if is_secret(k.label) == secret}

    def programs(self) -> dict[ProbeKey, tuple[Probe, Outcome]] | None:
        """The programs it exported (its export probes that succeeded, with their outcomes),
        by key; None while one of its export probes has not answered."""
        exports = {k: p for k, p in self.probes.items() if p.kind == "export"}
        if any(k not in self.actual for k in exports):
            return None
        return {k: (p, self.actual[k]) for k, p in exports.items() if self.actual[k].ok}


class _Verifying:
    """The verifier, fed while the submission's process works: a function's programs are
    sent as soon as they are all exported, and their facts read when its checks are
    judged, so the two processes run side by side. One request is in flight at a time,
    so each keeps its own function's time limit.

    Attributes:
      verifier: the process that reads and runs the programs; None: no structural facts.
    """

    def __init__(self, verifier: Verifier | None):
        self.verifier = verifier
        self._in_flight: _Work | None = None

    def feed(self, work: _Work) -> None:
        """Sends the work's programs, once they are all known and the function still stands."""
        ready = work.programs()
        if (
            self.verifier is None
            or ready is None
            or work.verified is not None
            or work is self._in_flight
            or work.failed is not None
            or work.grader_error is not None
        ):
            return
        self._land()
        if not ready:
            work.verified = {}
            return
        try:
            self.verifier.submit(ready, work.function.limits.time_s)
        except Exception as error:  # a bug in the grader costs this function, not the run
            work.grader_error = error
            return
        self._in_flight = work

    def facts(self, work: _Work) -> dict[ProbeKey, Outcome]:
        """The verifier's facts of the work's programs, by key (none without a verifier)."""
        self.feed(work)
        if work is self._in_flight:
            self._land()
        if work.grader_error is not None:
            raise work.grader_error
        return work.verified or {}

    def _land(self) -> None:
        work, self._in_flight = self._in_flight, None
        if work is not None and self.verifier is not None:
            try:
                work.verified = self.verifier.collect()
            except Exception as error:  # as in `feed`
                work.grader_error = error


def _grade_modules(
    process: SubmissionProcess,
    modules: Sequence[ModuleSpec],
    reference: Reference,
    refused: Mapping[str, str | None],
    submitted: Mapping[str, SubmittedModule | None],
    functions: Sequence[str] | None = None,
    progress: Progress | None = None,
    verifier: Verifier | None = None,
    observe: list[Observation] | None = None,
) -> tuple[ModuleResult, ...]:
    """Grades the modules' functions in one process: every function on the cases students
    see, then every function on the cases kept from them (hidden checks, unseen cases).
    What the process says after the first of those reached it (its printed output, a
    notebook's notes, why it stopped) is not shown: it could carry what it was given.
    `verifier` runs the programs the functions export (a function with structural checks
    fails those without one). The `submitted` source is read (never run) for which
    function calls which (grader.checks.callgraph) and for stubs (grader.runner.unwritten)."""
    works: dict[str, list[_Work]] = {}
    failures: dict[str, Verdict | None] = {}
    for module in modules:
        why = refused.get(module.name)
        failures[module.name] = (
            Verdict(False, f"not graded: {why}", "not_imported") if why else None
        )
        source = submitted.get(module.name)
        stubs = stubs_in_source(source.source) if source else frozenset()
        namespace = reference.namespace(module.name)
        works[module.name] = [
            _prepare(module, function, reference, namespace, function.name in stubs)
            for function in module.functions
            if functions is None or function.name in functions
        ]
        if any(
            isinstance(check, OutcomeCheck) and not work.stub
            for work in works[module.name]
            for check in work.checks
        ):  # its lambdas run after the process answers: JAX imports here meanwhile
            namespace.prefetch()
    outputs: dict[str, dict[str, str]] = {m.name: {} for m in modules}
    verifying = _Verifying(verifier)
    for module in modules:
        for work in works[module.name]:
            failures[module.name] = _ask(process, work, failures[module.name], reference)
            verifying.feed(work)
            if output := process.output.take():
                outputs[module.name][work.function.name] = output
            if progress is not None:
                progress(module.name, work.function.name)
    notes = {m.name: process.notes.get(m.name, ()) for m in modules}
    for module in modules:
        for work in works[module.name]:
            failures[module.name] = _ask(
                process, work, failures[module.name], reference, secret=True
            )
            verifying.feed(work)
    process.output.take()  # printed on the cases kept from students: withheld
    results = []
    for module in modules:
        checked: list[CheckResult] = []
        for work in works[module.name]:
            checked.extend(_finish(work, reference, verifying, observe))
        source = submitted.get(module.name)
        results.append(
            ModuleResult(
                name=module.name,
                title=module.title,
                checks=tuple(checked),
                outputs=outputs[module.name],
                times={
                    w.function.name: Timing(w.cpu_s, w.function.limits.time_s)
                    for w in works[module.name]
                    if w.cpu_s is not None
                },
                notes=(
                    *notes[module.name],
                    # Where the module failed as a whole, that one cause fails every function.
                    *(
                        _cause_notes(module, checked, source.source)
                        if source and failures[module.name] is None
                        else ()
                    ),
                ),
            )
        )
    return tuple(results)


def _prepare(
    module: ModuleSpec,
    function: FunctionSpec,
    reference: Reference,
    namespace: Mapping[str, Any],
    stub: bool,
) -> _Work:
    """A function's checks and the probes they need; `stub`: its source is a stub's."""
    try:
        recorded = reference.inputs(module.name, function.name)
        checks = make_checks(function, module.name, namespace, recorded)
        probes: dict[ProbeKey, Probe] = {}
        for check in checks:
            probes.update(check.probes())
    except CourseError:
        raise
    except Exception as error:  # a bug in the grader costs this function, not the run
        return _Work(module, function, [], {}, grader_error=error)
    return _Work(module, function, checks, probes, stub=stub)


def _ask(
    process: SubmissionProcess,
    work: _Work,
    module_failure: Verdict | None,
    reference: Reference,
    secret: bool = False,
) -> Verdict | None:
    """Runs one phase of a function's probes (see `_grade_modules`); the module's failure
    afterwards (an import that failed, on loading it again after a crash)."""
    try:
        return _ask_phase(process, work, module_failure, reference, secret)
    except CourseError:
        raise
    except Exception as error:  # a bug in the grader costs this function, not the run
        work.grader_error = error
        return module_failure


def _ask_phase(
    process: SubmissionProcess,
    work: _Work,
    module_failure: Verdict | None,
    reference: Reference,
    secret: bool,
) -> Verdict | None:
    probes = work.phase(secret)
    if work.grader_error is not None or work.failed is not None or not probes:
        return module_failure
    if module_failure is None and not process.loaded(work.module.name):
        module_failure = _load(process, work.module)
        if module_failure is not None and secret:  # it imported before: why not now is kept
            module_failure = _withheld(Failure("crash", ""), module_failure.cause)
    if module_failure is not None:
        work.failed = module_failure
        return module_failure
    limit = work.function.limits.time_s
    if secret:  # one budget for both phases
        limit = max(limit - (work.cpu_s or 0.0), 1.0)
    function = work.function
    process.send(work.module.name, function.name, list(probes.values()), function.harness)
    # The reference works while the submission's process does; a stub's is asked only
    # if the process answers anything but errors (at `_verdicts`).
    if not secret and not (work.stub and all(c.probes() for c in work.checks)):
        try:
            work.expected = reference.outcomes(
                work.module.name, function.name, work.probes, function.harness
            )
        except CourseError:
            process.stop()
            raise
    reply = process.receive(limit)
    if isinstance(reply, Failure):
        work.failed = _withheld(reply) if secret else Verdict(False, reply.message, reply.kind)
        return module_failure
    if not secret:
        work.cpu_s = process.request_cpu_s()
    if len(reply) != len(probes):
        process.stop()
        malformed = "the submission's process returned a malformed result"
        work.failed = Verdict(False, malformed, "crash")
        return module_failure
    work.actual.update(zip(probes, reply, strict=True))
    return module_failure


def _withheld(failure: Failure, cause: Cause | None = None) -> Verdict:
    """A phase on the cases kept from students that ended without outcomes: told without
    what the process printed or how it ended (a crash or a timeout, chosen by the inputs,
    would be a bit of them); the cause, for the instructor's summary only, keeps it."""
    return Verdict(
        False,
        "the submission's process crashed or ran out of time on a case kept from students "
        "(what it printed, and which of the two, are not shown for those cases)",
        cause or failure.kind,
    )


def _finish(
    work: _Work,
    reference: Reference,
    verifying: _Verifying,
    observe: list[Observation] | None,
) -> list[CheckResult]:
    """The function's checks judged, and scored."""
    module, function = work.module, work.function
    try:
        if work.grader_error is not None:
            raise work.grader_error
        if work.failed is not None:
            verdicts = [work.failed] * len(work.checks)
        else:
            verdicts = _verdicts(work, reference, verifying, observe)
        return _score(module, function, work.checks, verdicts)
    except CourseError:
        raise
    except Exception as error:  # a bug in the grader costs this function, not the run
        return _grader_failed(module, function, error)


def _cause_notes(module: ModuleSpec, results: list[CheckResult], source: bytes) -> list[str]:
    """For each failing function that calls one whose gate (its values) fails: a note that
    the cause may lie there, since a wrong helper fails its callers' checks too."""
    visible_gates = {
        f.name: next((c.title for c in f.checks if c.kind == f.gate and not c.hidden), None)
        for f in module.functions
    }
    gates = {name: title for name, title in visible_gates.items() if title is not None}
    failed = {(r.function, r.check) for r in results if not r.passed}
    failing = {function for function, _ in failed}
    called = calls(source.decode("utf-8", errors="replace"), [f.name for f in module.functions])
    return [
        f"{caller} calls {callee}, which fails its '{gates[callee]}' check: fix {callee} first"
        for caller in (f.name for f in module.functions if f.name in failing)
        for callee in sorted(called.get(caller, ()))
        if callee in gates and (callee, gates[callee]) in failed
    ]


def _grader_failed(
    module: ModuleSpec, function: FunctionSpec, error: Exception
) -> list[CheckResult]:
    message = (
        f"the grader itself failed on this function ({type(error).__name__}: {error}); "
        "this is not your code's fault: tell your instructor"
    )
    return _failed(module, function, message)


def _failed(
    module: ModuleSpec, function: FunctionSpec, message: str, cause: Cause = "grader"
) -> list[CheckResult]:
    """Every check of `function` at 0 points, for one reason, without running any."""
    return [
        CheckResult(
            module=module.name,
            function=function.name,
            check=spec.title,
            score=0.0,
            max_score=function.check_points(spec),
            passed=False,
            message=message,
            cause=cause,
            hidden=spec.hidden,
        )
        for spec in function.checks
    ]


def _load(process: SubmissionProcess, module: ModuleSpec) -> Verdict | None:
    """Imports the module in the submission's process; the verdict on every function if it
    cannot."""
    limits = module.limits
    outcome = process.load(module.name, limits.import_time_s, limits.memory_mb)
    failed = "the module could not be imported"
    if isinstance(outcome, ImportFailure):
        return Verdict(False, f"{failed}: {outcome.error.summary}", "not_imported")
    if isinstance(outcome, Failure):
        return Verdict(False, f"{failed}: {outcome.message}", outcome.kind)
    return None


def _verdicts(
    work: _Work,
    reference: Reference,
    verifying: _Verifying,
    observe: list[Observation] | None = None,
) -> list[Verdict]:
    """The verdicts of a function's checks on both phases' outcomes."""
    function, probes, actual = work.function, work.probes, dict(work.actual)
    if work.expected is None:
        expected = (
            reference.outcomes(work.module.name, function.name, probes, function.harness)
            if any(outcome.ok for outcome in actual.values()) or observe is not None
            else {}
        )  # a stub that answered only errors has nothing to be compared with
    else:
        expected = work.expected
    # The programs the function exported are read and run by the verifier: what the
    # structural checks judge comes from there, never from the submission's word.
    unverified = Outcome(
        error=ErrorInfo(types=["ProgramFailed"], message="no verifier", by_grader=True)
    )
    actual.update({k: unverified for k in work.programs() or {}})
    actual.update(verifying.facts(work))
    verdicts = [_judge(check, expected, actual) for check in work.checks]
    if observe is not None:
        observe.append(Observation(function, work.checks, verdicts, probes, expected, actual))
    return verdicts


def _judge(
    check: Check, expected: dict[ProbeKey, Outcome], actual: dict[ProbeKey, Outcome]
) -> Verdict:
    try:
        return check.judge(expected, actual)
    except (ArithmeticError, AttributeError, IndexError, KeyError, TypeError, ValueError):
        # The outcomes come from an untrusted process: data of the wrong form fails the check.
        return Verdict(False, "the submission's process returned a result of the wrong form")


def _score(
    module: ModuleSpec, function: FunctionSpec, checks: list[Check], verdicts: list[Verdict]
) -> list[CheckResult]:
    """Points per check; checks other than shape need the gate (values, or a fit's
    objective) passed first, its hidden checks apart, so that a student copy, which has no
    hidden checks, gates as the grader does."""
    gate_passed = all(
        v.passed
        for c, v in zip(checks, verdicts, strict=True)
        if c.spec.kind == function.gate and not c.spec.hidden
    )
    gate_title = next((c.title for c in checks if c.spec.kind == function.gate), "")
    results = []
    for check, verdict in zip(checks, verdicts, strict=True):
        passed, message = verdict.passed, verdict.message
        if passed and function.gated(check.spec) and not gate_passed:
            passed = False
            message = f"{message}, but this check earns points only once '{gate_title}' passes"
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
                hidden=check.spec.hidden,
                cause=verdict.cause,
            )
        )
    return results
