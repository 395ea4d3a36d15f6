"""Shared fixtures: the course, a reference reused across tests, and graders of source text."""

from __future__ import annotations

import ast
import functools
import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from inprocess import grade_here as grade_here_in

from grader.checks.callgraph import calls
from grader.course.schema import load_course
from grader.course.specs import Course
from grader.engine import grade_module
from grader.errors import UsageError
from grader.reference.live import LiveReference
from grader.results import ModuleResult
from grader.runner.sandbox import current_sandbox

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "fixtures" / "toy"

# A compilation cache of the test run's own: shared by its tests, apart from the user's.
os.environ.setdefault("DIFFLEARN_CACHE_DIR", tempfile.mkdtemp(prefix="difflearn-test-cache-"))

GradeSource = Callable[..., ModuleResult]

# The `test` extras' import names: a test that needs one is skipped without it, saying which.
EXTRAS = ("chex", "hypothesis", "hmmlearn", "equinox", "dynamax", "tensorflow_probability")


def needs(module: str) -> ModuleType:
    """`module`, an optional test dependency; without it, the test (or, called at a
    module's top, the whole file) is skipped with the reason."""
    top = module.split(".")[0]
    return pytest.importorskip(module, reason=f"{top} is a test extra: pip install -e '.[test]'")


@pytest.fixture
def chex() -> ModuleType:
    """chex's tree assertions, for the tests that use them."""
    return needs("chex")


def skip_without_extras(source: str) -> None:
    """Skips a test whose submission `source` imports a test extra that is missing (a
    correct alternative written with equinox): the child would fail to import it."""
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in EXTRAS:
                needs(name)


@functools.cache
def the_course() -> Course:
    """course.yml, read once for the whole run (the `course` fixture, and helpers)."""
    return load_course(ROOT / "course.yml")


@pytest.fixture(scope="session")
def course() -> Course:
    return the_course()


@pytest.fixture(scope="session")
def reference(course: Course) -> LiveReference:
    """One reference for the whole run, so each reference probe is computed once."""
    return LiveReference(course.solutions_dir)


def reference_source(module: str, solutions: Path = ROOT / "solutions") -> str:
    return (solutions / f"{module}.py").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def toy_course() -> Course:
    """A small course of the tests' own: a scan, a vmap, a plain function, short limits."""
    return load_course(TOY / "course.yml")


@pytest.fixture(scope="session")
def toy_reference(toy_course: Course) -> LiveReference:
    return LiveReference(toy_course.solutions_dir)


@pytest.fixture
def grade_source(course: Course, reference: LiveReference, tmp_path: Path) -> GradeSource:
    """Grades a submission given as source text: grade_source("bce", src, functions=[...])."""
    return _grader(course, reference, tmp_path)


@pytest.fixture
def grade_toy(toy_course: Course, toy_reference: LiveReference, tmp_path: Path) -> GradeSource:
    """Grades a submission to the toy course: grade_toy(src, functions=[...])."""
    grader = _grader(toy_course, toy_reference, tmp_path)
    return lambda source, functions=None: grader("toy", source, functions)


@pytest.fixture
def grade_here(course: Course, reference: LiveReference, tmp_path: Path) -> GradeSource:
    """Grades as grade_source does, in this process: the checks' judgement without the
    jail, for the breadth tests (tests/inprocess.py)."""

    def run(module: str, source: str, functions: list[str] | None = None) -> ModuleResult:
        folder = _new_folder(tmp_path)
        return grade_here_in(course.module(module), reference, folder, source, functions)

    return run


def _grader(course: Course, reference: LiveReference, tmp_path: Path) -> GradeSource:
    def run(module: str, source: str, functions: list[str] | None = None) -> ModuleResult:
        file = _new_folder(tmp_path) / f"{module}.py"
        file.write_text(textwrap.dedent(source), encoding="utf-8")
        return grade_module(course.module(module), file, reference, functions=functions)

    return run


def _new_folder(tmp_path: Path) -> Path:
    folder = tmp_path / f"submission{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    return folder


def with_override(module: str, *overrides: str) -> str:
    """The reference module with some functions redefined after it (the later def wins)."""
    return "\n\n".join([reference_source(module), *(textwrap.dedent(o) for o in overrides)])


@dataclass(frozen=True)
class Mistake:
    """A realistic wrong answer: it must fail `check` of `function`, with `message` in the
    feedback. `override` redefines functions after the reference module."""

    function: str
    override: str
    check: str
    message: str


def assert_mistake_caught(
    grade: GradeSource, module: str, mistake: Mistake, *preamble: str
) -> None:
    """Grades the reference with the mistake in it, on the mistaken function alone."""
    skip_without_extras(mistake.override)
    source = with_override(module, *preamble, mistake.override)
    result = grade(module, source, functions=[mistake.function])
    failures = failed(result, mistake.function)
    assert mistake.check in failures, f"expected '{mistake.check}' to fail; failed: {failures}"
    assert mistake.message in failures[mistake.check]
    score, max_score = result.function_score(mistake.function)
    assert score < max_score


def assert_full_marks(grade: GradeSource, module: str, override: str) -> None:
    """Grades the reference with some functions written differently: full marks, on
    the functions it redefines and every function that uses them."""
    skip_without_extras(override)
    source = with_override(module, override)
    result = grade(module, source, functions=affected(module, source, override))
    assert [f"{c.name}: {c.message}" for c in result.checks if not c.passed] == []
    assert result.score == pytest.approx(result.max_score)


def affected(module: str, source: str, override: str) -> list[str]:
    """The course functions `override` defines, and those that call them, at any depth
    (a harness that names one counts as a call)."""
    spec = the_course().module(module)
    names = [f.name for f in spec.functions]
    defined = {
        node.name
        for node in ast.parse(textwrap.dedent(override)).body
        if isinstance(node, ast.FunctionDef) and node.name in names
    }
    used = calls(source, names)
    for function in spec.functions:
        if function.harness:
            named = {n.id for n in ast.walk(ast.parse(function.harness)) if isinstance(n, ast.Name)}
            used[function.name] = used.get(function.name, set()) | (named & set(names))
    changed = set(defined)
    while grown := {f for f, callees in used.items() if callees & changed} - changed:
        changed |= grown
    assert defined, "the alternative redefines no course function"
    return [name for name in names if name in changed]


def failed(result: ModuleResult, function: str) -> dict[str, str]:
    """The failed checks of one function, by check name, with their messages."""
    return {c.check: c.message for c in result.checks if c.function == function and not c.passed}


@pytest.fixture(params=["bubblewrap", "user", "none"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Forces one sandbox mode for the test; skipped where it cannot run (never in CI)."""
    monkeypatch.setenv("DIFFLEARN_SANDBOX", request.param)
    current_sandbox.cache_clear()
    try:
        current_sandbox()
    except UsageError as error:
        if os.environ.get("CI"):  # CI must run every mode
            pytest.fail(f"{request.param} cannot run in CI: {error}")
        pytest.skip(str(error))
    yield request.param
    current_sandbox.cache_clear()


WRONG = "\n\ndef double(x):\n    return 3.0 * x\n"


def make_class(folder: Path) -> Path:
    """Four students: right, wrong, hostile (dies at import) and one with nothing to grade."""
    submissions = folder / "submissions"
    for student in ("ada", "bob", "eve", "zed"):
        (submissions / student).mkdir(parents=True)
    shutil.copy(TOY / "solutions" / "toy.py", submissions / "ada" / "toy.py")
    (submissions / "bob" / "toy.py").write_text((TOY / "solutions" / "toy.py").read_text() + WRONG)
    (submissions / "eve" / "toy.py").write_text("import os\nos._exit(0)\n")
    (submissions / "zed" / "notes.txt").write_text("I ran out of time\n")
    return submissions
