"""The bce module: the reference, the stub, realistic mistakes and correct alternatives."""

from __future__ import annotations

import pytest
from conftest import Mistake, assert_full_marks, assert_mistake_caught, with_override

MISTAKES = {
    "sum without 1/N": Mistake(
        "binary_cross_entropy",
        """
        def binary_cross_entropy(p, y):
            return -jnp.sum(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
        """,
        "values",
        "N = 8 times the expected value",
    ),
    "missing (1 - y_i) term": Mistake(
        "binary_cross_entropy",
        """
        def binary_cross_entropy(p, y):
            return -jnp.mean(y * jnp.log(p))
        """,
        "values",
        "expected",
    ),
    "per-example vector instead of a scalar": Mistake(
        "binary_cross_entropy",
        """
        def binary_cross_entropy(p, y):
            return -(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
        """,
        "shape and dtype",
        "expected shape (), got (8,)",
    ),
    "naive logits formula that overflows": Mistake(
        "binary_cross_entropy_with_logits",
        """
        def binary_cross_entropy_with_logits(logits, y):
            p = 1 / (1 + jnp.exp(-logits))
            return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
        """,
        "finite values",
        "on extreme inputs",
    ),
    "probabilities clipped to [eps, 1 - eps] (finite, but wrong at extreme logits)": Mistake(
        "binary_cross_entropy_with_logits",
        """
        def binary_cross_entropy_with_logits(logits, y):
            p = jnp.clip(jax.nn.sigmoid(logits), 1e-7, 1 - 1e-7)
            return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
        """,
        "finite values",
        "Finite is not enough",
    ),
    "zeros wherever the logits are extreme": Mistake(
        "binary_cross_entropy_with_logits",
        """
        def binary_cross_entropy_with_logits(logits, y):
            losses = jax.nn.softplus(logits) - y * logits
            losses = jnp.where(jnp.abs(logits) > 50.0, 0.0, losses)
            return jnp.mean(losses)
        """,
        "finite values",
        "expected",
    ),
    "naive sigmoid with a nan gradient at -1000": Mistake(
        "sigmoid",
        """
        def sigmoid(x):
            return 1 / (1 + jnp.exp(-x))
        """,
        "finite gradients",
        "the gradient with respect to x is nan",
    ),
    "the jnp.where trap: both branches are differentiated": Mistake(
        "sigmoid",
        """
        def sigmoid(x):
            return jnp.where(x >= 0, 1 / (1 + jnp.exp(-x)), jnp.exp(x) / (1 + jnp.exp(x)))
        """,
        "finite gradients",
        "is nan",
    ),
    "forgotten bias": Mistake(
        "logistic_regression_loss",
        """
        def logistic_regression_loss(params, X, y):
            return binary_cross_entropy_with_logits(X @ params["w"], y)
        """,
        "values",
        "expected",
    ),
    "losses recorded after the update": Mistake(
        "fit_logistic_regression",
        """
        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            losses = []
            for _ in range(num_steps):
                grads = jax.grad(logistic_regression_loss)(params, X, y)
                params = jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads)
                losses.append(logistic_regression_loss(params, X, y))
            return params, jnp.stack(losses)
        """,
        "values",
        "one step ahead",
    ),
    "sign error in the update": Mistake(
        "fit_logistic_regression",
        """
        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            losses = []
            for _ in range(num_steps):
                loss, grads = jax.value_and_grad(logistic_regression_loss)(params, X, y)
                params = jax.tree_util.tree_map(lambda p, g: p + learning_rate * g, params, grads)
                losses.append(loss)
            return params, jnp.stack(losses)
        """,
        "values",
        "params",
    ),
    "a learning rate fixed at the first case's": Mistake(
        "fit_logistic_regression",
        """
        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            return _reference_fit(params, X, y, 0.5, num_steps)
        """,
        "values",
        "case 2 of 3",
    ),
    "a Python if on a traced value": Mistake(
        "binary_cross_entropy_with_logits",
        """
        def binary_cross_entropy_with_logits(logits, y):
            if jnp.max(jnp.abs(logits)) < 30:
                return binary_cross_entropy(sigmoid(logits), y)
            return _reference_logits(logits, y)
        """,
        "jit",
        "jnp.where",
    ),
    "NumPy inside the function, which grad cannot trace": Mistake(
        "binary_cross_entropy",
        """
        import numpy as np

        def binary_cross_entropy(p, y):
            p = np.asarray(p)
            return jnp.asarray(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
        """,
        "gradients",
        "TracerArrayConversionError",
    ),
}

# Aliases of the reference functions, so a mistake can delegate to the right answer.
ALIASES = """
_reference_fit = fit_logistic_regression
_reference_logits = binary_cross_entropy_with_logits
"""


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_loses_points_on_its_function(name, grade_here):
    assert_mistake_caught(grade_here, "bce", MISTAKES[name], ALIASES)


ALTERNATIVES = {
    "optax's sigmoid_binary_cross_entropy": """
        import optax

        def binary_cross_entropy_with_logits(logits, y):
            return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))
        """,
    "softplus and jax.nn.sigmoid": """
        def sigmoid(x):
            return jax.nn.sigmoid(x)

        def binary_cross_entropy_with_logits(logits, y):
            return jnp.mean(jax.nn.softplus(logits) - logits * y)

        def binary_cross_entropy(p, y):
            n = p.shape[0]
            return -sum(y[i] * jnp.log(p[i]) + (1 - y[i]) * jnp.log(1 - p[i]) for i in range(n)) / n
        """,
    "a Python loop over a jitted step": """
        def logistic_regression_loss(params, X, y):
            logits = jnp.einsum("nd,d->n", X, params["w"]) + params["b"]
            return jnp.mean(jnp.logaddexp(0.0, logits) - logits * y)

        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            @jax.jit
            def step(params):
                loss, grads = jax.value_and_grad(logistic_regression_loss)(params, X, y)
                new = {k: params[k] - learning_rate * grads[k] for k in params}
                return new, loss

            losses = []
            for _ in range(num_steps):
                params, loss = step(params)
                losses.append(loss)
            return params, jnp.array(losses)
        """,
}


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_scores_full_marks(name, grade_here):
    assert_full_marks(grade_here, "bce", ALTERNATIVES[name])


def test_right_shapes_wrong_values_earn_at_most_a_quarter(grade_source):
    zeros = """
        def sigmoid(x):
            return jnp.zeros_like(x)

        def binary_cross_entropy(p, y):
            return jnp.zeros(())

        def binary_cross_entropy_with_logits(logits, y):
            return jnp.zeros(())

        def logistic_regression_loss(params, X, y):
            return jnp.zeros(())

        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            return params, jnp.zeros((num_steps,))
        """
    result = grade_source("bce", with_override("bce", zeros))
    shape_checks = [c for c in result.checks if c.check == "shape and dtype"]
    assert all(c.passed for c in shape_checks)
    assert 0 < result.score <= 0.25 * result.max_score
    # Zeros are finite: on the extreme inputs they are compared, and fail on their own.
    extreme = [c for c in result.checks if c.check == "finite values"]
    assert extreme and all(
        not c.passed and ("Finite is not enough" in c.message or "It is 0 wherever" in c.message)
        for c in extreme
    )
