"""What each JAX transformation does, one at a time: grad, jit, vmap and scan.

- `jax.grad(f)` is a new function that computes the derivative of `f`; since it is
  a function like any other, it can be differentiated again.
- `jax.jit(f)` traces `f` with abstract values (tracers) and compiles the traced
  program once per shape and dtype. Python control flow on a tracer fails: there
  is no concrete value to branch on.
- `jax.vmap(f)` maps `f` over a leading axis: the program is traced for one example
  and vectorised, so it does not grow with the batch ("a compiled for-loop").
- `jax.lax.scan(step, carry, xs)` runs `step` over the leading axis of `xs`, threading
  a carry through; the body is traced once, however long the sequence.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp


def derivative(f: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """The derivative of a scalar function, as a function: x -> f'(x).

    Args:
      f: a function from a scalar (0-d array) to a scalar.

    Returns:
      A function of a scalar `x` that returns f'(x), a scalar. It must compose:
      `derivative(derivative(f))` is f'', and it works under `jax.jit` and `jax.vmap`.

    Hint: `jax.grad` takes a function and returns a function. Finite differences
    (f(x + h) - f(x - h)) / 2h are only approximate, and worse when nested.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def relu(x: jax.Array) -> jax.Array:
    """The rectified linear unit, elementwise: relu(x) = max(x, 0).

    Args:
      x: an array of any shape.

    Returns:
      An array of the shape of `x`.

    Hint: under `jax.jit`, `x` is a tracer and `if x > 0:` has no value to test.
    `jnp.maximum` (or `jnp.where(x > 0, x, 0.0)`) chooses elementwise, with no branch.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def batched_dot(A: jax.Array, B: jax.Array) -> jax.Array:
    """Row-wise dot products, out[n] = sum_d A[n, d] * B[n, d], written with `jax.vmap`.

    Args:
      A: (N, D).
      B: (N, D).

    Returns:
      (N,).

    Hint: write the dot product of two (D,) vectors, then `jax.vmap` it over the
    rows; a Python loop over n traces N copies of the body.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def cumulative_sum(xs: jax.Array) -> jax.Array:
    """Running sums, out[t] = xs[0] + ... + xs[t], written with `jax.lax.scan`.

    Args:
      xs: (T,).

    Returns:
      (T,).

    Hint: the carry is the sum so far; the step adds x and returns the new sum as
    both the next carry and the output of the step:
    `jax.lax.scan(step, init, xs)` with `step(total, x) -> (total + x, total + x)`.
    (`jnp.cumsum` gives the same values, but the exercise is the scan.)
    """

    # YOUR CODE HERE
    raise NotImplementedError()
