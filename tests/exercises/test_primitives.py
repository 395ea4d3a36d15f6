"""The primitives module: realistic mistakes lose points, correct alternatives score full."""

from __future__ import annotations

import pytest
from conftest import Mistake, assert_full_marks, assert_mistake_caught

MISTAKES = {
    "relu6, capped at 6 (as in MobileNet)": Mistake(
        "relu",
        """
        def relu(x):
            return jax.nn.relu6(x)
        """,
        "finite values",
        "expected 6.5",
    ),
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
    "value_and_grad's (value, gradient) pair where the gradient is due": Mistake(
        "derivative",
        """
        def derivative(f):
            return jax.value_and_grad(f)
        """,
        "values",
        # derivative(derivative(f)) differentiates the pair, which is not a scalar.
        "Gradient only defined for scalar-output functions",
    ),
    "a vmap inside derivative, over a scalar": Mistake(
        "derivative",
        """
        def derivative(f):
            return jax.vmap(jax.grad(f))
        """,
        "values",
        "rank should be at least 1",
    ),
    "jax.jvp's primal output where its tangent is due": Mistake(
        "derivative",
        """
        def derivative(f):
            return lambda x: jax.jvp(f, (x,), (jnp.ones_like(x),))[0]
        """,
        "values",
        "5 of 5 entries differ",
    ),
    "a stop_gradient on the result, so that derivatives do not compose": Mistake(
        "derivative",
        """
        def derivative(f):
            return lambda x: jax.lax.stop_gradient(jax.grad(f)(x))
        """,
        "values",
        # The first derivative is right; the second (output[1]) is 0.
        "output[1]: 5 of 5 entries differ",
    ),
    "jnp.max (a reduction over axis 0) where jnp.maximum is due": Mistake(
        "relu",
        """
        def relu(x):
            return jnp.max(x, 0)
        """,
        "shape and dtype",
        "expected shape (4, 3), got (3,)",
    ),
    "Python's built-in max on an array": Mistake(
        "relu",
        """
        def relu(x):
            return max(x, 0.0)
        """,
        "values",
        "use jnp.maximum",
    ),
    "the boolean mask x > 0 returned": Mistake(
        "relu",
        """
        def relu(x):
            return x > 0
        """,
        "shape and dtype",
        "expected dtype float32, got bool",
    ),
    "the step function (relu's derivative) in place of relu": Mistake(
        "relu",
        """
        def relu(x):
            return (x > 0).astype(x.dtype)
        """,
        "values",
        "expected",
    ),
    "softplus, a smooth relu": Mistake(
        "relu",
        """
        def relu(x):
            return jax.nn.softplus(x)
        """,
        "values",
        "12 of 12 entries differ",
    ),
    "every product summed into one number": Mistake(
        "batched_dot",
        """
        def batched_dot(A, B):
            return jnp.sum(A * B)
        """,
        "shape and dtype",
        "reduced to a scalar",
    ),
    "vmap over the columns (in_axes=1)": Mistake(
        "batched_dot",
        """
        def batched_dot(A, B):
            return jax.vmap(jnp.dot, in_axes=1)(A, B)
        """,
        "shape and dtype",
        "expected shape (4,), got (3,)",
    ),
    "the rows cut at the first case's N = 4": Mistake(
        "batched_dot",
        """
        def batched_dot(A, B):
            return jax.vmap(jnp.dot)(A[:4], B[:4])
        """,
        "shape and dtype",
        "case 2 of 2 (N=13, D=5): output: expected shape (13,), got (4,)",
    ),
    "jnp.dot of the two matrices": Mistake(
        "batched_dot",
        """
        def batched_dot(A, B):
            return jnp.dot(A, B)
        """,
        "values",
        "dot_general requires contracting dimensions to have the same shape",
    ),
    "the final carry returned where the outputs are due": Mistake(
        "cumulative_sum",
        """
        def cumulative_sum(xs):
            return jax.lax.scan(lambda total, x: (total + x, total + x), 0.0, xs)[0]
        """,
        "shape and dtype",
        "reduced to a scalar",
    ),
    "a scan over xs[1:] that starts from xs[0]": Mistake(
        "cumulative_sum",
        """
        def cumulative_sum(xs):
            return jax.lax.scan(lambda total, x: (total + x, total + x), xs[0], xs[1:])[1]
        """,
        "shape and dtype",
        "expected shape (6,), got (5,)",
    ),
    "a carry of shape (1,) from jnp.zeros(1)": Mistake(
        "cumulative_sum",
        """
        def cumulative_sum(xs):
            return jax.lax.scan(lambda total, x: (total + x, total + x), jnp.zeros(1), xs)[1]
        """,
        "shape and dtype",
        "expected shape (6,), got (6, 1)",
    ),
    "a Python loop keeping a running total": Mistake(
        "cumulative_sum",
        """
        def cumulative_sum(xs):
            sums, total = [], 0.0
            for x in xs:
                total = total + x
                sums.append(total)
            return jnp.stack(sums)
        """,
        "uses scan",
        "no loop",
    ),
    "jax.lax.associative_scan in place of the scan": Mistake(
        "cumulative_sum",
        """
        def cumulative_sum(xs):
            return jax.lax.associative_scan(jnp.add, xs)
        """,
        "does not grow with T",
        "associative_scan into one level per doubling",
    ),
}

ALTERNATIVES = {
    "jnp.where, einsum under vmap and a scan over indices": """
        def relu(x):
            return jnp.where(x > 0, x, 0.0)

        def batched_dot(A, B):
            return jax.vmap(lambda a, b: jnp.einsum("d,d->", a, b))(A, B)

        def cumulative_sum(xs):
            def step(total, t):
                total = total + xs[t]
                return total, total

            return jax.lax.scan(step, jnp.float32(0.0), jnp.arange(xs.shape[0]))[1]
        """,
    "a grad of a grad through jax.tree_util.Partial, and a vmapped product": """
        def _apply_grad(f, x):
            return jax.grad(f)(x)

        def derivative(f):
            return jax.tree_util.Partial(_apply_grad, f)

        def relu(x):
            return x * (x > 0)

        def batched_dot(A, B):
            return jax.vmap(lambda a, b: (a * b).sum(axis=-1))(A, B)
        """,
    "a scan unrolled two steps at a time": """
        def cumulative_sum(xs):
            def step(total, x):
                return total + x, total + x

            return jax.lax.scan(step, jnp.zeros((), xs.dtype), xs, unroll=2)[1]
        """,
    "equinox: filter_grad, filter_vmap and jax.nn.relu": """
        import equinox as eqx

        def derivative(f):
            return eqx.filter_grad(f)

        def relu(x):
            return jax.nn.relu(x)

        def batched_dot(A, B):
            return eqx.filter_vmap(jnp.dot)(A, B)

        def cumulative_sum(xs):
            def step(total, x):
                total = total + x
                return total, total

            return jax.lax.scan(step, jnp.zeros_like(xs[0]), xs)[1]
        """,
    "jax.lax primitives: lax.max, lax.dot_general under vmap, lax.add in the scan": """
        from jax import lax

        def relu(x):
            return lax.max(x, jnp.zeros_like(x))

        def batched_dot(A, B):
            contract = (((0,), (0,)), ((), ()))
            return jax.vmap(lambda a, b: lax.dot_general(a, b, contract))(A, B)

        def cumulative_sum(xs):
            return lax.scan(lambda c, x: (lax.add(c, x),) * 2, lax.full((), 0.0, xs.dtype), xs)[1]
        """,
    "the JAX autodiff cookbook: a jitted grad in a closure, vmap as a decorator": """
        def derivative(f):
            df = jax.jit(jax.grad(f))
            return lambda x: df(x)

        def batched_dot(A, B):
            @jax.vmap
            def dot(a, b):
                return jnp.sum(a * b)

            return dot(A, B)
        """,
    "the JAX 101 tutorial's value_and_grad, relu as the textbook (x + |x|) / 2": """
        def derivative(f):
            def df(x):
                _, slope = jax.value_and_grad(f)(x)
                return slope

            return df

        def relu(x):
            return (x + jnp.abs(x)) / 2
        """,
    "PyTorch habits: clamp(min=0), a vmapped matmul, a scan with an explicit dtype": """
        def relu(x):
            return jnp.clip(x, min=0.0)

        def batched_dot(A, B):
            return jax.vmap(jnp.matmul)(A, B)

        def cumulative_sum(xs):
            def step(carry, x):
                carry = carry + x
                return carry, carry

            _, ys = jax.lax.scan(step, jnp.array(0.0, dtype=xs.dtype), xs)
            return ys
        """,
    "NumPy habits: heaviside, a per-row einsum under vmap, a step counter in the carry": """
        def relu(x):
            return x * jnp.heaviside(x, 0.0)

        def batched_dot(A, B):
            def dot(a, b):
                return jnp.einsum("d,d->", a, b)

            return jax.vmap(dot, in_axes=(0, 0), out_axes=0)(A, B)

        def cumulative_sum(xs):
            def step(carry, x):
                t, total = carry
                total = total + x
                return (t + 1, total), total

            return jax.lax.scan(step, (0, jnp.float32(0.0)), xs)[1]
        """,
    "Haiku-style: functools.partial, jnp.where on the negative side, vmap of vdot": """
        import functools

        def derivative(f):
            return functools.partial(jax.grad(f))

        def relu(x):
            return jnp.where(x < 0, jnp.zeros_like(x), x)

        def batched_dot(A, B):
            return jax.vmap(jnp.vdot)(A, B)
        """,
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_loses_points_on_its_function(name, grade_here):
    assert_mistake_caught(grade_here, "primitives", MISTAKES[name])


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_scores_full_marks(name, grade_here):
    assert_full_marks(grade_here, "primitives", ALTERNATIVES[name])
