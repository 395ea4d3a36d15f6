"""The reference's answers kept on disk (grader.reference.memo): asked once per version
of the solutions, and never answered from another version or another question."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TOY

from grader.reference.base import CourseError
from grader.reference.live import LiveReference
from grader.reference.memo import OutcomeMemo, question
from grader.runner.probes import Probe, ProbeKey
from grader.runner.probing import ProbeRunner


def toy_copy(folder: Path) -> Path:
    solutions = folder / "solutions"
    shutil.copytree(TOY / "solutions", solutions)
    return solutions


def ask(reference: LiveReference, x: float) -> float:
    key = ProbeKey("call", "case0")
    probe = Probe(kind="call", args=(np.asarray([x], np.float32),))
    return float(reference.outcomes("toy", "double", {key: probe})[key].value[0])


@pytest.fixture
def cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DIFFLEARN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def refuse_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(self: ProbeRunner, probe: Probe) -> None:
        raise AssertionError("the reference ran, where its kept answer was asked for")

    monkeypatch.setattr(ProbeRunner, "run", run)


def test_a_second_grader_reads_the_answer_without_running_the_reference(
    cached: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    solutions = toy_copy(cached)
    assert ask(LiveReference(solutions), 1.5) == 3.0
    refuse_to_run(monkeypatch)
    assert ask(LiveReference(solutions), 1.5) == 3.0  # a new process's reference, in effect


def test_another_question_is_answered_afresh(cached: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs that course.yml changed are another question, not the kept answer."""
    solutions = toy_copy(cached)
    ask(LiveReference(solutions), 1.5)
    refuse_to_run(monkeypatch)
    with pytest.raises(CourseError, match="the reference ran"):
        ask(LiveReference(solutions), 2.5)


def test_changed_solutions_are_another_version(cached: Path) -> None:
    solutions = toy_copy(cached)
    assert ask(LiveReference(solutions), 1.5) == 3.0
    toy = solutions / "toy.py"
    toy.write_text(toy.read_text().replace("2.0 * x", "4.0 * x"), encoding="utf-8")
    assert "4.0 * x" in toy.read_text()
    assert ask(LiveReference(solutions), 1.5) == 6.0


def test_a_torn_file_is_answered_again(cached: Path) -> None:
    solutions = toy_copy(cached)
    first = LiveReference(solutions)
    ask(first, 1.5)
    assert first.memo is not None
    (kept,) = first.memo.folder.glob("toy.json.gz")
    kept.write_bytes(gzip.compress(b'{"torn'))
    assert ask(LiveReference(solutions), 1.5) == 3.0


def test_answers_written_by_another_process_are_kept(tmp_path: Path) -> None:
    """Two graders sharing the folder (a batch's workers) each add to the file."""
    one, two = OutcomeMemo(tmp_path), OutcomeMemo(tmp_path)
    assert one.get("toy", "a") == (False, None)
    one.put("toy", [("a", np.float32(1.0))])
    two.put("toy", [("b", np.float32(2.0))])
    three = OutcomeMemo(tmp_path)
    assert three.get("toy", "a") == (True, 1.0)
    assert three.get("toy", "b") == (True, 2.0)


def test_the_question_holds_the_harness_and_every_option() -> None:
    probe = Probe(kind="call", args=(np.zeros(2, np.float32),))
    asked = {
        question("toy", "double", None, probe),
        question("toy", "double", "lambda x: double(x)", probe),
        question("toy", "scan_sum", None, probe),
        question("toy", "double", None, Probe(kind="vjp", args=probe.args)),
        question("toy", "double", None, Probe(kind="call", args=probe.args, compiled=True)),
        question("toy", "double", None, Probe(kind="call", args=(np.ones(2, np.float32),))),
    }
    assert len(asked) == 6


GRADE = """
import sys
from grader.cli import main
main(["grade", {submission!r}, "--course", {course!r}])
print("JAX STARTED" if "jax" in sys.modules else "NO JAX")
"""


def grade_in_a_fresh_process(submission: Path, course: Path, cache: Path) -> str:
    """What a new grading process said of JAX after grading `submission`."""
    run = subprocess.run(
        [sys.executable, "-c", GRADE.format(submission=str(submission), course=str(course))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DIFFLEARN_CACHE_DIR": str(cache)},
    )
    return run.stdout.strip().splitlines()[-1]


def test_a_warm_grade_starts_no_jax_in_the_grading_process(tmp_path: Path) -> None:
    """The reference's answers kept, the grading process has no use for JAX: only the
    submission's process (and the verifier) start it. The first grade computes them."""
    course = tmp_path / "course"
    shutil.copytree(TOY, course)
    cache = tmp_path / "cache"
    assert grade_in_a_fresh_process(course / "solutions", course / "course.yml", cache) == (
        "JAX STARTED"
    )
    assert grade_in_a_fresh_process(course / "solutions", course / "course.yml", cache) == "NO JAX"


def test_the_cli_imports_no_jax() -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import sys, grader.cli; print('jax' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert run.stdout.strip() == "False"


def test_a_sampled_input_is_drawn_once_per_version(cached: Path) -> None:
    """The sampler runs on the first grade; the next takes the kept array, and another
    seed is another question."""
    solutions = toy_copy(cached)
    expression = "lambda key, n: jax.random.normal(key, (n,)) + double(1.0)"
    drawn = LiveReference(solutions).namespace("toy").sample(expression, 7, [3], "float32")
    kept = LiveReference(solutions).namespace("toy")
    kept.make = lambda: pytest.fail("the sampler ran, where its kept array was asked for")
    np.testing.assert_array_equal(kept.sample(expression, 7, [3], "float32"), drawn)
    with pytest.raises(pytest.fail.Exception, match="the sampler ran"):
        kept.sample(expression, 8, [3], "float32")
