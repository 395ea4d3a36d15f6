"""The primitives module: realistic mistakes lose points, correct alternatives score full."""

from __future__ import annotations

import pytest
from conftest import Mistake, assert_full_marks, assert_mistake_caught

MISTAKES = {
    "finite differences in place of jax.grad": Mistake(
        "derivative",
        """
        def derivative(f):
            return lambda x: (f(x + 1e-3) - f(x - 1e-3)) / 2e-3
        """,
        "values",
        "expected",
    ),
    "a float() on the argument, which vmap and jit cannot trace": Mistake(
        "derivative",
        """
        def derivative(f):
            return lambda x: jax.grad(f)(float(x))
        """,
        "values",
        "fails when traced",
    ),
    "a Python if in relu": Mistake(
        "relu",
        """
        def relu(x):
            if x > 0:
                return x
            return jnp.zeros_like(x)
        """,
        "values",
        "jnp.where",
    ),
    "a leaky relu": Mistake(
        "relu",
        """
        def relu(x):
            return jnp.maximum(x, 0.01 * x)
        """,
        "values",
        "expected 0",
    ),
    "a Python loop over the rows": Mistake(
        "batched_dot",
        """
        def batched_dot(A, B):
            return jnp.stack([jnp.dot(A[n], B[n]) for n in range(A.shape[0])])
        """,
        "does not grow with N",
        "grows with N",
    ),
    "every pair of rows instead of matching rows": Mistake(
        "batched_dot",
        """
        def batched_dot(A, B):
            return A @ B.T
        """,
        "shape and dtype",
        "expected shape (4,), got (4, 4)",
    ),
    "jnp.cumsum instead of the scan": Mistake(
        "cumulative_sum",
        """
        def cumulative_sum(xs):
            return jnp.cumsum(xs)
        """,
        "uses scan",
        "no loop",
    ),
    "the sum before adding x (an exclusive scan)": Mistake(
        "cumulative_sum",
        """
        def cumulative_sum(xs):
            return jax.lax.scan(lambda total, x: (total + x, total), 0.0, xs)[1]
        """,
        "values",
        "an exclusive scan",
    ),
}

ALTERNATIVES = {
    "jacfwd, jnp.where, einsum and a scan over indices": """
        def derivative(f):
            return jax.jacfwd(f)

        def relu(x):
            return jnp.where(x > 0, x, 0.0)

        def batched_dot(A, B):
            return jnp.einsum("nd,nd->n", A, B)

        def cumulative_sum(xs):
            def step(total, t):
                total = total + xs[t]
                return total, total

            return jax.lax.scan(step, jnp.float32(0.0), jnp.arange(xs.shape[0]))[1]
        """,
    "a grad of a grad through jax.tree_util.Partial, and broadcasting": """
        def _apply_grad(f, x):
            return jax.grad(f)(x)

        def derivative(f):
            return jax.tree_util.Partial(_apply_grad, f)

        def relu(x):
            return x * (x > 0)

        def batched_dot(A, B):
            return (A * B).sum(axis=-1)
        """,
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_loses_points_on_its_function(name, grade_here):
    assert_mistake_caught(grade_here, "primitives", MISTAKES[name])


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_scores_full_marks(name, grade_here):
    assert_full_marks(grade_here, "primitives", ALTERNATIVES[name])
