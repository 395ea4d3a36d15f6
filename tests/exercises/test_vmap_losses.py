"""The vmap_losses module: realistic mistakes lose points, correct alternatives score full."""

from __future__ import annotations

import pytest
from conftest import Mistake, assert_full_marks, assert_mistake_caught

MISTAKES = {
    "the expanded distance |a|^2 + |b|^2 - 2 a.b, which cancels far from the origin": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            a2 = jnp.sum(A * A, axis=1)[:, None]
            b2 = jnp.sum(B * B, axis=1)[None, :]
            return a2 + b2 - 2.0 * A @ B.T
        """,
        "finite values",
        "loses precision at these magnitudes",
    ),
    "a Python double loop over the pairs": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            return jnp.stack([jnp.stack([jnp.sum((a - b) ** 2) for b in B]) for a in A])
        """,
        "does not grow with N",
        "grows with N",
    ),
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
    "optax.l2_loss, which halves the square": Mistake(
        "squared_error",
        """
        import optax

        def squared_error(params, x, y):
            return optax.l2_loss(x @ params["w"] + params["b"], y)
        """,
        "values",
        "half the expected value",
    ),
    "the absolute error": Mistake(
        "squared_error",
        """
        def squared_error(params, x, y):
            return jnp.abs(x @ params["w"] + params["b"] - y)
        """,
        "values",
        "expected",
    ),
    "Y not mapped (in_axes None), so every target meets every example": Mistake(
        "per_example_losses",
        """
        def per_example_losses(params, X, Y):
            return jax.vmap(squared_error, in_axes=(None, 0, None))(params, X, Y)
        """,
        "shape and dtype",
        "expected shape (6,), got (6, 6)",
    ),
    "the mean taken inside per_example_losses": Mistake(
        "per_example_losses",
        """
        def per_example_losses(params, X, Y):
            return jnp.mean(jax.vmap(squared_error, in_axes=(None, 0, 0))(params, X, Y))
        """,
        "shape and dtype",
        "reduced to a scalar",
    ),
    "a loop hard-coded to the first case's N = 6": Mistake(
        "per_example_losses",
        """
        def per_example_losses(params, X, Y):
            out = jnp.zeros(6)
            for n in range(6):
                out = out.at[n].set(squared_error(params, X[n], Y[n]))
            return out
        """,
        "shape and dtype",
        "case 2 of 2 (N=15, D=4): output: expected shape (15,), got (6,)",
    ),
    "vmap over the columns of X": Mistake(
        "per_example_losses",
        """
        def per_example_losses(params, X, Y):
            return jax.vmap(squared_error, in_axes=(None, 1, 0))(params, X, Y)
        """,
        "values",
        "vmap got inconsistent sizes",
    ),
    "the square of the mean residual": Mistake(
        "mean_loss",
        """
        def mean_loss(params, X, Y):
            return jnp.mean(X @ params["w"] + params["b"] - Y) ** 2
        """,
        "values",
        "expected",
    ),
    "the root mean square error": Mistake(
        "mean_loss",
        """
        def mean_loss(params, X, Y):
            return jnp.sqrt(jnp.mean(per_example_losses(params, X, Y)))
        """,
        "values",
        "expected",
    ),
    "the mean divided by N once more": Mistake(
        "mean_loss",
        """
        def mean_loss(params, X, Y):
            return jnp.mean(per_example_losses(params, X, Y)) / X.shape[0]
        """,
        "values",
        "1/N of the expected value",
    ),
    "the textbook 1/2 in front of the mean": Mistake(
        "mean_loss",
        """
        def mean_loss(params, X, Y):
            return 0.5 * jnp.mean(per_example_losses(params, X, Y))
        """,
        "values",
        "half the expected value",
    ),
    "gradients with respect to x, not params": Mistake(
        "per_example_grads",
        """
        def per_example_grads(params, X, Y):
            return jax.vmap(jax.grad(squared_error, argnums=1), in_axes=(None, 0, 0))(params, X, Y)
        """,
        "shape and dtype",
        "expected a dict with keys b, w, got a float32 array of shape (6, 3)",
    ),
    "value_and_grad's (loss, grads) pair returned": Mistake(
        "per_example_grads",
        """
        def per_example_grads(params, X, Y):
            return jax.vmap(jax.value_and_grad(squared_error), in_axes=(None, 0, 0))(params, X, Y)
        """,
        "shape and dtype",
        "got a tuple of 2",
    ),
    "vmap(grad) over the params too": Mistake(
        "per_example_grads",
        """
        def per_example_grads(params, X, Y):
            return jax.vmap(jax.grad(squared_error))(params, X, Y)
        """,
        "values",
        "rank should be at least 1",
    ),
    "a Python loop of gradients, stacked": Mistake(
        "per_example_grads",
        """
        def per_example_grads(params, X, Y):
            grads = [jax.grad(squared_error)(params, X[n], Y[n]) for n in range(X.shape[0])]
            return jax.tree_util.tree_map(lambda *g: jnp.stack(g), *grads)
        """,
        "does not grow with N",
        "grows with N",
    ),
    "jacrev of the mean loss": Mistake(
        "per_example_grads",
        """
        def per_example_grads(params, X, Y):
            return jax.jacrev(mean_loss)(params, X, Y)
        """,
        "shape and dtype",
        "output['b']: expected shape (6,), got ()",
    ),
    "the Jacobian of the losses divided by N (each example's share of the mean)": Mistake(
        "per_example_grads",
        """
        def per_example_grads(params, X, Y):
            return jax.jacrev(lambda p: per_example_losses(p, X, Y) / X.shape[0])(params)
        """,
        "values",
        "1/N of the expected value",
    ),
    "the vmaps nested the other way round": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            def sq_distance(a, b):
                return jnp.sum((a - b) ** 2)

            over_a = jax.vmap(sq_distance, in_axes=(0, None))
            return jax.vmap(over_a, in_axes=(None, 0))(A, B)
        """,
        "shape and dtype",
        "(transposed?)",
    ),
    "the squared differences never summed over D": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            over_b = jax.vmap(lambda a, b: (a - b) ** 2, in_axes=(None, 0))
            return jax.vmap(over_b, in_axes=(0, None))(A, B)
        """,
        "shape and dtype",
        "expected shape (4, 7), got (4, 7, 3)",
    ),
    "a mean over D (sklearn's mean_squared_error)": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            over_b = jax.vmap(lambda a, b: jnp.mean((a - b) ** 2), in_axes=(None, 0))
            return jax.vmap(over_b, in_axes=(0, None))(A, B)
        """,
        "values",
        "1/D of the expected value",
    ),
    "one vmap, pairing row i of A with row i of B": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            return jax.vmap(lambda a, b: jnp.sum((a - b) ** 2))(A, B)
        """,
        "values",
        "vmap got inconsistent sizes",
    ),
    "the expanded form without the 2 in -2 a.b": Mistake(
        "pairwise_sq_distances",
        """
        def pairwise_sq_distances(A, B):
            a2 = jnp.sum(A * A, axis=1)[:, None]
            b2 = jnp.sum(B * B, axis=1)[None, :]
            return a2 + b2 - A @ B.T
        """,
        "values",
        "28 of 28 entries differ",
    ),
}

ALTERNATIVES = {
    "jacrev under vmap, and a vmap over the rows of a broadcast": """
        def squared_error(params, x, y):
            return jnp.square(jnp.dot(x, params["w"]) + params["b"] - y)

        def per_example_grads(params, X, Y):
            return jax.vmap(jax.jacrev(squared_error), in_axes=(None, 0, 0))(params, X, Y)

        def pairwise_sq_distances(A, B):
            return jax.vmap(lambda a: jnp.sum((a[None, :] - B) ** 2, axis=-1))(A)
        """,
    "einsum in the per-example loss, and a sum over N for the mean": """
        def per_example_losses(params, X, Y):
            one = lambda x, y: (jnp.einsum("d,d->", x, params["w"]) + params["b"] - y) ** 2
            return jax.vmap(one)(X, Y)

        def mean_loss(params, X, Y):
            return jnp.sum(per_example_losses(params, X, Y)) / X.shape[0]
        """,
    "equinox: filter_vmap and filter_grad": """
        import equinox as eqx

        def per_example_losses(params, X, Y):
            return eqx.filter_vmap(squared_error, in_axes=(None, 0, 0))(params, X, Y)

        def per_example_grads(params, X, Y):
            grad = eqx.filter_grad(squared_error)
            return eqx.filter_vmap(grad, in_axes=(None, 0, 0))(params, X, Y)
        """,
    "optax: squared_error, and twice l2_loss over vmapped predictions": """
        import optax

        def squared_error(params, x, y):
            return optax.squared_error(jnp.dot(x, params["w"]) + params["b"], y)

        def mean_loss(params, X, Y):
            predictions = jax.vmap(lambda x: x @ params["w"] + params["b"])(X)
            return 2.0 * jnp.mean(optax.l2_loss(predictions, Y))
        """,
    "functools.partial and closures over params (the JAX sharp-bits style)": """
        import functools

        def per_example_losses(params, X, Y):
            return jax.vmap(functools.partial(squared_error, params))(X, Y)

        def per_example_grads(params, X, Y):
            grad = jax.grad(squared_error)
            return jax.vmap(lambda x, y: grad(params, x, y))(X, Y)
        """,
    "the JAX docs' per-example gradients: a batch of one under vmap(grad)": """
        def per_example_grads(params, X, Y):
            def loss_of_one(params, x, y):
                return mean_loss(params, x[None], y[None])

            return jax.vmap(jax.grad(loss_of_one), in_axes=(None, 0, 0))(params, X, Y)
        """,
    "a flax-style apply, and vmaps of lambdas for the distances": """
        def model_apply(variables, x):
            return jnp.dot(x, variables["w"]) + variables["b"]

        def squared_error(params, x, y):
            residual = model_apply(params, x) - y
            return residual * residual

        def pairwise_sq_distances(A, B):
            def sq_distance(a, b):
                d = a - b
                return jnp.dot(d, d)

            return jax.vmap(lambda a: jax.vmap(lambda b: sq_distance(a, b))(B))(A)
        """,
    "value_and_grad under vmap, and jnp.average": """
        def per_example_grads(params, X, Y):
            loss_and_grad = jax.value_and_grad(squared_error)
            _, grads = jax.vmap(loss_and_grad, in_axes=(None, 0, 0))(params, X, Y)
            return grads

        def mean_loss(params, X, Y):
            return jnp.average(per_example_losses(params, X, Y))
        """,
    "scipy's sqeuclidean as a squared jnp.linalg.norm, in nested vmaps": """
        def pairwise_sq_distances(A, B):
            def sq_distance(a, b):
                return jnp.linalg.norm(a - b) ** 2

            over_b = jax.vmap(sq_distance, in_axes=(None, 0))
            return jax.vmap(over_b, in_axes=(0, None))(A, B)
        """,
    "lax.map over (x, y) pairs for the mean": """
        def mean_loss(params, X, Y):
            return jnp.mean(jax.lax.map(lambda xy: squared_error(params, *xy), (X, Y)))
        """,
    "jax.tree_util.Partial of squared_error, vmapped": """
        def per_example_losses(params, X, Y):
            loss = jax.tree_util.Partial(squared_error, params)
            return jax.vmap(loss)(X, Y)
        """,
    "NumPy habits: jnp.square, jnp.vdot and positional in_axes": """
        def squared_error(params, x, y):
            return jnp.square(jnp.vdot(x, params["w"]) + params["b"] - y)

        def pairwise_sq_distances(A, B):
            def sq_distance(a, b):
                d = a - b
                return jnp.vdot(d, d)

            return jax.vmap(jax.vmap(sq_distance, (None, 0)), (0, None))(A, B)
        """,
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_loses_points_on_its_function(name, grade_here):
    assert_mistake_caught(grade_here, "vmap_losses", MISTAKES[name])


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_scores_full_marks(name, grade_here):
    assert_full_marks(grade_here, "vmap_losses", ALTERNATIVES[name])
