"""A submission that hangs, exits, crashes or does not import costs only what it touches."""

from __future__ import annotations

import time
from textwrap import dedent

from conftest import failed

from grader.checks.errors import NOT_IMPLEMENTED
from grader.results import format_seconds

GOOD_DOUBLE = """
def double(x):
    return 2.0 * x
"""


def assert_complete(result, toy_course):
    """Every check of every function has a result."""
    expected = {(f.name, c.title) for f in toy_course.module("toy").functions for c in f.checks}
    assert {(c.function, c.check) for c in result.checks} == expected


def test_hang_in_one_function_times_out_and_the_rest_is_graded(grade_toy, toy_course):
    source = (
        dedent("""
        import jax.numpy as jnp

        def cumulative_sum(xs):
            while True:
                pass

        def batched_dot(A, B):
            return jnp.sum(A * B, axis=1)
        """)
        + GOOD_DOUBLE
    )
    started = time.monotonic()
    result = grade_toy(source)
    assert time.monotonic() - started < 60
    assert_complete(result, toy_course)
    assert all("timed out after 6 s" in m for m in failed(result, "cumulative_sum").values())
    assert failed(result, "batched_dot") == {}
    assert failed(result, "double") == {}
    assert "cumulative_sum" not in result.times  # no answer, no time: the message says why


def test_a_function_past_half_its_time_limit_gets_its_time_and_a_hint(grade_toy):
    # Its first call (a trace, or a probe) spins 3.5 of the 6 CPU seconds allowed.
    source = """
        import time

        spun = []

        def double(x):
            start = time.process_time()
            while not spun and time.process_time() - start < 3.5:
                pass
            spun.append(True)
            return 2.0 * x
        """
    result = grade_toy(source, functions=["double"])
    assert failed(result, "double") == {}
    assert result.times["double"].cpu_s > 3  # the child's CPU time, not a wall clock
    assert result.hints == [
        f"double took {format_seconds(result.times['double'].cpu_s)} of its 6 s of CPU time: "
        "is a Python loop doing what jax.lax.scan or jax.jit would compile?"
    ]


def test_os_exit_and_segfault_fail_only_their_functions(grade_toy, toy_course):
    source = (
        dedent("""
        import ctypes
        import os

        def cumulative_sum(xs):
            os._exit(3)

        def batched_dot(A, B):
            ctypes.string_at(0)
        """)
        + GOOD_DOUBLE
    )
    result = grade_toy(source)
    assert_complete(result, toy_course)
    assert all("exited with status 3" in m for m in failed(result, "cumulative_sum").values())
    assert all("segmentation fault" in m for m in failed(result, "batched_dot").values())
    assert failed(result, "double") == {}


def test_sys_exit_in_a_function_fails_that_function(grade_toy):
    source = (
        dedent("""
        import sys

        def cumulative_sum(xs):
            sys.exit(0)
        """)
        + GOOD_DOUBLE
    )
    result = grade_toy(source, functions=["cumulative_sum", "double"])
    assert all("sys.exit()" in m for m in failed(result, "cumulative_sum").values())
    assert failed(result, "double") == {}


def test_syntax_error_fails_every_function_with_a_clear_message(grade_toy, toy_course):
    result = grade_toy("def double(x)\n    return 2 * x\n")
    assert_complete(result, toy_course)
    assert result.score == 0
    messages = {c.message for c in result.checks}
    assert len(messages) == 1
    assert "could not be imported: SyntaxError" in messages.pop()


def test_exception_and_exit_at_import(grade_toy):
    raising = grade_toy("raise RuntimeError('boom')\n" + GOOD_DOUBLE, functions=["double"])
    assert {c.message for c in raising.checks} == {
        "the module could not be imported: RuntimeError: boom (line 1: raise RuntimeError('boom'))"
    }
    exiting = grade_toy("import os\nos._exit(1)\n", functions=["double"])
    assert all("exited with status 1" in c.message for c in exiting.checks)


def test_hang_at_import_times_out(grade_toy, toy_course, monkeypatch):
    started = time.monotonic()
    result = grade_toy("while True:\n    pass\n", functions=["double"])
    assert time.monotonic() - started < 60
    assert all(
        "timed out after 20 s of CPU time while importing" in c.message for c in result.checks
    )


def test_missing_function_is_reported_and_others_graded(grade_toy):
    result = grade_toy(GOOD_DOUBLE, functions=["batched_dot", "double"])
    assert all(
        "no function named 'batched_dot'" in m for m in failed(result, "batched_dot").values()
    )
    assert failed(result, "double") == {}


def test_submission_cannot_import_the_solutions(grade_toy):
    source = """
        def double(x):
            import solutions.toy
            return solutions.toy.double(x)
        """
    result = grade_toy(source, functions=["double"])
    assert all("ModuleNotFoundError" in m for m in failed(result, "double").values())


def test_stub_reports_not_implemented(grade_toy):
    result = grade_toy("def double(x):\n    raise NotImplementedError()\n", functions=["double"])
    assert {c.message for c in result.checks} == {NOT_IMPLEMENTED}


def test_same_submission_same_grade_and_messages(grade_toy):
    source = (
        dedent("""
        import jax.numpy as jnp

        def cumulative_sum(xs):
            return jnp.cumsum(xs) * 1.01
        """)
        + GOOD_DOUBLE
    )
    first = grade_toy(source)
    second = grade_toy(source)
    assert first.checks == second.checks


# The token tells processes apart (pids do not, in bubblewrap's pid namespace).
TOKEN_MODULE = "import os\nTOKEN = int.from_bytes(os.urandom(4), 'little')\n"
TOKEN_READER = """
import os
import numpy as np
import process_token

def token(x):
    return np.asarray(process_token.TOKEN)

def crash(x):
    os._exit(3)
"""


def _call(process, module, function):
    import numpy as np

    from grader.runner.probes import Probe

    process.send(module, function, [Probe(kind="call", args=(np.zeros(1),))])
    return process.receive(30)


def _token(process, module):
    return int(_call(process, module, "token")[0].value)


def test_one_process_serves_every_module_until_a_crash(tmp_path):
    from grader.runner.intake import read_submission
    from grader.runner.process import Failure, ImportFailure, SubmissionProcess
    from grader.runner.sandbox import JailLimits

    (tmp_path / "process_token.py").write_text(TOKEN_MODULE)
    (tmp_path / "first.py").write_text(TOKEN_READER)
    (tmp_path / "second.py").write_text(TOKEN_READER)
    (tmp_path / "broken.py").write_text("raise RuntimeError('top-level error')\n")
    submission = read_submission(tmp_path, ["process_token", "first", "second", "broken"])
    with SubmissionProcess(submission, JailLimits(memory_mb=4096)) as process:
        assert process.load("first", 60) is None
        assert process.load("second", 60) is None
        shared = _token(process, "first")
        assert _token(process, "second") == shared  # JAX started once for both modules

        assert isinstance(_call(process, "first", "crash"), Failure)
        assert not process.loaded("first") and not process.loaded("second")

        assert process.load("second", 60) is None  # a fresh process imports again
        assert _token(process, "second") != shared

        failure = process.load("broken", 60)
        assert isinstance(failure, ImportFailure) and "top-level error" in failure.error.message
        assert process.load("first", 60) is None  # and the next module still imports
        assert isinstance(_token(process, "first"), int)
