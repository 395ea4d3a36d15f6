"""Stubs known from their source (grader.runner.unwritten): told exactly as a call tells
them, without running a probe or asking the reference; anything else runs as before."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from conftest import TOY
from inprocess import grade_here

from grader.course.specs import Course
from grader.reference.live import LiveReference
from grader.results import ModuleResult
from grader.runner import child
from grader.runner.probes import Probe, ProbeKey, describe_exception
from grader.runner.probing import ProbeRunner
from grader.runner.unwritten import stub_error, stubs_in_source

STUBS = {
    "bare": "def f(x):\n    raise NotImplementedError\n",
    "called": "def f(x):\n    raise NotImplementedError()\n",
    "documented": (
        'def f(x):\n    """Doc."""\n'
        '    # YOUR CODE HERE\n    raise NotImplementedError("write f")\n'
    ),
}
NOT_STUBS = {
    "code first": "def f(x):\n    y = x + 1\n    raise NotImplementedError()\n",
    "a message from the inputs": "def f(x):\n    raise NotImplementedError(str(x))\n",
    "another error": "def f(x):\n    raise ValueError()\n",
    "shadowed": "NotImplementedError = ValueError\ndef f(x):\n    raise NotImplementedError()\n",
    "decorated": "import functools\n@functools.cache\ndef f(x):\n    raise NotImplementedError()\n",
    "replaced later": "def f(x):\n    raise NotImplementedError()\nf = abs\n",
    "written": "def f(x):\n    return 2 * x\n",
}


def load(tmp_path: Path, source: str) -> tuple[Any, str]:
    file = tmp_path / "module.py"
    file.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"unwritten_{id(source)}", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f, str(file)


@pytest.mark.parametrize("name", STUBS)
def test_a_stub_is_told_as_a_call_tells_it(name: str, tmp_path: Path) -> None:
    function, file = load(tmp_path, STUBS[name])
    assert "f" in stubs_in_source(STUBS[name].encode())
    with pytest.raises(NotImplementedError) as raised:
        function(1.0)
    told = stub_error(function, file)
    assert told is not None
    assert told.to_message() == describe_exception(raised.value, file).to_message()
    assert told.location.startswith("line ")


@pytest.mark.parametrize("name", NOT_STUBS)
def test_anything_else_runs(name: str, tmp_path: Path) -> None:
    function, file = load(tmp_path, NOT_STUBS[name])
    assert "f" not in stubs_in_source(NOT_STUBS[name].encode())
    assert stub_error(function, file) is None


class Asked:
    """The toy reference, counting what it is asked of each function."""

    def __init__(self, reference: LiveReference):
        self.reference = reference
        self.asked: list[str] = []

    def outcomes(
        self, module: str, function: str, probes: Mapping[ProbeKey, Probe], harness: Any = None
    ) -> Any:
        self.asked.append(function)
        return self.reference.outcomes(module, function, probes, harness)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reference, name)


SOLUTION = (TOY / "solutions" / "toy.py").read_text(encoding="utf-8")
WITHOUT_DOUBLE = SOLUTION.replace("def double(x):", "def _double(x):")
STUBBED = WITHOUT_DOUBLE + "\n\ndef double(x):\n    raise NotImplementedError()\n"


def grade_toy_here(toy_course: Course, reference: Any, folder: Path, source: str) -> ModuleResult:
    folder.mkdir(parents=True, exist_ok=True)
    return grade_here(toy_course.module("toy"), reference, folder, source)


def test_a_stub_runs_no_probe_and_asks_no_reference(
    toy_course: Course,
    toy_reference: LiveReference,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = Asked(toy_reference)
    ran: list[str] = []
    run = ProbeRunner.run

    def spied(self: ProbeRunner, probe: Probe) -> Any:
        ran.append(getattr(self.function, "__name__", "?"))
        return run(self, probe)

    monkeypatch.setattr(ProbeRunner, "run", spied)
    result = grade_toy_here(toy_course, asked, tmp_path, STUBBED)
    double = [c for c in result.checks if c.function == "double"]
    assert double and all(not c.passed and c.cause == "not_implemented" for c in double)
    assert "double" not in asked.asked
    assert {"cumulative_sum", "batched_dot"} <= set(asked.asked)
    # The others' probes ran, in the child and for the reference; none of the stub's.
    assert {"cumulative_sum", "batched_dot"} <= set(ran)
    assert "double" not in ran


def test_a_stub_is_graded_as_when_it_ran(
    toy_course: Course,
    toy_reference: LiveReference,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same report whether the child reads the stub or runs it."""
    shortcut = grade_toy_here(toy_course, toy_reference, tmp_path / "a", STUBBED)
    monkeypatch.setattr(child, "stub_error", lambda function, file: None)
    ran = grade_toy_here(toy_course, toy_reference, tmp_path / "b", STUBBED)
    assert [c.message for c in shortcut.checks] == [c.message for c in ran.checks]
    assert shortcut.checks == ran.checks


def test_a_stub_replaced_at_run_time_is_graded_in_full(
    toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """The source shows a stub, the module replaces it: the grading process asks the
    reference after all, and the function earns its points."""
    replaced = WITHOUT_DOUBLE + dedent("""

        def double(x):
            raise NotImplementedError()

        globals()["double"] = _double
        """)
    assert "double" in stubs_in_source(replaced.encode())
    asked = Asked(toy_reference)
    result = grade_toy_here(toy_course, asked, tmp_path, replaced)
    assert "double" in asked.asked
    assert result.function_score("double")[0] == pytest.approx(result.function_score("double")[1])
