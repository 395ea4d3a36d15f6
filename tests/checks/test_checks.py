"""The structural checks, both ways, on the toy course: a scan present, a program that
does not grow with the size (test_judge.py judges every kind on hand-made outcomes).
And the outcome checks' lambdas, which see only outputs shaped like the reference's."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TOY, failed

from grader.checks import CHECKS, make_checks
from grader.checks.base import Check, Verdict
from grader.checks.errors import describe_error
from grader.course.inputs import Inputs
from grader.course.specs import CheckSpec, Course, OutcomeSpec
from grader.engine import grade_module
from grader.runner.probes import ErrorInfo, Outcome
from grader.runner.wire import Opaque

PYTHON_LOOP_CUMSUM = """
import jax.numpy as jnp

def cumulative_sum(xs):
    total, sums = 0.0, []
    for i in range(xs.shape[0]):
        total = total + xs[i]
        sums.append(total)
    return jnp.stack(sums)
"""

JNP_CUMSUM = """
import jax.numpy as jnp

def cumulative_sum(xs):
    return jnp.cumsum(xs)
"""

LIST_COMPREHENSION_DOT = """
import jax.numpy as jnp

def batched_dot(A, B):
    return jnp.stack([A[i] @ B[i] for i in range(A.shape[0])])
"""

BROADCAST_DOT = """
import jax.numpy as jnp

def batched_dot(A, B):
    return jnp.sum(A * B, axis=1)
"""


def test_reference_passes_every_toy_check(toy_course, toy_reference):
    result = grade_module(toy_course.module("toy"), TOY / "solutions" / "toy.py", toy_reference)
    assert [c.name for c in result.checks if not c.passed] == []
    assert result.score == pytest.approx(9)


def test_jnp_cumsum_keeps_value_points_but_fails_the_scan_check(grade_toy):
    result = grade_toy(JNP_CUMSUM, functions=["cumulative_sum"])
    failures = failed(result, "cumulative_sum")
    assert list(failures) == ["uses scan"]
    assert "no loop" in failures["uses scan"] and "jax.lax.scan" in failures["uses scan"]


def test_python_loop_fails_scan_and_growth_checks(grade_toy):
    result = grade_toy(PYTHON_LOOP_CUMSUM, functions=["cumulative_sum"])
    failures = failed(result, "cumulative_sum")
    assert set(failures) == {"uses scan", "does not grow with T"}
    assert "grows with T" in failures["does not grow with T"]


def test_list_comprehension_grows_with_the_batch(grade_toy):
    result = grade_toy(LIST_COMPREHENSION_DOT, functions=["batched_dot"])
    assert list(failed(result, "batched_dot")) == ["does not grow with N"]


def test_broadcasting_does_not_grow_with_the_batch(grade_toy):
    result = grade_toy(BROADCAST_DOT, functions=["batched_dot"])
    assert failed(result, "batched_dot") == {}


UNTRACEABLE_CUMSUM = """
import jax
import jax.numpy as jnp

def cumulative_sum(xs):
    if jnp.max(xs) > 100.0:  # a Python if on a value: fine op by op, not under jit
        xs = xs / 100.0
    _, sums = jax.lax.scan(lambda c, x: (c + x, c + x), 0.0, xs)
    return sums
"""


def test_code_that_cannot_be_traced_keeps_its_values_and_fails_jit(grade_toy):
    # Calls run compiled where the function traces; this one does not, so its values
    # come from running it op by op, and only the jit check (and what needs a trace) fails.
    failures = failed(grade_toy(UNTRACEABLE_CUMSUM, functions=["cumulative_sum"]), "cumulative_sum")
    assert set(failures) == {"jit", "uses scan", "does not grow with T"}
    assert "ConcretizationTypeError" in failures["jit"] or "jnp.where" in failures["jit"]


# Outcome checks run course.yml's lambdas in the grading process, on what the student's
# process sent: unit tests on hand-made outcomes, with the real course's check specs.

RECORDING_OF = "lambda outputs, *args: note(outputs)"


class Recorder:
    """`note(x)` for the lambdas: records what reached the lambda, returns True."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def note(self, outputs: Any) -> bool:
        self.calls.append(outputs)
        return True


def hmm_checks(course: Course, function: str, recorder: Recorder, *specs: CheckSpec) -> list[Check]:
    """The outcome checks of hmm.`function` (or `specs` in their place), with lambdas that
    call `note`, a `negative_log_likelihood` that records its call, and data sampled from
    a stand-in for `sample_hmm` (the inputs matter only for their shapes here)."""
    spec = course.module("hmm").function(function)
    outcome_specs = specs or tuple(c for c in spec.checks if isinstance(c.parameter, OutcomeSpec))
    namespace = {
        "np": np,
        "jnp": jnp,
        "note": recorder.note,
        "negative_log_likelihood": lambda raw, xs: recorder.note(raw) and np.sum(raw["means"]),
        "sample_hmm": lambda key, pi, A, means, covs, T: (None, np.zeros((T, 2), np.float32)),
    }
    return make_checks(dataclasses.replace(spec, checks=outcome_specs), "hmm", namespace)


def recording(kind: str, **parameters: Any) -> CheckSpec:
    title = f"recorded {kind}"
    outcome = OutcomeSpec(title=title, of=RECORDING_OF, **parameters)
    return CheckSpec(kind, 1.0, title, CHECKS[kind].gating, outcome)


def covariances_outcomes(check: Check) -> dict[str, Outcome]:
    """Stacks of symmetric positive definite matrices shaped like covariances' outputs."""
    outcomes = {}
    for key, probe in check.probes().items():
        K, D, _ = probe.args[0].shape
        outcomes[key] = Outcome(np.stack([np.eye(D, dtype=np.float32) * (k + 1) for k in range(K)]))
    return outcomes


def fit_outcomes(check: Check) -> dict[str, Outcome]:
    """Fits shaped like fit_hmm's: the raw parameters, with the target means, and losses
    that fall."""
    outcomes = {}
    for key, probe in check.probes().items():
        raw, _, _, num_steps = probe.args
        means = np.array([[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]], np.float32)
        losses = np.linspace(3.0, 1.0, num_steps, dtype=np.float32)
        outcomes[key] = Outcome(({**raw, "means": means}, losses))
    return outcomes


def judge_changed(check: Check, expected: dict[str, Outcome], change: Callable[[Any], Any]):
    """The verdict on `expected` as the reference's outcomes and, as the student's, each
    changed by `change`."""
    actual = {key: Outcome(change(outcome.value)) for key, outcome in expected.items()}
    return check.judge(expected, actual)


def test_predicate_passes_the_right_outputs(course):
    (check,) = hmm_checks(course, "covariances", Recorder())
    verdict = judge_changed(check, covariances_outcomes(check), lambda S: S.copy())
    assert verdict == Verdict(True, "symmetric positive definite on every case")


def test_predicate_fails_wrong_values_of_the_right_shape(course):
    (check,) = hmm_checks(course, "covariances", Recorder())
    verdict = judge_changed(check, covariances_outcomes(check), lambda S: -S)
    assert not verdict.passed
    assert "not symmetric positive definite" in verdict.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # The right matrices, each twice: all positive definite, not the shape asked for.
        (lambda S: np.concatenate([S, S]), "output: expected shape (2, 3, 3), got (4, 3, 3)"),
        # The right matrices in a list where one array is expected.
        (list, "output: expected a float32 array of shape (2, 3, 3), got a list of 2"),
    ],
    ids=["repeated", "list"],
)
def test_predicate_refuses_the_right_values_in_the_wrong_shape(course, change, message):
    (check,) = hmm_checks(course, "covariances", Recorder())
    verdict = judge_changed(check, covariances_outcomes(check), change)
    assert not verdict.passed
    assert verdict.message.startswith(f"case 1 of 2 (K=2, D=3): {message}")
    assert "'symmetric positive definite'" in verdict.message


def test_outcome_lambda_never_sees_float64_where_float32_is_expected(course):
    # As in the shape and values checks: float64 (NumPy's default) is not the float32 asked for.
    recorder = Recorder()
    (check,) = hmm_checks(course, "covariances", recorder, recording("predicate"))
    verdict = judge_changed(check, covariances_outcomes(check), lambda S: S.astype(np.float64))
    assert not verdict.passed
    assert "output: expected dtype float32, got float64" in verdict.message
    assert recorder.calls == []


OUTCOME_KINDS = {
    "predicate": {},
    "objective": {"margin": 0.01},
    "decreasing": {},
    "permutation_match": {"target": np.eye(3, dtype=np.float32), "atol": 0.3},
}


@pytest.mark.parametrize("kind", list(OUTCOME_KINDS))
def test_a_flood_of_tiny_arrays_never_reaches_the_outcome_lambda(course, kind):
    recorder = Recorder()
    (check,) = hmm_checks(course, "covariances", recorder, recording(kind, **OUTCOME_KINDS[kind]))
    expected = covariances_outcomes(check)
    flood = (np.eye(3, dtype=np.float32),) * 100_000
    start = time.perf_counter()
    verdict = judge_changed(check, expected, lambda S: flood)
    assert time.perf_counter() - start < 1.0
    assert recorder.calls == []
    assert not verdict.passed
    assert "expected a float32 array of shape (2, 3, 3), got a tuple of 100000" in verdict.message


def test_an_opaque_output_never_reaches_the_outcome_lambda(course):
    recorder = Recorder()
    (check,) = hmm_checks(course, "covariances", recorder, recording("predicate"))
    verdict = judge_changed(check, covariances_outcomes(check), lambda S: Opaque("generator"))
    assert recorder.calls == []
    assert not verdict.passed
    assert "output: expected a float32 array of shape (2, 3, 3), got a generator" in verdict.message


def test_outcome_lambda_runs_on_outputs_shaped_like_the_reference(course):
    recorder = Recorder()
    (check,) = hmm_checks(course, "covariances", recorder, recording("predicate"))
    with jax.disable_jit():  # a lambda runs compiled, traced once per shape: every call seen
        verdict = judge_changed(check, covariances_outcomes(check), lambda S: S.copy())
    assert verdict.passed, verdict.message
    # The student's outputs, then the reference's, on each of the two cases and on the
    # unseen case, shaped like the first.
    shapes = [(2, 3, 3), (2, 3, 3), (3, 2, 2), (3, 2, 2), (2, 3, 3), (2, 3, 3)]
    assert [np.shape(c) for c in recorder.calls] == shapes


def test_fit_checks_pass_a_fit_shaped_like_the_reference(course):
    recorder = Recorder()
    checks = hmm_checks(course, "fit_hmm", recorder)
    for check in checks:
        with jax.disable_jit():  # as above
            verdict = judge_changed(check, fit_outcomes(check), lambda fit: fit)
        assert verdict.passed, f"{check.title}: {verdict.message}"
    # The final loss, of the student's fit and of the reference's, on two cases and the
    # unseen one.
    assert len(recorder.calls) == 6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda fit: (fit[0], Opaque("generator")), "losses: expected a float32 array of shape"),
        (
            lambda fit: ({**fit[0], "means": Opaque("object")}, fit[1]),
            "raw['means']: expected a float32 array of shape (3, 2), got a object",
        ),
    ],
    ids=["losses", "means"],
)
def test_an_opaque_leaf_of_a_fit_never_reaches_the_outcome_lambdas(course, change, message):
    recorder = Recorder()
    checks = hmm_checks(course, "fit_hmm", recorder)
    assert [c.title for c in checks] == ["final loss", "losses fall", "means up to relabelling"]
    for check in checks:
        verdict = judge_changed(check, fit_outcomes(check), change)
        assert not verdict.passed
        assert message in verdict.message, verdict.message
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("error", "hint", "not_hint"),
    [
        ("TracerBoolConversionError", "jnp.where", "static_argnums"),
        ("TracerIntegerConversionError", "static_argnums", "jnp.where"),
        ("TracerArrayConversionError", "jax.numpy", "static_argnums"),
    ],
)
def test_each_tracer_error_gets_its_own_hint(course, error, hint, not_hint):
    # As JAX's classes are: each a ConcretizationTypeError, itself a TypeError.
    types = [error, "ConcretizationTypeError", "TypeError", "Exception"]
    limits = course.module("bce").function("sigmoid").limits
    message = describe_error(ErrorInfo(types=types, message="x"), limits)
    assert error in message and hint in message and not_hint not in message


@pytest.mark.parametrize(
    ("losses", "said"),
    [
        ([10.0, 11.0, 12.0, 13.0, 14.0], "the losses rise at step 1"),
        ([10.0, 9.9, 9.8, 9.7, 9.6], "the fit stalls"),
        ([10.0, 8.0, 7.0, 6.5, 6.4], "a worse optimum"),
        ([10.0, 8.0, 8.01, 6.5, 6.4], "a worse optimum"),  # Adam's wiggle is not a rise
    ],
)
def test_a_failed_fit_is_told_apart_by_its_losses(course, losses, said):
    spec = course.module("hmm").function("fit_hmm")
    checks = make_checks(spec, "hmm", {"np": np, "jnp": jnp})
    objective = next(c for c in checks if c.spec.kind == "objective")
    reference = ({}, np.array([10.0, 8.0, 6.0, 5.0, 4.5], np.float32))
    mine = ({}, np.array(losses, np.float32))
    inputs = Inputs(label="case0", case={}, args=())
    assert said in objective.diagnose(mine, reference, inputs)
