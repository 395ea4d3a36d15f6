"""A Gaussian hidden Markov model, fitted by gradient descent.

K hidden states z_t follow a Markov chain: p(z_1 = k) = pi_k and
p(z_t = j | z_{t-1} = i) = A[i, j]. Each state k emits a D-dimensional Gaussian
observation x_t ~ N(mean_k, Sigma_k).

Expectation-maximisation is the classic way to fit it. Here we take another: write
the log-likelihood log p(x_1..x_T) as a differentiable JAX function (the forward
algorithm) and follow its gradient with Adam. Gradient descent needs parameters
that may take any real value, so the model is written in unconstrained space:

    raw = {"initial_logits": (K,), "transition_logits": (K, K),
           "means": (K, D), "cov_raw": (K, D, D)}

softmax turns logits into probabilities, and a Cholesky factor with a softplus
diagonal turns any real matrix into a covariance. Every real `raw` is a valid model.
"""

import jax
import jax.numpy as jnp
import optax


def initial_probs(initial_logits: jax.Array) -> jax.Array:
    """The initial state distribution pi = softmax(initial_logits).

    Args:
      initial_logits: (K,), any real numbers.

    Returns:
      (K,), positive, summing to 1.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def transition_matrix(transition_logits: jax.Array) -> jax.Array:
    """The transition matrix, a softmax over each row.

        A[i, j] = p(z_t = j | z_{t-1} = i) = exp(logits[i, j]) / sum_j' exp(logits[i, j'])

    Args:
      transition_logits: (K, K), any real numbers.

    Returns:
      (K, K), each row summing to 1.

    Hint: row i is the distribution of the next state from state i: the softmax runs
    over the last axis.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def covariances(cov_raw: jax.Array) -> jax.Array:
    """Covariance matrices from unconstrained matrices, one per state.

        L_k = tril(cov_raw[k], -1) + diag(softplus(diag(cov_raw[k])))
        Sigma_k = L_k @ L_k.T + 1e-6 * I

    Args:
      cov_raw: (K, D, D), any real numbers.

    Returns:
      (K, D, D), each symmetric positive definite: exactly so for any real input, and in
      float32 for entries of moderate size (off the diagonal up to a few units where a
      diagonal entry is very negative), where rounding stays below the 1e-6.

    Hint: L_k is lower triangular with a positive diagonal (softplus(a) = log(1 + e^a)
    > 0), so L_k @ L_k.T is positive definite; the 1e-6 * I keeps it so in float32
    when softplus underflows. `jax.vmap` over k, or batch with `jnp.swapaxes`.
    """

    # YOUR CODE HERE
    raise NotImplementedError()


def gaussian_log_pdf(x: jax.Array, mean: jax.Array, cov: jax.Array) -> jax.Array:
    """The log density of a multivariate normal distribution.

        log N(x; mu, Sigma) = -1/2 (x - mu)^T Sigma^-1 (x - mu) - 1/2 log det Sigma
                              - D/2 log(2 pi)

    Args:
      x: (D,).
      mean: (D,).
      cov: (D, D), symmetric positive definite.

    Returns:
      A scalar.

    Hint: with the Cholesky factor Sigma = L L^T, solve L z = x - mu
    (`jax.scipy.linalg.solve_triangular`); then the quadratic form is z . z and
    log det Sigma = 2 * sum(log(diag(L))). Do not forget the log-determinant.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def emission_log_probs(xs: jax.Array, means: jax.Array, covs: jax.Array) -> jax.Array:
    """The log density of every observation under every state.

        out[t, k] = log N(x_t; mean_k, Sigma_k)

    Args:
      xs: (T, D).
      means: (K, D).
      covs: (K, D, D).

    Returns:
      (T, K).

    Hint: two vmaps around `gaussian_log_pdf`: over the states, then over time.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def forward_log_likelihood(log_pi: jax.Array, log_A: jax.Array, log_B: jax.Array) -> jax.Array:
    """log p(x_1..x_T) by the forward algorithm, in log space, with `jax.lax.scan`.

    With alpha_t(j) = log p(x_1..x_t, z_t = j):

        alpha_1(j) = log_pi[j] + log_B[0, j]
        alpha_t(j) = logsumexp_i(alpha_{t-1}(i) + log_A[i, j]) + log_B[t - 1, j]
        log p(x_1..x_T) = logsumexp_j alpha_T(j)

    Args:
      log_pi: (K,), log initial probabilities.
      log_A: (K, K), log transition probabilities, log_A[i, j] = log p(j | i).
      log_B: (T, K), log emission densities, log_B[t, k] = log p(x_t | z_t = k).

    Returns:
      A scalar, finite for T = 10,000.

    Hint: in probability space the product of T densities underflows float32 long
    before T = 10,000; in log space, sums of logs do not, and logsumexp adds
    probabilities without leaving it (`jax.nn.logsumexp`). The carry is alpha.
    """

    # YOUR CODE HERE
    raise NotImplementedError()


def negative_log_likelihood(raw: dict[str, jax.Array], xs: jax.Array) -> jax.Array:
    """The negative log-likelihood per time step, -log p(x_1..x_T) / T.

    Args:
      raw: {"initial_logits": (K,), "transition_logits": (K, K), "means": (K, D),
            "cov_raw": (K, D, D)}, unconstrained parameters.
      xs: (T, D), the observations.

    Returns:
      A scalar. Dividing by T keeps its scale, and so the learning rate, the same
      for sequences of any length.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def fit_hmm(
    raw: dict[str, jax.Array], xs: jax.Array, learning_rate: float, num_steps: int
) -> tuple[dict[str, jax.Array], jax.Array]:
    """Fits the model to `xs` by gradient-based optimisation of `negative_log_likelihood`.

    Args:
      raw: the unconstrained parameters to start from.
      xs: (T, D), the observations.
      learning_rate: the step size.
      num_steps: the number of updates, a Python int.

    Returns:
      `(raw, losses)`: the fitted parameters and `losses: (num_steps,)`, where
      `losses[t]` is the loss before update t.

    Hint: Adam copes with parameters of very different scales; with optax,
    `optimizer = optax.adam(learning_rate)`, `state = optimizer.init(raw)`, and per
    step `updates, state = optimizer.update(grads, state)` then
    `raw = optax.apply_updates(raw, updates)`. Graded on the outcome, whatever the
    optimiser: from `raw`, in `num_steps` steps at `learning_rate`, the final loss must
    come within a small margin of the reference fit's (Adam; plain gradient descent at
    this learning rate falls short), the losses must start at the initial loss and fall,
    and the means must come out right up to a relabelling (docs/hmm.md has the numbers).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def viterbi(log_pi: jax.Array, log_A: jax.Array, log_B: jax.Array) -> jax.Array:
    """The most likely state path, argmax over z of p(z_1..z_T | x_1..x_T).

    Max-product in log space: delta_1 = log_pi + log_B[0] and

        delta_t(j) = max_i(delta_{t-1}(i) + log_A[i, j]) + log_B[t - 1, j],

    keeping back-pointers psi_t(j) = argmax_i(...). The last state is argmax delta_T;
    a backward pass follows the back-pointers to the first.

    Args:
      log_pi: (K,).
      log_A: (K, K).
      log_B: (T, K).

    Returns:
      (T,) int32, the state at each step.

    Hint: one `lax.scan` forward that outputs the back-pointers, one `lax.scan`
    with `reverse=True` that follows them. The per-step argmax of the filtered
    probabilities is not the most likely path.
    """

    # YOUR CODE HERE
    raise NotImplementedError()


def sample_hmm(
    key: jax.Array,
    pi: jax.Array,
    A: jax.Array,
    means: jax.Array,
    covs: jax.Array,
    num_steps: int,
) -> tuple[jax.Array, jax.Array]:
    """Samples a state path and observations from the model (provided; not an exercise).

    Args:
      key: a JAX random key.
      pi: (K,), initial probabilities.
      A: (K, K), transition probabilities, rows summing to 1.
      means: (K, D).
      covs: (K, D, D).
      num_steps: T, a Python int.

    Returns:
      `(states, xs)`: states (T,) int32 and observations (T, D).
    """
    first_key, steps_key, noise_key = jax.random.split(key, 3)
    first = jax.random.choice(first_key, pi.shape[0], p=pi)

    def step(state, step_key):
        following = jax.random.choice(step_key, A.shape[0], p=A[state])
        return following, following

    _, rest = jax.lax.scan(step, first, jax.random.split(steps_key, num_steps - 1))
    states = jnp.concatenate([first[None], rest]).astype(jnp.int32)
    noise = jax.random.normal(noise_key, (num_steps, means.shape[1]))
    chol = jnp.linalg.cholesky(covs)
    xs = means[states] + jnp.einsum("tij,tj->ti", chol[states], noise)
    return states, xs
