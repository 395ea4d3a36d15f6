"""Attacks on the grader by submissions that want points they did not earn.

Each attack is added to a submission whose honest answers are wrong, and must not
raise its score above what the honest answers earn; the report stays complete and
the grader finishes in time. Runs on the toy course, whose limits are short.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

import numpy as np
import pytest
from conftest import ROOT, TOY

from grader.runner.sandbox import current_sandbox

# Wrong on purpose: what these answers earn is the ceiling for every attack.
HONEST = dedent("""
    import jax.numpy as jnp

    def cumulative_sum(xs):
        return jnp.cumsum(xs) + 1.0

    def batched_dot(A, B):
        return jnp.sum(A * B, axis=1) * 2.0

    def double(x):
        return 3.0 * x
    """)


@pytest.fixture(scope="module")
def honest_score(toy_course, toy_reference, tmp_path_factory):
    from grader.engine import grade_module

    folder = tmp_path_factory.mktemp("honest")
    (folder / "toy.py").write_text(HONEST)
    return grade_module(toy_course.module("toy"), folder / "toy.py", toy_reference).score


def grade_attack(grade_toy, toy_course, honest_score, attack: str):
    started = time.monotonic()
    result = grade_toy(HONEST + dedent(attack))
    assert time.monotonic() - started < 90
    expected = {(f.name, c.title) for f in toy_course.module("toy").functions for c in f.checks}
    assert {(c.function, c.check) for c in result.checks} == expected
    assert result.score <= honest_score
    return result


def difflearn(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`difflearn ARGS --course toy/course.yml`, run from the repository."""
    executable = shutil.which("difflearn") or str(Path(sys.executable).parent / "difflearn")
    return subprocess.run(
        [executable, *args, "--course", str(TOY / "course.yml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_monkeypatching_the_comparisons_gains_nothing(grade_toy, toy_course, honest_score):
    attack = """
        import chex
        import numpy
        import numpy.testing

        numpy.testing.assert_allclose = lambda *a, **k: None
        numpy.allclose = lambda *a, **k: True
        jnp.allclose = lambda *a, **k: True
        chex.assert_trees_all_close = lambda *a, **k: None
        """
    grade_attack(grade_toy, toy_course, honest_score, attack)


def test_files_named_like_libraries_or_pytest_config_have_no_effect(
    toy_course, toy_reference, honest_score, tmp_path
):
    from grader.engine import grade_module

    (tmp_path / "toy.py").write_text(HONEST)
    (tmp_path / "conftest.py").write_text("import pytest\npytest.exit('hijacked')\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --co\n")
    for library in ("numpy", "chex", "pytest", "jax"):
        (tmp_path / f"{library}.py").write_text("raise SystemExit('shadowed')\n")
    result = grade_module(toy_course.module("toy"), tmp_path / "toy.py", toy_reference)
    assert result.score == honest_score
    assert not any("shadowed" in c.message or "hijacked" in c.message for c in result.checks)


def test_a_forged_results_file_and_printed_report_do_not_survive(tmp_path):
    out = tmp_path / "results.json"
    forged = json.dumps({"score": 999, "tests": []})
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "toy.py").write_text(
        HONEST
        + dedent(f"""
        import os, time

        print("Total: 999 / 9 points")
        try:
            open({str(out)!r}, "w").write({forged!r})
        except OSError:
            pass
        if os.fork() == 0:  # a daemon that writes again once the grader is done
            os.setsid()
            for _ in range(40):
                time.sleep(0.25)
                try:
                    open({str(out)!r}, "w").write({forged!r})
                except OSError:
                    pass
            os._exit(0)
        """)
    )
    run = difflearn("grade", str(submission), "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert "Total: 999" not in run.stdout
    time.sleep(3 if current_sandbox().mode != "none" else 0)
    if current_sandbox().mode == "none":
        pytest.skip("without a sandbox a daemon can outlive the grader (see the README)")
    results = json.loads(out.read_text())
    assert results["score"] < 9 and results["tests"]


def test_the_solutions_cannot_be_read(grade_toy):
    if current_sandbox().mode != "bubblewrap":
        pytest.skip("hiding the course folder needs bubblewrap (see the README)")
    attack = f"""
        def double(x):
            from pathlib import Path

            source = Path({str(TOY / "solutions" / "toy.py")!r}).read_text()
            namespace = {{}}
            exec(source, namespace)
            return namespace["double"](x)
        """
    result = grade_toy(attack, functions=["double"])
    assert result.score == 0
    assert all("FileNotFoundError" in c.message for c in result.checks)


def test_holding_ten_gigabytes_fails_on_memory(grade_toy, toy_course, honest_score):
    attack = """
        import numpy as np

        def double(x):
            hoard = np.ones(10 * 2**30 // 8)
            return 2.0 * x + hoard[0] - 1.0
        """
    result = grade_attack(grade_toy, toy_course, honest_score, attack)
    messages = [c.message for c in result.checks if c.function == "double"]
    assert all("ran out of memory" in m for m in messages), messages


def test_an_error_does_not_carry_hidden_inputs_into_the_feedback(grade_toy):
    """A function that raises with its inputs in the message, where it cannot be seen
    answering (on the hidden and unseen cases), learns nothing of them from the report."""
    attack = """
        import numpy as np

        def double(x):
            raise ValueError("inputs " + repr(np.asarray(x).tolist()))
        """
    result = grade_toy(attack, functions=["double"])
    shown = {c.check: c.message for c in result.checks if c.function == "double"}
    assert "inputs [" in shown["values"]  # a visible case: the error is told whole
    assert "inputs" not in shown["values (hidden)"]
    assert "raised ValueError" in shown["values (hidden)"]
    assert "is not shown for cases kept from students" in shown["values (hidden)"]


KEEPER = """
    import jax
    import jax.numpy as jnp
    import numpy as np

    _seen = []


    def _keep(x):
        jax.debug.callback(lambda v: _seen.append(repr(np.asarray(v).tolist())), x)


    def _tell():
        print("SEEN", " ".join(_seen))
        raise ValueError("SEEN " + " ".join(_seen))


    def cumulative_sum(xs):
        _keep(xs)
        return jnp.cumsum(xs)


    def batched_dot(A, B):
        _keep(A)
        _tell()


    def double(x):
        _keep(x)
        _tell()
    """


def test_inputs_kept_from_students_reach_no_later_message(
    mode, grade_toy, toy_course, toy_reference
):
    """A submission that keeps every input it is given and tells them afterwards (printed,
    and in the message of an exception on a case students see) tells none of the unseen or
    hidden cases': those run after every visible case, and what the process says from
    then on is withheld."""
    from grader.course.inputs import FunctionInputs

    module = toy_course.module("toy")
    secret = []
    for function in module.functions:
        inputs = FunctionInputs(function, "toy", toy_reference.namespace("toy"))
        for case in inputs.unseen_cases + inputs.hidden_cases:
            secret.append(repr(np.asarray(case.args[0]).ravel().tolist()[0]))
    assert len(secret) >= 4  # an unseen case per function, and double's hidden one
    result = grade_toy(KEEPER)
    shown = "\n".join(
        [c.message for c in result.checks] + list(result.outputs.values()) + list(result.notes)
    )
    # The attack works where it may: what it saw on cases students see is told.
    visible = FunctionInputs(module.function("cumulative_sum"), "toy", {}).cases[0].args[0]
    assert repr(np.asarray(visible).ravel().tolist()[0]) in shown
    assert [value for value in secret if value in shown] == []


ENDING = """
    import os

    import jax.numpy as jnp

    _after_the_visible_cases = []


    def cumulative_sum(xs):
        if _after_the_visible_cases:  # its unseen case: the first request after double's
            {ending}
        return jnp.cumsum(xs)


    def batched_dot(A, B):
        return jnp.sum(A * B, axis=1)


    def double(x):
        _after_the_visible_cases.append(True)  # the last function run on visible cases
        return 2.0 * x
    """


def test_how_the_process_ended_on_a_kept_case_is_not_told(mode, grade_toy):
    """Crashing or looping on a case kept from students, depending on its inputs, would
    tell one bit of them per function: both endings read the same."""
    told = {}
    for ending in ("os._exit(3)", "while True: pass"):
        result = grade_toy(ENDING.format(ending=ending))
        told[ending] = sorted(
            c.message for c in result.checks if c.function == "cumulative_sum" and not c.passed
        )
        assert told[ending], f"{ending}: cumulative_sum failed no check on its kept case"
        assert all(c.passed for c in result.checks if c.function == "double")
    assert told["os._exit(3)"] == told["while True: pass"]
