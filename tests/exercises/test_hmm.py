"""The hmm module: the reference against brute force, SciPy and hmmlearn; realistic
mistakes lose points on the right function; correct alternatives score full marks."""

from __future__ import annotations

import importlib.util
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import (
    ROOT,
    Mistake,
    assert_full_marks,
    assert_mistake_caught,
    failed,
    needs,
    with_override,
)
from jax.scipy.stats import multivariate_normal

from grader.course.schema import load_course

COURSE = load_course(ROOT / "course.yml")


@pytest.fixture(scope="module")
def hmm():
    spec = importlib.util.spec_from_file_location("reference_hmm", ROOT / "solutions" / "hmm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_model(rng, num_states, num_steps):
    log_pi = jax.nn.log_softmax(jnp.asarray(rng.normal(size=num_states), jnp.float32))
    log_A = jax.nn.log_softmax(
        jnp.asarray(2 * rng.normal(size=(num_states, num_states)), jnp.float32), axis=-1
    )
    log_B = jnp.asarray(1.5 * rng.normal(size=(num_steps, num_states)), jnp.float32)
    return log_pi, log_A, log_B


def path_scores(log_pi, log_A, log_B):
    """The log joint probability of every state path, by enumeration."""
    num_steps, num_states = log_B.shape
    scores = {}
    for path in itertools.product(range(num_states), repeat=num_steps):
        score = log_pi[path[0]] + log_B[0, path[0]]
        for t in range(1, num_steps):
            score += log_A[path[t - 1], path[t]] + log_B[t, path[t]]
        scores[path] = float(score)
    return scores


@pytest.mark.parametrize(("num_states", "num_steps", "seed"), [(2, 6, 0), (3, 5, 1), (4, 4, 2)])
def test_reference_forward_and_viterbi_match_brute_force(hmm, num_states, num_steps, seed, chex):
    log_pi, log_A, log_B = random_model(np.random.default_rng(seed), num_states, num_steps)
    scores = path_scores(np.asarray(log_pi), np.asarray(log_A), np.asarray(log_B))
    total = np.logaddexp.reduce(np.array(list(scores.values())))
    assert float(hmm.forward_log_likelihood(log_pi, log_A, log_B)) == pytest.approx(total, rel=1e-5)
    best = max(scores, key=scores.get)
    chex.assert_trees_all_equal(hmm.viterbi(log_pi, log_A, log_B), jnp.asarray(best, jnp.int32))


def test_reference_matches_hmmlearn_on_sampled_data(hmm):
    GaussianHMM = needs("hmmlearn.hmm").GaussianHMM
    pi = jnp.array([0.5, 0.3, 0.2])
    A = jnp.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6]])
    means = jnp.array([[-2.0, 0.0], [2.0, 0.5], [0.0, 2.0]])
    covs = jnp.stack([jnp.eye(2), jnp.array([[1.0, 0.3], [0.3, 0.5]]), 0.7 * jnp.eye(2)])
    _, xs = hmm.sample_hmm(jax.random.PRNGKey(3), pi, A, means, covs, 500)
    oracle = GaussianHMM(n_components=3, covariance_type="full")
    oracle.startprob_, oracle.transmat_ = np.asarray(pi, np.float64), np.asarray(A, np.float64)
    oracle.means_, oracle.covars_ = np.asarray(means, np.float64), np.asarray(covs, np.float64)
    data = np.asarray(xs, np.float64)
    log_B = hmm.emission_log_probs(xs, means, covs)
    mine = hmm.forward_log_likelihood(jnp.log(pi), jnp.log(A), log_B)
    assert float(mine) == pytest.approx(oracle.score(data), rel=1e-5)
    _, states = oracle.decode(data)
    path = np.asarray(hmm.viterbi(jnp.log(pi), jnp.log(A), log_B))
    assert np.mean(path == states) > 0.99


def test_reference_gaussian_matches_scipy_and_covariances_are_positive_definite(hmm, chex):
    rng = np.random.default_rng(4)
    covs = hmm.covariances(jnp.asarray(3 * rng.normal(size=(4, 3, 3)), jnp.float32))
    for cov in np.asarray(covs, np.float64):
        chex.assert_trees_all_close(cov, cov.T, rtol=1e-6)
        np.linalg.cholesky(cov)
    x, mean = jnp.asarray(rng.normal(size=3), jnp.float32), jnp.zeros(3)
    expected = multivariate_normal.logpdf(x, mean, covs[0])
    assert float(hmm.gaussian_log_pdf(x, mean, covs[0])) == pytest.approx(float(expected), rel=1e-5)


def test_covariances_are_positive_definite_where_the_docstring_promises(hmm, course):
    # Entries of moderate size (the docstring's float32 promise), diagonals down to where
    # softplus underflows, and the course's own extreme inputs: the smallest eigenvalue,
    # in float64, stays positive.
    rng = np.random.default_rng(6)
    raw = 3 * rng.normal(size=(64, 4, 4))
    raw[:32] /= 3
    raw[:32, np.arange(4), np.arange(4)] = rng.uniform(-120.0, -80.0, size=(32, 4))
    spec = course.module("hmm").function("covariances").extreme.args["cov_raw"]
    for batch in (raw, spec.values):
        covs = np.asarray(hmm.covariances(jnp.asarray(batch, jnp.float32)), np.float64)
        assert min(np.linalg.eigvalsh(c).min() for c in covs) > 0


def test_reference_forward_is_finite_at_ten_thousand_steps(hmm):
    log_pi, log_A, log_B = random_model(np.random.default_rng(5), 3, 10_000)
    assert np.isfinite(float(hmm.forward_log_likelihood(log_pi, log_A, log_B - 3.0)))


MISTAKES = {
    "a softmax over the wrong axis": Mistake(
        "transition_matrix",
        """
        def transition_matrix(transition_logits):
            return jax.nn.softmax(transition_logits, axis=0)
        """,
        "values",
        "expected",
    ),
    "a covariance without the softplus": Mistake(
        "covariances",
        """
        def covariances(cov_raw):
            L = jnp.tril(cov_raw)
            return L @ jnp.swapaxes(L, -1, -2) + 1e-6 * jnp.eye(cov_raw.shape[-1])
        """,
        "values",
        "expected",
    ),
    "a covariance without the 1e-6 jitter": Mistake(
        "covariances",
        """
        def covariances(cov_raw):
            def one(raw):
                L = jnp.tril(raw, -1) + jnp.diag(jax.nn.softplus(jnp.diag(raw)))
                return L @ L.T

            return jax.vmap(one)(cov_raw)
        """,
        "finite values",
        "expected 1e-06",
    ),
    "exp in place of softplus, which overflows": Mistake(
        "covariances",
        """
        def covariances(cov_raw):
            diag = jnp.exp(jnp.diagonal(cov_raw, axis1=-2, axis2=-1))
            L = jnp.tril(cov_raw, -1) + jax.vmap(jnp.diag)(diag)
            return L @ jnp.swapaxes(L, -1, -2) + 1e-6 * jnp.eye(cov_raw.shape[-1])
        """,
        "finite values",
        "is inf",
    ),
    "a missing log-determinant": Mistake(
        "gaussian_log_pdf",
        """
        def gaussian_log_pdf(x, mean, cov):
            diff = x - mean
            return -0.5 * (diff @ jnp.linalg.solve(cov, diff) + x.shape[0] * jnp.log(2 * jnp.pi))
        """,
        "values",
        "expected",
    ),
    "the emissions as (K, T)": Mistake(
        "emission_log_probs",
        """
        def emission_log_probs(xs, means, covs):
            over_time = jax.vmap(gaussian_log_pdf, in_axes=(0, None, None))
            return jax.vmap(over_time, in_axes=(None, 0, 0))(xs, means, covs)
        """,
        "shape and dtype",
        "expected shape (5, 3), got (3, 5)",
    ),
    "a forward pass in probability space, which underflows": Mistake(
        "forward_log_likelihood",
        """
        def forward_log_likelihood(log_pi, log_A, log_B):
            A, B = jnp.exp(log_A), jnp.exp(log_B)
            alpha, _ = jax.lax.scan(lambda a, b: ((a @ A) * b, None), jnp.exp(log_pi) * B[0], B[1:])
            return jnp.log(jnp.sum(alpha))
        """,
        "finite values",
        "output is -inf",
    ),
    "a rescaled forward pass whose emissions are floored at 1e-15": Mistake(
        "forward_log_likelihood",
        """
        def forward_log_likelihood(log_pi, log_A, log_B):
            A, B = jnp.exp(log_A), jnp.maximum(jnp.exp(log_B), 1e-15)

            def step(carry, b):
                alpha, total = carry
                alpha = (alpha @ A) * b
                return (alpha / jnp.sum(alpha), total + jnp.log(jnp.sum(alpha))), None

            first = jnp.exp(log_pi) * B[0]
            start = (first / jnp.sum(first), jnp.log(jnp.sum(first)))
            return jax.lax.scan(step, start, B[1:])[0][1]
        """,
        "finite values",
        "Finite is not enough",
    ),
    "an ignored initial distribution": Mistake(
        "forward_log_likelihood",
        """
        def forward_log_likelihood(log_pi, log_A, log_B):
            uniform = jnp.full_like(log_pi, -jnp.log(log_pi.shape[0]))
            return _reference_forward(uniform, log_A, log_B)
        """,
        "values",
        "expected",
    ),
    "transposed transitions": Mistake(
        "forward_log_likelihood",
        """
        def forward_log_likelihood(log_pi, log_A, log_B):
            return _reference_forward(log_pi, log_A.T, log_B)
        """,
        "values",
        "expected",
    ),
    "a total where the per-step loss is due": Mistake(
        "negative_log_likelihood",
        """
        def negative_log_likelihood(raw, xs):
            return _reference_nll(raw, xs) * xs.shape[0]
        """,
        "values",
        "T = 8 times the expected value",
    ),
    "a fit that does not move": Mistake(
        "fit_hmm",
        """
        def fit_hmm(raw, xs, learning_rate, num_steps):
            return raw, jnp.full((num_steps,), negative_log_likelihood(raw, xs))
        """,
        "losses fall",
        "do not fall",
    ),
    "steps far too small": Mistake(
        "fit_hmm",
        """
        def fit_hmm(raw, xs, learning_rate, num_steps):
            return _reference_fit(raw, xs, 1e-4, num_steps)
        """,
        "final loss",
        "the fit stalls",
    ),
    "steps uphill (the update's sign flipped)": Mistake(
        "fit_hmm",
        """
        def fit_hmm(raw, xs, learning_rate, num_steps):
            return _reference_fit(raw, xs, -learning_rate, num_steps)
        """,
        "final loss",
        "the losses rise at step 1",
    ),
    "the filtering shortcut for Viterbi": Mistake(
        "viterbi",
        """
        def viterbi(log_pi, log_A, log_B):
            def step(alpha, log_b):
                alpha = jax.nn.logsumexp(alpha[:, None] + log_A, axis=0) + log_b
                return alpha, alpha

            first = log_pi + log_B[0]
            _, alphas = jax.lax.scan(step, first, log_B[1:])
            filtered = jnp.concatenate([first[None], alphas])
            return jnp.argmax(filtered, axis=1).astype(jnp.int32)
        """,
        "values",
        "expected",
    ),
    "the precision matrix used as the covariance": Mistake(
        "gaussian_log_pdf",
        """
        def gaussian_log_pdf(x, mean, cov):
            diff = x - mean
            _, log_det = jnp.linalg.slogdet(cov)
            return -0.5 * (diff @ cov @ diff + log_det + x.shape[0] * jnp.log(2 * jnp.pi))
        """,
        "values",
        "expected",
    ),
    "log det Sigma as sum(log(diag(L))), without its factor 2": Mistake(
        "gaussian_log_pdf",
        """
        def gaussian_log_pdf(x, mean, cov):
            L = jnp.linalg.cholesky(cov)
            z = jax.scipy.linalg.solve_triangular(L, x - mean, lower=True)
            log_det = jnp.sum(jnp.log(jnp.diag(L)))
            return -0.5 * (z @ z + log_det + x.shape[-1] * jnp.log(2.0 * jnp.pi))
        """,
        "values",
        "expected",
    ),
    "a normaliser written for D = 2": Mistake(
        # Right at D = 2, wrong at D = 4.
        "gaussian_log_pdf",
        """
        def gaussian_log_pdf(x, mean, cov):
            L = jnp.linalg.cholesky(cov)
            z = jax.scipy.linalg.solve_triangular(L, x - mean, lower=True)
            log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(L)))
            return -0.5 * (z @ z + log_det) - jnp.log(2.0 * jnp.pi)
        """,
        "values",
        "case 2 of 2 (D=4)",
    ),
    "a solve against the upper factor L^T": Mistake(
        "gaussian_log_pdf",
        """
        def gaussian_log_pdf(x, mean, cov):
            L = jnp.linalg.cholesky(cov)
            z = jax.scipy.linalg.solve_triangular(L.T, x - mean, lower=False)
            log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(L)))
            return -0.5 * (z @ z + log_det + x.shape[-1] * jnp.log(2.0 * jnp.pi))
        """,
        "values",
        "expected",
    ),
    "the factor -1/2 written as -1": Mistake(
        # The grader's hint names D = 2 (a sum for a mean), not the missing 1/2.
        "gaussian_log_pdf",
        """
        def gaussian_log_pdf(x, mean, cov):
            L = jnp.linalg.cholesky(cov)
            z = jax.scipy.linalg.solve_triangular(L, x - mean, lower=True)
            log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(L)))
            return -(z @ z + log_det + x.shape[-1] * jnp.log(2.0 * jnp.pi))
        """,
        "values",
        "expected",
    ),
    "diagonal covariances only, as hmmlearn's covariance_type='diag'": Mistake(
        "emission_log_probs",
        """
        def emission_log_probs(xs, means, covs):
            std = jnp.sqrt(jnp.diagonal(covs, axis1=-2, axis2=-1))
            return jax.scipy.stats.norm.logpdf(xs[:, None, :], means, std).sum(-1)
        """,
        "values",
        "expected",
    ),
    "a logsumexp over the wrong axis": Mistake(
        "forward_log_likelihood",
        """
        def forward_log_likelihood(log_pi, log_A, log_B):
            def step(alpha, log_b):
                return jax.nn.logsumexp(alpha[:, None] + log_A, axis=1) + log_b, None

            alpha, _ = jax.lax.scan(step, log_pi + log_B[0], log_B[1:])
            return jax.nn.logsumexp(alpha)
        """,
        "values",
        "expected",
    ),
    "a transition before the first emission": Mistake(
        "forward_log_likelihood",
        """
        def forward_log_likelihood(log_pi, log_A, log_B):
            def step(alpha, log_b):
                return jax.nn.logsumexp(alpha[:, None] + log_A, axis=0) + log_b, None

            alpha, _ = jax.lax.scan(step, log_pi, log_B)
            return jax.nn.logsumexp(alpha)
        """,
        "values",
        "expected",
    ),
    "a max where the last logsumexp is due": Mistake(
        "forward_log_likelihood",
        """
        def forward_log_likelihood(log_pi, log_A, log_B):
            def step(alpha, log_b):
                return jax.nn.logsumexp(alpha[:, None] + log_A, axis=0) + log_b, None

            alpha, _ = jax.lax.scan(step, log_pi + log_B[0], log_B[1:])
            return jnp.max(alpha)
        """,
        "values",
        "expected",
    ),
    "a Python loop over the steps": Mistake(
        "forward_log_likelihood",
        """
        def forward_log_likelihood(log_pi, log_A, log_B):
            alpha = log_pi + log_B[0]
            for t in range(1, log_B.shape[0]):
                alpha = jax.nn.logsumexp(alpha[:, None] + log_A, axis=0) + log_B[t]
            return jax.nn.logsumexp(alpha)
        """,
        "does not grow with T",
        "grows with T",
    ),
    "the log-likelihood where its negative is due": Mistake(
        "negative_log_likelihood",
        """
        def negative_log_likelihood(raw, xs):
            return -_reference_nll(raw, xs)
        """,
        "values",
        "The sign is flipped.",
    ),
    "the logits used as log-probabilities": Mistake(
        "negative_log_likelihood",
        """
        def negative_log_likelihood(raw, xs):
            log_B = emission_log_probs(xs, raw["means"], covariances(raw["cov_raw"]))
            log_p = forward_log_likelihood(raw["initial_logits"], raw["transition_logits"], log_B)
            return -log_p / xs.shape[0]
        """,
        "values",
        "expected",
    ),
    "a mean over T * D entries where the mean over T is due": Mistake(
        # The grader's hint names 1/K here (K = D = 2), not D.
        "negative_log_likelihood",
        """
        def negative_log_likelihood(raw, xs):
            return _reference_nll(raw, xs) * xs.shape[0] / xs.size
        """,
        "values",
        "expected",
    ),
    "losses recorded after each update": Mistake(
        "fit_hmm",
        """
        def fit_hmm(raw, xs, learning_rate, num_steps):
            optimizer = optax.adam(learning_rate)

            def step(carry, _):
                raw, state = carry
                grads = jax.grad(negative_log_likelihood)(raw, xs)
                updates, state = optimizer.update(grads, state)
                raw = optax.apply_updates(raw, updates)
                return (raw, state), negative_log_likelihood(raw, xs)

            start = (raw, optimizer.init(raw))
            (raw, _), losses = jax.lax.scan(step, start, None, length=num_steps)
            return raw, losses
        """,
        "losses fall",
        "it should be the objective before any update",
    ),
    "plain gradient descent (optax.sgd) where Adam is asked for": Mistake(
        "fit_hmm",
        """
        def fit_hmm(raw, xs, learning_rate, num_steps):
            optimizer = optax.sgd(learning_rate)

            def step(carry, _):
                raw, state = carry
                loss, grads = jax.value_and_grad(negative_log_likelihood)(raw, xs)
                updates, state = optimizer.update(grads, state)
                return (optax.apply_updates(raw, updates), state), loss

            start = (raw, optimizer.init(raw))
            (raw, _), losses = jax.lax.scan(step, start, None, length=num_steps)
            return raw, losses
        """,
        "final loss",
        "another optimiser than the one the docstring asks for?",
    ),
    "back-pointers followed one step off": Mistake(
        # No hint: the shift hints are for float outputs only.
        "viterbi",
        """
        def viterbi(log_pi, log_A, log_B):
            def forward(delta, log_b):
                scores = delta[:, None] + log_A
                return jnp.max(scores, axis=0) + log_b, jnp.argmax(scores, axis=0)

            delta, pointers = jax.lax.scan(forward, log_pi + log_B[0], log_B[1:])
            last = jnp.argmax(delta)

            def backward(state, pointer):
                return pointer[state], state

            _, later = jax.lax.scan(backward, last, pointers, reverse=True)
            return jnp.concatenate([later, last[None]]).astype(jnp.int32)
        """,
        "values",
        "expected",
    ),
    "the path in backtracking order, last state first": Mistake(
        "viterbi",
        """
        def viterbi(log_pi, log_A, log_B):
            return _reference_viterbi(log_pi, log_A, log_B)[::-1]
        """,
        "values",
        "expected",
    ),
    "back-pointers from an argmax over the wrong axis": Mistake(
        "viterbi",
        """
        def viterbi(log_pi, log_A, log_B):
            def forward(delta, log_b):
                scores = delta[:, None] + log_A
                return jnp.max(scores, axis=0) + log_b, jnp.argmax(scores, axis=1)

            delta, pointers = jax.lax.scan(forward, log_pi + log_B[0], log_B[1:])
            last = jnp.argmax(delta)

            def backward(state, pointer):
                return pointer[state], pointer[state]

            _, earlier = jax.lax.scan(backward, last, pointers, reverse=True)
            return jnp.concatenate([earlier, last[None]]).astype(jnp.int32)
        """,
        "values",
        "expected",
    ),
    "the path as floats": Mistake(
        "viterbi",
        """
        def viterbi(log_pi, log_A, log_B):
            return _reference_viterbi(log_pi, log_A, log_B).astype(jnp.float32)
        """,
        "shape and dtype",
        "expected dtype int32, got float32",
    ),
    "K = 3 hard-coded in a one-hot lookup": Mistake(
        "viterbi",
        """
        def viterbi(log_pi, log_A, log_B):
            def forward(delta, log_b):
                scores = delta[:, None] + log_A
                return jnp.max(scores, axis=0) + log_b, jnp.argmax(scores, axis=0)

            delta, pointers = jax.lax.scan(forward, log_pi + log_B[0], log_B[1:])
            last = jnp.argmax(delta)

            def backward(state, pointer):
                previous = jnp.sum(jax.nn.one_hot(state, 3) * pointer).astype(jnp.int32)
                return previous, previous

            _, earlier = jax.lax.scan(backward, last, pointers, reverse=True)
            return jnp.concatenate([earlier, last[None]]).astype(jnp.int32)
        """,
        "shape and dtype",
        "incompatible shapes for broadcasting: (3,), (4,)",
    ),
    "L.T @ L where L @ L.T is due": Mistake(
        "covariances",
        """
        def covariances(cov_raw):
            def one(raw):
                L = jnp.tril(raw, -1) + jnp.diag(jax.nn.softplus(jnp.diag(raw)))
                return L.T @ L + 1e-6 * jnp.eye(raw.shape[0])

            return jax.vmap(one)(cov_raw)
        """,
        "values",
        "expected",
    ),
    "the diagonal counted twice (tril(raw) + diag(softplus))": Mistake(
        "covariances",
        """
        def covariances(cov_raw):
            def one(raw):
                L = jnp.tril(raw) + jnp.diag(jax.nn.softplus(jnp.diag(raw)))
                return L @ L.T + 1e-6 * jnp.eye(raw.shape[0])

            return jax.vmap(one)(cov_raw)
        """,
        "values",
        "expected",
    ),
    ".T on a batch of matrices, which reverses every axis": Mistake(
        "covariances",
        """
        def covariances(cov_raw):
            diag = jax.nn.softplus(jnp.diagonal(cov_raw, axis1=-2, axis2=-1))
            L = jnp.tril(cov_raw, -1) + jax.vmap(jnp.diag)(diag)
            return L @ L.T + 1e-6 * jnp.eye(cov_raw.shape[-1])
        """,
        "shape and dtype",
        "Incompatible types for matmul arguments",
    ),
    "log-probabilities where probabilities are due": Mistake(
        "initial_probs",
        """
        def initial_probs(initial_logits):
            return jax.nn.log_softmax(initial_logits)
        """,
        "values",
        "expected",
    ),
    "a softmax over the whole matrix": Mistake(
        "transition_matrix",
        """
        def transition_matrix(transition_logits):
            return jax.nn.softmax(transition_logits, axis=None)
        """,
        "values",
        "expected",
    ),
}

MISTAKES["the raw matrices returned as covariances"] = Mistake(
    "covariances",
    """
    def covariances(cov_raw):
        return cov_raw
    """,
    "symmetric positive definite",
    "not symmetric positive definite",
)

ALIASES = """
_reference_forward = forward_log_likelihood
_reference_nll = negative_log_likelihood
_reference_fit = fit_hmm
_reference_viterbi = viterbi
"""

ALTERNATIVES = {
    "a scaled forward recursion in probability space, and SciPy's logpdf": """
        from jax.scipy.stats import multivariate_normal

        def gaussian_log_pdf(x, mean, cov):
            return multivariate_normal.logpdf(x, mean, cov)

        def forward_log_likelihood(log_pi, log_A, log_B):
            # Probabilities rescaled at every step; each step's densities shifted by
            # their largest log first, so that no exp underflows.
            A = jnp.exp(log_A)

            def normalise(alpha, log_scale):
                total = jnp.sum(alpha)
                return alpha / total, log_scale + jnp.log(total)

            def step(carry, log_b):
                alpha, log_scale = carry
                shift = jnp.max(log_b)
                return normalise((alpha @ A) * jnp.exp(log_b - shift), log_scale + shift), None

            first = log_pi + log_B[0]
            start = normalise(jnp.exp(first - jnp.max(first)), jnp.max(first))
            (_, log_scale), _ = jax.lax.scan(step, start, log_B[1:])
            return log_scale
        """,
    "a hand-written Adam in a Python loop over a jitted step": """
        def fit_hmm(raw, xs, learning_rate, num_steps):
            b1, b2, eps = 0.9, 0.999, 1e-8
            tree_map = jax.tree_util.tree_map

            @jax.jit
            def step(raw, m, v, t):
                loss, grads = jax.value_and_grad(negative_log_likelihood)(raw, xs)
                m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
                v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
                def update(p, m, v):
                    m_hat = m / (1 - b1 ** t)
                    v_hat = v / (1 - b2 ** t)
                    return p - learning_rate * m_hat / (jnp.sqrt(v_hat) + eps)
                return tree_map(update, raw, m, v), m, v, loss

            m = tree_map(jnp.zeros_like, raw)
            v = tree_map(jnp.zeros_like, raw)
            losses = []
            for t in range(1, num_steps + 1):
                raw, m, v, loss = step(raw, m, v, t)
                losses.append(loss)
            return raw, jnp.stack(losses)

        def covariances(cov_raw):
            D = cov_raw.shape[-1]
            diag = jax.nn.softplus(jnp.diagonal(cov_raw, axis1=-2, axis2=-1))
            L = jnp.tril(cov_raw, -1) + diag[..., None] * jnp.eye(D)
            return jnp.einsum("kij,klj->kil", L, L) + 1e-6 * jnp.eye(D)
        """,
    "dynamax's hmm_posterior_mode": """
        from dynamax.hidden_markov_model import hmm_posterior_mode

        def viterbi(log_pi, log_A, log_B):
            return hmm_posterior_mode(jnp.exp(log_pi), jnp.exp(log_A), log_B).astype(jnp.int32)
        """,
    "Rabiner's Viterbi in probability space, rescaled at every step": """
        def viterbi(log_pi, log_A, log_B):
            # delta rescaled to sum to 1 at every step, each step's densities shifted by
            # their largest log so that no exp underflows.
            A = jnp.exp(log_A)

            def normalise(p):
                return p / jnp.sum(p)

            def forward(delta, log_b):
                scores = delta[:, None] * A
                b = jnp.exp(log_b - jnp.max(log_b))
                return normalise(jnp.max(scores, axis=0) * b), jnp.argmax(scores, axis=0)

            first = jnp.exp(log_pi + log_B[0] - jnp.max(log_pi + log_B[0]))
            delta, psi = jax.lax.scan(forward, normalise(first), log_B[1:])

            def backward(state, pointers):
                return pointers[state], pointers[state]

            last = jnp.argmax(delta)
            _, earlier = jax.lax.scan(backward, last, psi, reverse=True)
            return jnp.append(earlier, last).astype(jnp.int32)
        """,
    "back-pointers followed by a forward scan over them flipped, with take_along_axis": """
        def viterbi(log_pi, log_A, log_B):
            def forward(delta, log_b):
                scores = delta[:, None] + log_A
                return jnp.max(scores, axis=0) + log_b, jnp.argmax(scores, axis=0)

            delta, pointers = jax.lax.scan(forward, log_pi + log_B[0], log_B[1:])
            last = jnp.argmax(delta)

            def follow(state, pointer):
                previous = jnp.take_along_axis(pointer, state[None], axis=0)[0]
                return previous, previous

            _, earlier = jax.lax.scan(follow, last, jnp.flip(pointers, axis=0))
            return jnp.concatenate([jnp.flip(earlier), last[None]]).astype(jnp.int32)
        """,
    "Murphy's PML: max-messages backwards, then the path read forwards": """
        def viterbi(log_pi, log_A, log_B):
            # beta_t(i) = max_j(log_A[i, j] + log_B[t + 1, j] + beta_{t+1}(j)), beta_T = 0.
            def backward(beta, log_b):
                beta = jnp.max(log_A + (log_b + beta)[None, :], axis=1)
                return beta, beta

            _, betas = jax.lax.scan(backward, jnp.zeros_like(log_pi), log_B[1:], reverse=True)
            betas = jnp.concatenate([betas, jnp.zeros_like(log_pi)[None]])
            first = jnp.argmax(log_pi + log_B[0] + betas[0])

            def forward(state, inputs):
                log_b, beta = inputs
                following = jnp.argmax(log_A[state] + log_b + beta)
                return following, following

            _, rest = jax.lax.scan(forward, first, (log_B[1:], betas[1:]))
            return jnp.concatenate([first[None], rest]).astype(jnp.int32)
        """,
    "dynamax's fit_sgd: hmm_filter, jax.scipy's Cholesky solves, optax.chain": """
        import optax
        from dynamax.hidden_markov_model import hmm_filter

        def gaussian_log_pdf(x, mean, cov):
            c, lower = jax.scipy.linalg.cho_factor(cov, lower=True)
            diff = x - mean
            log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(c)))
            quadratic = diff @ jax.scipy.linalg.cho_solve((c, lower), diff)
            return -0.5 * (quadratic + log_det + diff.shape[0] * jnp.log(2.0 * jnp.pi))

        def emission_log_probs(xs, means, covs):
            # Every (k, t) pair at once: one batched triangular solve per state.
            L = jnp.linalg.cholesky(covs)
            diff = xs[None, :, :] - means[:, None, :]
            z = jax.scipy.linalg.solve_triangular(L, jnp.swapaxes(diff, 1, 2), lower=True)
            log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
            D = xs.shape[-1]
            out = -0.5 * (jnp.sum(z**2, axis=1) + log_det[:, None] + D * jnp.log(2.0 * jnp.pi))
            return out.T

        def forward_log_likelihood(log_pi, log_A, log_B):
            return hmm_filter(jnp.exp(log_pi), jnp.exp(log_A), log_B).marginal_loglik

        def fit_hmm(raw, xs, learning_rate, num_steps):
            optimizer = optax.chain(optax.scale_by_adam(), optax.scale(-learning_rate))

            def train_step(carry, _):
                params, opt_state = carry
                loss, grads = jax.value_and_grad(negative_log_likelihood)(params, xs)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), loss

            start = (raw, optimizer.init(raw))
            (raw, _), losses = jax.lax.scan(train_step, start, jnp.arange(num_steps))
            return raw, losses
        """,
    "TensorFlow Probability: Categorical, MultivariateNormalTriL, HiddenMarkovModel": """
        from tensorflow_probability.substrates import jax as tfp

        tfd = tfp.distributions

        def initial_probs(initial_logits):
            return tfd.Categorical(logits=initial_logits).probs_parameter()

        def transition_matrix(transition_logits):
            return tfd.Categorical(logits=transition_logits).probs_parameter()

        def gaussian_log_pdf(x, mean, cov):
            scale_tril = jnp.linalg.cholesky(cov)
            return tfd.MultivariateNormalTriL(loc=mean, scale_tril=scale_tril).log_prob(x)

        def emission_log_probs(xs, means, covs):
            states = tfd.MultivariateNormalTriL(loc=means, scale_tril=jnp.linalg.cholesky(covs))
            return states.log_prob(xs[:, None, :])

        def negative_log_likelihood(raw, xs):
            observations = tfd.MultivariateNormalTriL(
                loc=raw["means"], scale_tril=jnp.linalg.cholesky(covariances(raw["cov_raw"]))
            )
            model = tfd.HiddenMarkovModel(
                initial_distribution=tfd.Categorical(logits=raw["initial_logits"]),
                transition_distribution=tfd.Categorical(logits=raw["transition_logits"]),
                observation_distribution=observations,
                num_steps=xs.shape[0],
            )
            return -model.log_prob(xs) / xs.shape[0]
        """,
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistake_loses_points_on_its_function(name, grade_here):
    assert_mistake_caught(grade_here, "hmm", MISTAKES[name], ALIASES)


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_correct_alternative_scores_full_marks(name, grade_here):
    assert_full_marks(grade_here, "hmm", ALTERNATIVES[name])


def test_a_fit_that_does_not_move_fails_every_outcome_check(grade_source):
    result = grade_source(
        "hmm",
        with_override("hmm", MISTAKES["a fit that does not move"].override),
        functions=["fit_hmm"],
    )
    failures = failed(result, "fit_hmm")
    assert set(failures) == {"final loss", "losses fall", "means up to relabelling"}
    assert "best order" in failures["means up to relabelling"]
    assert result.function_score("fit_hmm")[0] == pytest.approx(
        COURSE.module("hmm")
        .function("fit_hmm")
        .check_points(COURSE.module("hmm").function("fit_hmm").checks[0])
    )
