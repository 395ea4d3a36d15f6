"""The vmap_losses module: realistic mistakes lose points, correct alternatives score full."""

from __future__ import annotations

import pytest
from conftest import Mistake, assert_full_marks, assert_mistake_caught

MISTAKES = {
    "a forgotten bias": Mistake(
        "squared_error",
        """
        def squared_error(params, x, y):
            return (x @ params["w"] - y) ** 2
        """,
        "values",
        "expected",
    ),
    "a list comprehension over the examples": Mistake(
        "per_example_losses",
        """
        def per_example_losses(params, X, Y):
            return jnp.stack([squared_error(params, X[n], Y[n]) for n in range(X.shape[0])])
        """,
        "does not grow with N",
        "grows with N",
    ),
    "vmap over the params too": Mistake(
        "per_example_losses",
        """
        def per_example_losses(params, X, Y):
            return jax.vmap(squared_error)(params, X, Y)
        """,
        "values",
        "raised ValueError",
    ),
    "a sum where the mean is due": Mistake(
        "mean_loss",
        """
        def mean_loss(params, X, Y):
            return jnp.sum(per_example_losses(params, X, Y))
        """,
        "values",
        "N = 6 times the expected value",
    ),
    "the gradient of the mean, repeated for every example": Mistake(
        "per_example_grads",
        """
        def per_example_grads(params, X, Y):
            g = jax.grad(mean_loss)(params, X, Y)
            n = X.shape[0]
            return {"w": jnp.tile(g["w"], (n, 1)), "b": jnp.tile(g["b"], n)}
        """,
        "values",
        "expected",
    ),
    "the gradient of the summed loss": Mistake(
        "per_example_grads",
        """
        def per_example_grads(params, X, Y):
            return jax.grad(lambda p: jnp.sum(per_example_losses(p, X, Y)))(params)
        """,
        "shape and dtype",
        "expected shape (6,), got ()",
    ),
    "the distances transposed": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            return jnp.sum((B[:, None, :] - A[None, :, :]) ** 2, axis=-1)
        """,
        "shape and dtype",
        "(transposed?)",
    ),
    "distances instead of squared distances": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            return jnp.sqrt(jnp.sum((A[:, None, :] - B[None, :, :]) ** 2, axis=-1))
        """,
        "values",
        "expected",
    ),
}

ALTERNATIVES = {
    "jacrev for per-example gradients, broadcasting for distances": """
        def squared_error(params, x, y):
            return jnp.square(jnp.dot(x, params["w"]) + params["b"] - y)

        def per_example_grads(params, X, Y):
            return jax.jacrev(per_example_losses)(params, X, Y)

        def pairwise_sq_distances(A, B):
            return jnp.sum((A[:, None, :] - B[None, :, :]) ** 2, axis=-1)
        """,
    "the expanded form of the distance and einsum": """
        def per_example_losses(params, X, Y):
            return (jnp.einsum("nd,d->n", X, params["w"]) + params["b"] - Y) ** 2

        def mean_loss(params, X, Y):
            return jnp.sum(per_example_losses(params, X, Y)) / X.shape[0]

        def pairwise_sq_distances(A, B):
            a2 = jnp.sum(A * A, axis=1)[:, None]
            b2 = jnp.sum(B * B, axis=1)[None, :]
            return a2 + b2 - 2.0 * A @ B.T
        """,
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_loses_points_on_its_function(name, grade_here):
    assert_mistake_caught(grade_here, "vmap_losses", MISTAKES[name])


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_scores_full_marks(name, grade_here):
    assert_full_marks(grade_here, "vmap_losses", ALTERNATIVES[name])
