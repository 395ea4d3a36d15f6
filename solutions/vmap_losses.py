"""vmap is a compiled for-loop: losses and gradients per example.

A linear model `params = {"w": (D,), "b": ()}` predicts `x @ w + b` for one example
`x: (D,)`. Write the loss for one example, then let `jax.vmap` map it over a batch:
the program is traced once for one example and vectorised, so it does not grow
with the number of examples N, and `vmap(grad(loss))` gives every example's
gradient in one pass.
"""

import jax
import jax.numpy as jnp


def squared_error(params: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    """The squared error of the linear model on one example: (x @ w + b - y) ** 2.

    Args:
      params: {"w": (D,), "b": ()}.
      x: (D,), one example.
      y: (), its target.

    Returns:
      A scalar.
    """
    ### BEGIN SOLUTION
    prediction = x @ params["w"] + params["b"]
    return (prediction - y) ** 2
    ### END SOLUTION


def per_example_losses(params: dict[str, jax.Array], X: jax.Array, Y: jax.Array) -> jax.Array:
    """`squared_error` for every example, mapped with `jax.vmap`.

    Args:
      params: {"w": (D,), "b": ()}, shared by all examples.
      X: (N, D).
      Y: (N,).

    Returns:
      (N,), out[n] = squared_error(params, X[n], Y[n]).

    Hint: `jax.vmap(f, in_axes=(None, 0, 0))` maps over X and Y and passes the same
    params to every example. No Python loop: the grader checks that the traced
    program does not grow with N.
    """
    ### BEGIN SOLUTION
    return jax.vmap(squared_error, in_axes=(None, 0, 0))(params, X, Y)
    ### END SOLUTION


def mean_loss(params: dict[str, jax.Array], X: jax.Array, Y: jax.Array) -> jax.Array:
    """The mean of the per-example losses: (1/N) * sum_n squared_error(params, X[n], Y[n]).

    Args:
      params: {"w": (D,), "b": ()}.
      X: (N, D).
      Y: (N,).

    Returns:
      A scalar.
    """
    ### BEGIN SOLUTION
    return jnp.mean(per_example_losses(params, X, Y))
    ### END SOLUTION


def per_example_grads(
    params: dict[str, jax.Array], X: jax.Array, Y: jax.Array
) -> dict[str, jax.Array]:
    """The gradient of `squared_error` with respect to params, for each example.

    Args:
      params: {"w": (D,), "b": ()}.
      X: (N, D).
      Y: (N,).

    Returns:
      {"w": (N, D), "b": (N,)}: entry n is grad(squared_error)(params, X[n], Y[n]).

    Hint: `jax.vmap(jax.grad(squared_error), in_axes=(None, 0, 0))`. This is not the
    gradient of the mean repeated N times: each example has its own gradient
    (what differentially private training and influence functions need).
    """
    ### BEGIN SOLUTION
    return jax.vmap(jax.grad(squared_error), in_axes=(None, 0, 0))(params, X, Y)
    ### END SOLUTION


def pairwise_sq_distances(A: jax.Array, B: jax.Array) -> jax.Array:
    """Squared Euclidean distances between every row of A and every row of B.

        out[i, j] = sum_d (A[i, d] - B[j, d]) ** 2

    Args:
      A: (N, D).
      B: (M, D).

    Returns:
      (N, M).

    Hint: write the distance between two (D,) vectors, then nest two vmaps: the
    inner one over the rows of B (in_axes=(None, 0)), the outer one over the rows
    of A (in_axes=(0, None)).
    """

    ### BEGIN SOLUTION
    def sq_distance(a, b):
        return jnp.sum((a - b) ** 2)

    over_b = jax.vmap(sq_distance, in_axes=(None, 0))
    return jax.vmap(over_b, in_axes=(0, None))(A, B)
    ### END SOLUTION
