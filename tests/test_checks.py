"""The structural checks, both ways, on the toy course: a scan present, a program that
does not grow with the size. The bce tests cover the other checks both ways."""

from __future__ import annotations

import pytest
from conftest import TOY, failed

from grader.engine import grade_module

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
    assert "no scan" in failures["uses scan"] and "cumsum" in failures["uses scan"]


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
