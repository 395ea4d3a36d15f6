"""Binary cross entropy and logistic regression.

Labels are floats in {0, 1}. For predicted probabilities p_i and labels y_i of
examples i = 1..N, the binary cross entropy averages the negative log-likelihood
of a Bernoulli model over the examples:

    BCE(p, y) = -(1/N) * sum_i [ y_i * log(p_i) + (1 - y_i) * log(1 - p_i) ]

Every function here must work under `jax.jit`: no Python `if` on array values.
"""

import jax
import jax.numpy as jnp


def sigmoid(x: jax.Array) -> jax.Array:
    """The logistic function, elementwise: sigmoid(x) = 1 / (1 + exp(-x)).

    Args:
      x: an array of any shape.

    Returns:
      An array of the shape of `x` with values in [0, 1]. Values and gradients
      must stay finite for abs(x) <= 1000.

    Hint: the textbook formula overflows. For x = -1000, exp(-x) is inf, and
    although 1 / (1 + inf) = 0 is fine, its gradient is inf / inf = nan. The
    identity sigmoid(x) = (1 + tanh(x / 2)) / 2 never overflows.
    """
    ### BEGIN SOLUTION
    return 0.5 * (jnp.tanh(0.5 * x) + 1.0)
    ### END SOLUTION


def binary_cross_entropy(p: jax.Array, y: jax.Array) -> jax.Array:
    """The mean binary cross entropy of probabilities `p` against labels `y`.

        BCE(p, y) = -(1/N) * sum_i [ y_i * log(p_i) + (1 - y_i) * log(1 - p_i) ]

    Args:
      p: (N,) predicted probabilities, 0 < p_i < 1.
      y: (N,) labels, each 0.0 or 1.0.

    Returns:
      A scalar (a 0-d array).

    Hint: both terms are needed: y_i * log(p_i) rewards a high p_i where
    y_i = 1, and (1 - y_i) * log(1 - p_i) a low one where y_i = 0. The 1/N makes
    it a mean; `jnp.log1p(-p)` computes log(1 - p) accurately for small p.
    """
    ### BEGIN SOLUTION
    return -jnp.mean(y * jnp.log(p) + (1.0 - y) * jnp.log1p(-p))
    ### END SOLUTION


def binary_cross_entropy_with_logits(logits: jax.Array, y: jax.Array) -> jax.Array:
    """The mean binary cross entropy of `sigmoid(logits)` against labels `y`.

    Equal to `binary_cross_entropy(sigmoid(logits), y)`, but computed from the
    logits x_i directly. Per example, the loss is

        -[ y_i * log(sigmoid(x_i)) + (1 - y_i) * log(1 - sigmoid(x_i)) ]
          = max(x_i, 0) - x_i * y_i + log(1 + exp(-|x_i|))

    Args:
      logits: (N,) real numbers x_i.
      y: (N,) labels, each 0.0 or 1.0.

    Returns:
      A scalar. Its value and gradient must be finite for abs(logits) <= 1e4.

    Hint: for x_i = -1e4 the sigmoid rounds to exactly 0 in float32, and
    log(0) = -inf. The right-hand form above never takes the log of 0 and never
    overflows the exp. (`jax.nn.softplus(x) = log(1 + exp(x))` is stable too.)
    """
    ### BEGIN SOLUTION
    per_example = jnp.maximum(logits, 0.0) - logits * y + jnp.log1p(jnp.exp(-jnp.abs(logits)))
    return jnp.mean(per_example)
    ### END SOLUTION


def logistic_regression_loss(params: dict[str, jax.Array], X: jax.Array, y: jax.Array) -> jax.Array:
    """The BCE of a logistic regression model on a data set.

    The model predicts the logit x_i = X_i @ w + b for example i.

    Args:
      params: {"w": (D,), "b": ()}, the weights and the bias.
      X: (N, D) features, one example per row.
      y: (N,) labels, each 0.0 or 1.0.

    Returns:
      A scalar: `binary_cross_entropy_with_logits(X @ w + b, y)`.

    Hint: reuse the stable loss from the logits; do not forget the bias.
    """
    ### BEGIN SOLUTION
    logits = X @ params["w"] + params["b"]
    return binary_cross_entropy_with_logits(logits, y)
    ### END SOLUTION


def fit_logistic_regression(
    params: dict[str, jax.Array],
    X: jax.Array,
    y: jax.Array,
    learning_rate: float,
    num_steps: int,
) -> tuple[dict[str, jax.Array], jax.Array]:
    """Fits logistic regression by plain gradient descent.

    For t = 0..num_steps-1:

        losses[t] = logistic_regression_loss(params_t, X, y)
        params_{t+1} = params_t - learning_rate * grad(logistic_regression_loss)(params_t, X, y)

    Args:
      params: {"w": (D,), "b": ()}, the starting point.
      X: (N, D) features.
      y: (N,) labels.
      learning_rate: the step size, a Python float.
      num_steps: the number of updates, a Python int (static under `jax.jit`).

    Returns:
      `(params, losses)`: the parameters after `num_steps` updates, and
      `losses: (num_steps,)` where `losses[t]` is the loss *before* update t.

    Hint: `jax.value_and_grad` gives the loss and its gradient in one call, and
    `jax.tree_util.tree_map` updates every leaf of the params dict at once.
    A Python loop works; `jax.lax.scan` compiles one step instead of num_steps.
    """
    ### BEGIN SOLUTION
    loss_and_grad = jax.value_and_grad(logistic_regression_loss)

    def step(params, _):
        loss, grads = loss_and_grad(params, X, y)
        params = jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads)
        return params, loss

    return jax.lax.scan(step, params, None, length=num_steps)
    ### END SOLUTION
