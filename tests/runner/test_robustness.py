"""The grading process survives whatever a child sends, and prints never cost points.

A submission controls its whole process, the protocol's end included: these tests send
what a hostile child can (frames that declare huge arrays, nest deeply, fill memory;
a process that stops itself; text that a terminal would read as markup) and assert the
report stays complete, the run bounded and the honest functions' points kept.
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from textwrap import dedent

import numpy as np
import pytest
from conftest import failed, needs
from test_security import difflearn

from grader import engine
from grader.reference.memo import question
from grader.runner.probes import ErrorInfo, Outcome
from grader.runner.process import Failure, OutputCapture
from grader.runner.wire import Opaque

needs("hypothesis")  # draws what a child may send; without it, this file is skipped
import hypothesis.strategies as st  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

HONEST = dedent("""
    import jax
    import jax.numpy as jnp

    def cumulative_sum(xs):
        def step(total, x):
            return total + x, total + x

        return jax.lax.scan(step, jnp.zeros((), xs.dtype), xs)[1]

    def batched_dot(A, B):
        return jax.vmap(jnp.dot)(A, B)
    """)

# The child's response pipe, as `python -c` numbers its arguments (grader.runner.process).
INJECT = """
import os, sys, time

def double(x):
    fd = int(sys.argv[4])
    frame = {frame}
    os.write(fd, len(frame).to_bytes(8, "big") + frame)
    time.sleep(60)
"""
HOSTILE_FRAMES = {
    "an array declared [2**62, 4]": b'{"event": "results", "results": [{"value": {"t": "array", '
    b'"dtype": "float32", "shape": [4611686018427387904, 4], "data": ""}}]}',
    "a frame nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "a result that is not a result": b'{"event": "results", "results": [1, 2, 3]}',
    "not JSON": b"\xff\xfe garbage",
}


def assert_complete(result, toy_course) -> None:
    expected = {(f.name, c.title) for f in toy_course.module("toy").functions for c in f.checks}
    assert {(c.function, c.check) for c in result.checks} == expected


@pytest.mark.parametrize("what", list(HOSTILE_FRAMES))
def test_a_hostile_frame_fails_only_its_function(grade_toy, toy_course, what):
    source = HONEST + INJECT.format(frame=repr(HOSTILE_FRAMES[what]))
    started = time.monotonic()
    result = grade_toy(source)
    assert time.monotonic() - started < 60
    assert_complete(result, toy_course)
    messages = failed(result, "double").values()
    assert messages and all("malformed" in m or "unexpected" in m for m in messages), messages
    assert failed(result, "cumulative_sum") == {} and failed(result, "batched_dot") == {}


def test_a_frame_of_64_mb_costs_the_grading_process_little_memory(grade_toy, toy_course):
    grade_toy(HONEST)  # the reference's outcomes, computed before memory is measured
    flood = "b'[' + b'{},' * (21 * 1024 * 1024) + b'{}]'"
    source = HONEST + INJECT.replace("frame = {frame}", f"frame = {flood}")
    tracemalloc.start()
    try:
        result = grade_toy(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_complete(result, toy_course)
    assert all("malformed" in m for m in failed(result, "double").values())
    # The frame itself, a copy or two of it; not the 1.6 GB its parsed objects would take.
    assert peak < 400 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB"


def test_a_process_that_stops_itself_costs_only_its_function(grade_toy, toy_course):
    source = HONEST + dedent("""
        import os, signal

        def double(x):
            os.kill(os.getpid(), signal.SIGSTOP)
            return 2.0 * x
        """)
    started = time.monotonic()
    result = grade_toy(source)
    assert time.monotonic() - started < 30
    assert_complete(result, toy_course)
    assert all("stopped itself" in m for m in failed(result, "double").values())
    assert failed(result, "cumulative_sum") == {} and failed(result, "batched_dot") == {}


def submission_folder(tmp_path, double: str):
    """A folder with toy.py: the honest functions and this `double`."""
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "toy.py").write_text(HONEST + dedent(double))
    return folder


def test_markup_in_an_exception_is_shown_as_it_reads(tmp_path):
    submission = submission_folder(
        tmp_path,
        """
        def double(x):
            raise ValueError("[/oops] [green]green[/green] A[n]")
        """,
    )
    out = tmp_path / "results.json"
    # A terminal wide enough that the message is not wrapped in its cell: the CPU time
    # column's width varies from run to run, and a wrap would put a border inside it.
    wide = {**os.environ, "COLUMNS": "300"}
    run = difflearn("grade", str(submission), "--json", str(out), env=wide)
    assert run.returncode == 0, run.stderr
    assert "[/oops] [green]green[/green] A[n]" in " ".join(run.stdout.split())
    tests = json.loads(out.read_text())["tests"]
    assert any("[/oops] [green]green[/green] A[n]" in t["output"] for t in tests)


def test_prints_are_shown_with_show_output_and_cost_nothing(tmp_path):
    submission = submission_folder(
        tmp_path,
        """
        def double(x):
            print("first line of double's output")
            for _ in range(50):
                print("x" * 1_000_000)
            print("last line of double's output")
            return 2.0 * x
        """,
    )
    run = difflearn("grade", str(submission), "--show-output")
    assert run.returncode == 0, run.stderr
    assert "Total: 9 / 9 points" in run.stdout
    assert "first line of double's output" in run.stdout
    assert "last line of double's output" in run.stdout
    assert "bytes of output not shown" in run.stdout
    assert len(run.stdout) < 200_000


def test_output_capture_keeps_a_bounded_head_and_tail():
    capture = OutputCapture()
    capture.feed(b"head" + b"." * 100_000)
    capture.feed(b"." * 100_000 + b"tail")
    text = capture.take()
    assert text.startswith("head") and text.endswith("tail")
    assert len(text) < 40_000 and "not shown" in text
    assert capture.take() == ""  # each request starts afresh


# What a child may answer, as the grading process decodes it.
LEAVES = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.builds(Opaque, st.text(max_size=10)),
    st.builds(
        lambda shape, dtype: np.ones(shape, dtype=dtype),
        st.lists(st.integers(0, 4), max_size=3).map(tuple),
        st.sampled_from(["float32", "float64", "int32", "bool", "complex64"]),
    ),
)
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=12,
)
OUTCOMES = st.one_of(
    st.builds(lambda v: Outcome(value=v), TREES),
    st.builds(
        lambda t, m: Outcome(error=ErrorInfo(types=[t], message=m)),
        st.sampled_from(["ValueError", "NotImplementedError", "MemoryError", "[red]X"]),
        st.text(max_size=40),
    ),
)


class FakeProcess:
    """A submission's process that answers each request with what hypothesis draws."""

    def __init__(self, replies):
        self.replies = replies
        self.output = OutputCapture()
        self.notes: dict[str, tuple[str, ...]] = {}
        self.count = 0

    def loaded(self, module: str) -> bool:
        return True

    def send(self, module, function, probes, harness=None) -> None:
        self.count = len(probes)

    def receive(self, time_limit):
        reply = self.replies.draw(
            st.one_of(
                st.lists(OUTCOMES, min_size=self.count, max_size=self.count),
                st.lists(OUTCOMES, max_size=3),
                st.builds(Failure, st.just("crash"), st.text(max_size=20)),
            )
        )
        return reply

    def request_cpu_s(self) -> float:
        return 0.0

    def stop(self) -> None:
        pass


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_whatever_a_child_answers_the_report_is_complete(toy_course, toy_reference, data):
    from io import StringIO

    from rich.console import Console

    from grader.output.report import print_report
    from grader.results import GradeResult

    module = toy_course.module("toy")
    result = engine._grade_module(FakeProcess(data), module, toy_reference)
    assert_complete(result, toy_course)
    for check in result.checks:
        assert 0 <= check.score <= check.max_score
        assert check.passed or check.score == 0
    print_report(
        GradeResult(modules=(result,), elapsed_s=0.0),
        Console(file=StringIO(), force_terminal=True, width=120),
    )


STOPPER = """
import os, signal, threading

def stop_soon(x):
    # Stops the whole process a moment after answering: before it reads the next request.
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGSTOP)).start()
    return x

def echo(x):
    return x
"""


def test_a_large_request_to_a_stopped_process_does_not_block(tmp_path):
    from grader.runner.intake import read_submission
    from grader.runner.probes import Probe
    from grader.runner.process import SubmissionProcess
    from grader.runner.sandbox import JailLimits

    (tmp_path / "stopper.py").write_text(STOPPER)
    submission = read_submission(tmp_path, ["stopper"])
    with SubmissionProcess(submission, JailLimits(memory_mb=4096)) as process:
        assert process.load("stopper", 60) is None
        process.send("stopper", "stop_soon", [Probe(kind="call", args=(np.zeros(1),))])
        assert not isinstance(process.receive(30), Failure)
        time.sleep(1.0)
        # 16 MB: far more than a pipe holds, so a blocking write would wait forever.
        started = time.monotonic()
        big = np.zeros(4 * 1024 * 1024, dtype=np.float32)
        process.send("stopper", "echo", [Probe(kind="call", args=(big,))])
        reply = process.receive(5)
        assert time.monotonic() - started < 10
        assert isinstance(reply, Failure) and "stopped itself" in reply.message


class ReferenceProcess(FakeProcess):
    """A submission's process that answers exactly as the reference does."""

    def __init__(self, reference) -> None:
        super().__init__(None)
        self.reference = reference

    def send(self, module, function, probes, harness=None) -> None:
        # Keys of the probes' content: a function's probes come in two requests (the cases
        # students see, then the others), and the reference remembers answers by key.
        keyed = {f"{i}:{question(module, function, harness, p)}": p for i, p in enumerate(probes)}
        self.answers = list(self.reference.outcomes(module, function, keyed, harness).values())

    def receive(self, time_limit):
        return self.answers


class ReferenceVerifier:
    """The verifier for ReferenceProcess, whose programs' outcomes are the reference's facts."""

    def submit(self, programs, time_limit):
        self.programs = programs

    def collect(self):
        return {key: outcome for key, (_, outcome) in self.programs.items()}


def test_a_grader_bug_in_one_function_fails_that_function_only(
    toy_course, toy_reference, monkeypatch
):
    from grader.checks.values import GradientsCheck

    def broken(self, expected, actual):
        raise RuntimeError("a bug in the grader")

    module = toy_course.module("toy")
    honest = engine._grade_module(
        ReferenceProcess(toy_reference), module, toy_reference, verifier=ReferenceVerifier()
    )
    assert honest.score == honest.max_score  # the fake answers as the reference does
    monkeypatch.setattr(GradientsCheck, "judge_outcomes", broken)
    result = engine._grade_module(
        ReferenceProcess(toy_reference), module, toy_reference, verifier=ReferenceVerifier()
    )
    assert_complete(result, toy_course)
    assert all(
        "the grader itself failed" in c.message and "RuntimeError" in c.message
        for c in result.checks
        if c.function == "double"
    )
    assert failed(result, "cumulative_sum") == {} and failed(result, "batched_dot") == {}


def test_a_grader_bug_in_verifying_one_function_fails_that_function_only(toy_course, toy_reference):
    """The verifier works beside the submission's process (engine._Verifying): a failure
    in reading one function's programs lands on that function, whenever it is read."""

    class BrokenOnce(ReferenceVerifier):
        def collect(self):
            if any(key.kind == "export" for key in self.programs) and not hasattr(self, "hit"):
                self.hit = True
                raise RuntimeError("a bug in the verifier's pipe")
            return super().collect()

    module = toy_course.module("toy")
    result = engine._grade_module(
        ReferenceProcess(toy_reference), module, toy_reference, verifier=BrokenOnce()
    )
    assert_complete(result, toy_course)
    broken = {c.function for c in result.checks if "a bug in the verifier's pipe" in c.message}
    assert len(broken) == 1, broken  # the first function with programs, and no other
    assert all(c.passed for c in result.checks if c.function not in broken)
