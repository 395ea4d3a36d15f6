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
    ### BEGIN SOLUTION
    return jax.nn.softmax(initial_logits)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    return jax.nn.softmax(transition_logits, axis=-1)
    ### END SOLUTION


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

    ### BEGIN SOLUTION
    def one(raw):
        L = jnp.tril(raw, -1) + jnp.diag(jax.nn.softplus(jnp.diag(raw)))
        return L @ L.T + 1e-6 * jnp.eye(raw.shape[0], dtype=raw.dtype)

    return jax.vmap(one)(cov_raw)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    L = jnp.linalg.cholesky(cov)
    z = jax.scipy.linalg.solve_triangular(L, x - mean, lower=True)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(L)))
    return -0.5 * (z @ z + log_det + x.shape[-1] * jnp.log(2.0 * jnp.pi))
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    over_states = jax.vmap(gaussian_log_pdf, in_axes=(None, 0, 0))
    return jax.vmap(over_states, in_axes=(0, None, None))(xs, means, covs)
    ### END SOLUTION


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

    ### BEGIN SOLUTION
    def step(alpha, log_b):
        alpha = jax.nn.logsumexp(alpha[:, None] + log_A, axis=0) + log_b
        return alpha, None

    alpha, _ = jax.lax.scan(step, log_pi + log_B[0], log_B[1:])
    return jax.nn.logsumexp(alpha)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    log_pi = jnp.log(initial_probs(raw["initial_logits"]))
    log_A = jnp.log(transition_matrix(raw["transition_logits"]))
    log_B = emission_log_probs(xs, raw["means"], covariances(raw["cov_raw"]))
    return -forward_log_likelihood(log_pi, log_A, log_B) / xs.shape[0]
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    optimizer = optax.adam(learning_rate)
    loss_and_grad = jax.value_and_grad(negative_log_likelihood)

    def step(carry, _):
        raw, state = carry
        loss, grads = loss_and_grad(raw, xs)
        updates, state = optimizer.update(grads, state)
        return (optax.apply_updates(raw, updates), state), loss

    (raw, _), losses = jax.lax.scan(step, (raw, optimizer.init(raw)), None, length=num_steps)
    return raw, losses
    ### END SOLUTION


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

    ### BEGIN SOLUTION
    def forward(delta, log_b):
        scores = delta[:, None] + log_A
        return jnp.max(scores, axis=0) + log_b, jnp.argmax(scores, axis=0)

    delta, pointers = jax.lax.scan(forward, log_pi + log_B[0], log_B[1:])
    last = jnp.argmax(delta)

    def backward(state, pointer):
        previous = pointer[state]
        return previous, previous

    _, earlier = jax.lax.scan(backward, last, pointers, reverse=True)
    return jnp.concatenate([earlier, last[None]]).astype(jnp.int32)
    ### END SOLUTION


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
