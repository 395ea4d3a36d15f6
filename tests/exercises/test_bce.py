"""The bce module: the reference, the stub, realistic mistakes and correct alternatives."""

from __future__ import annotations

import pytest
from conftest import Mistake, assert_full_marks, assert_mistake_caught, with_override

MISTAKES = {
    "Keras's binary_crossentropy: p clipped to [eps, 1 - eps], eps inside the logs": Mistake(
        "binary_cross_entropy",
        """
        def binary_cross_entropy(p, y):
            epsilon = 1e-7
            p = jnp.clip(p, epsilon, 1.0 - epsilon)
            return -jnp.mean(y * jnp.log(p + epsilon) + (1.0 - y) * jnp.log(1.0 - p + epsilon))
        """,
        "finite values",
        "clips its inputs",
    ),
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
    "the sign flipped: the log-likelihood, not its negative": Mistake(
        "binary_cross_entropy",
        """
        def binary_cross_entropy(p, y):
            return jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))
        """,
        "values",
        "The sign is flipped.",
    ),
    "logarithms in base 10": Mistake(
        "binary_cross_entropy",
        """
        def binary_cross_entropy(p, y):
            return -jnp.mean(y * jnp.log10(p) + (1 - y) * jnp.log10(1 - p))
        """,
        "values",
        "expected",
    ),
    "a mean hard-coded as / 8, the first case's N": Mistake(
        "binary_cross_entropy",
        """
        def binary_cross_entropy(p, y):
            return -jnp.sum(y * jnp.log(p) + (1 - y) * jnp.log1p(-p)) / 8
        """,
        "values",
        "case 2 of 2 (N=37)",
    ),
    "tanh(x) in the identity where tanh(x / 2) is due": Mistake(
        "sigmoid",
        """
        def sigmoid(x):
            return 0.5 * (jnp.tanh(x) + 1.0)
        """,
        "values",
        "7 of 7 entries differ",
    ),
    "exp(x) / (1 + exp(x)), which overflows the other way": Mistake(
        "sigmoid",
        """
        def sigmoid(x):
            return jnp.exp(x) / (1 + jnp.exp(x))
        """,
        "finite values",
        "output is nan",
    ),
    "inputs clipped to [-10, 10] to avoid overflow": Mistake(
        "sigmoid",
        """
        def sigmoid(x):
            return 1 / (1 + jnp.exp(-jnp.clip(x, -10.0, 10.0)))
        """,
        "finite values",
        "a formula that clips its inputs",
    ),
    "optax's per-example losses, never averaged": Mistake(
        "binary_cross_entropy_with_logits",
        """
        import optax

        def binary_cross_entropy_with_logits(logits, y):
            return optax.sigmoid_binary_cross_entropy(logits, y)
        """,
        "shape and dtype",
        "a missing mean?",
    ),
    "log(1 + exp(x)), which overflows for large logits": Mistake(
        "binary_cross_entropy_with_logits",
        """
        def binary_cross_entropy_with_logits(logits, y):
            return jnp.mean(jnp.log(1 + jnp.exp(logits)) - logits * y)
        """,
        "finite values",
        "output is inf",
    ),
    "the sigmoid applied to the logits twice": Mistake(
        "logistic_regression_loss",
        """
        def logistic_regression_loss(params, X, y):
            return binary_cross_entropy_with_logits(sigmoid(X @ params["w"] + params["b"]), y)
        """,
        "values",
        "expected",
    ),
    "X.T @ w, the features transposed": Mistake(
        "logistic_regression_loss",
        """
        def logistic_regression_loss(params, X, y):
            return binary_cross_entropy_with_logits(X.T @ params["w"] + params["b"], y)
        """,
        "values",
        "dot_general requires contracting dimensions to have the same shape",
    ),
    "a float() of each loss, for logging": Mistake(
        "fit_logistic_regression",
        """
        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            losses = []
            for _ in range(num_steps):
                loss, grads = jax.value_and_grad(logistic_regression_loss)(params, X, y)
                params = jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads)
                losses.append(float(loss))
            return params, jnp.array(losses)
        """,
        "jit",
        "ConcretizationTypeError",
    ),
    "the loss after the last update appended too": Mistake(
        "fit_logistic_regression",
        """
        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            params, losses = _reference_fit(params, X, y, learning_rate, num_steps)
            final = logistic_regression_loss(params, X, y)
            return params, jnp.append(losses, final)
        """,
        "shape and dtype",
        "losses: expected shape (4,), got (5,)",
    ),
    "the bias left out of the update": Mistake(
        "fit_logistic_regression",
        """
        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            losses = []
            for _ in range(num_steps):
                loss, grads = jax.value_and_grad(logistic_regression_loss)(params, X, y)
                params = {"w": params["w"] - learning_rate * grads["w"], "b": params["b"]}
                losses.append(loss)
            return params, jnp.stack(losses)
        """,
        "values",
        "It is params['b'] exactly as it was given: never updated",
    ),
    "Adam where plain gradient descent is asked for": Mistake(
        "fit_logistic_regression",
        """
        import optax

        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            optimizer = optax.adam(learning_rate)
            state = optimizer.init(params)
            losses = []
            for _ in range(num_steps):
                loss, grads = jax.value_and_grad(logistic_regression_loss)(params, X, y)
                updates, state = optimizer.update(grads, state)
                params = optax.apply_updates(params, updates)
                losses.append(loss)
            return params, jnp.stack(losses)
        """,
        "values",
        "params['b']: expected",
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
    "jax.scipy.special: expit, xlogy and xlog1py": """
        from jax.scipy.special import expit, xlog1py, xlogy

        def sigmoid(x):
            return expit(x)

        def binary_cross_entropy(p, y):
            return -jnp.mean(xlogy(y, p) + xlog1py(1.0 - y, -p))
        """,
    "TensorFlow Probability: a Bernoulli's log_prob and the Sigmoid bijector": """
        from tensorflow_probability.substrates import jax as tfp

        tfd = tfp.distributions

        def sigmoid(x):
            return tfp.bijectors.Sigmoid().forward(x)

        def binary_cross_entropy(p, y):
            return -jnp.mean(tfd.Bernoulli(probs=p).log_prob(y))

        def binary_cross_entropy_with_logits(logits, y):
            return -jnp.mean(tfd.Bernoulli(logits=logits).log_prob(y))
        """,
    "optax.sgd in a scan": """
        import optax

        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            optimizer = optax.sgd(learning_rate)

            def step(carry, _):
                params, state = carry
                loss, grads = jax.value_and_grad(logistic_regression_loss)(params, X, y)
                updates, state = optimizer.update(grads, state, params)
                return (optax.apply_updates(params, updates), state), loss

            init = (params, optimizer.init(params))
            (params, _), losses = jax.lax.scan(step, init, None, length=num_steps)
            return params, losses
        """,
    "equinox: filter_jit and filter_value_and_grad": """
        import equinox as eqx

        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            @eqx.filter_jit
            def step(params):
                loss, grads = eqx.filter_value_and_grad(logistic_regression_loss)(params, X, y)
                params = jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads)
                return params, loss

            losses = []
            for _ in range(num_steps):
                params, loss = step(params)
                losses.append(loss)
            return params, jnp.stack(losses)
        """,
    "jax.nn.log_sigmoid of both signs (optax's formulation)": """
        def binary_cross_entropy_with_logits(logits, y):
            log_p = jax.nn.log_sigmoid(logits)
            log_not_p = jax.nn.log_sigmoid(-logits)
            return -jnp.mean(y * log_p + (1.0 - y) * log_not_p)
        """,
    "logsumexp over the logits of the two classes": """
        from jax.scipy.special import logsumexp

        def binary_cross_entropy_with_logits(logits, y):
            two_classes = jnp.stack([jnp.zeros_like(logits), logits])
            return jnp.mean(logsumexp(two_classes, axis=0) - y * logits)
        """,
    "lax.fori_loop writing each loss into a preallocated array": """
        def fit_logistic_regression(params, X, y, learning_rate, num_steps):
            loss_and_grad = jax.value_and_grad(logistic_regression_loss)

            def body(t, carry):
                params, losses = carry
                loss, grads = loss_and_grad(params, X, y)
                params = jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads)
                return params, losses.at[t].set(loss)

            return jax.lax.fori_loop(0, num_steps, body, (params, jnp.zeros(num_steps)))
        """,
    "a flax-style Dense apply written by hand": """
        def dense_apply(variables, inputs):
            return inputs @ variables["w"] + variables["b"]

        def logistic_regression_loss(params, X, y):
            return binary_cross_entropy_with_logits(dense_apply(params, X), y)
        """,
    "PyTorch's BCELoss: each log clamped at -100": """
        def binary_cross_entropy(p, y):
            log_p = jnp.maximum(jnp.log(p), -100.0)
            log_not_p = jnp.maximum(jnp.log(1.0 - p), -100.0)
            return -jnp.mean(y * log_p + (1.0 - y) * log_not_p)
        """,
    "the JAX FAQ's double jnp.where, so that no branch overflows": """
        def sigmoid(x):
            positive = x >= 0
            safe_pos = jnp.where(positive, x, 0.0)
            safe_neg = jnp.where(positive, 0.0, x)
            return jnp.where(
                positive,
                1.0 / (1.0 + jnp.exp(-safe_pos)),
                jnp.exp(safe_neg) / (1.0 + jnp.exp(safe_neg)),
            )
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
