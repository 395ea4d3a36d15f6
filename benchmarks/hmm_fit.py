"""Gradient descent against expectation-maximisation for a Gaussian HMM.

Fits the same synthetic data (K = 3 states, D = 2) from the same starting point
with the reference `fit_hmm` (Adam on the negative log-likelihood, compiled with
jax.jit) and with hmmlearn's EM (`GaussianHMM(covariance_type="full")`), and
prints one Markdown table: the final log-likelihood per time step, the wall
time of the fit after compilation (median of several runs), the compile time
apart, and the gap to EM's log-likelihood.

The goal: gradient descent within 0.5% of EM's log-likelihood in no more than
twice EM's wall time.

Run: python benchmarks/hmm_fit.py [--lengths 2000 20000] [--steps 100 150 200 300] [--repeats 3]
Needs hmmlearn (in the test extras).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hmmlearn.hmm import GaussianHMM

ROOT = Path(__file__).resolve().parent.parent

TRUE_PI = [0.5, 0.3, 0.2]
TRUE_A = [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]]
TRUE_MEANS = [[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]]
TRUE_COVS = [[[1.0, 0.3], [0.3, 0.8]], [[0.7, -0.2], [-0.2, 1.0]], [[0.9, 0.0], [0.0, 0.6]]]


def load_reference() -> Any:
    spec = importlib.util.spec_from_file_location("reference_hmm", ROOT / "solutions" / "hmm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def starting_point(seed: int = 0) -> dict[str, jax.Array]:
    rng = np.random.default_rng(seed)
    return {
        "initial_logits": jnp.zeros(3),
        "transition_logits": jnp.zeros((3, 3)),
        "means": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32),
        "cov_raw": jnp.zeros((3, 2, 2)),
    }


def median_time(run: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def em(hmm: Any, raw: dict[str, jax.Array], xs: np.ndarray, repeats: int) -> dict[str, Any]:
    """hmmlearn's EM from the same starting point, run to its default convergence test."""
    pi = np.asarray(hmm.initial_probs(raw["initial_logits"]), np.float64)
    A = np.asarray(hmm.transition_matrix(raw["transition_logits"]), np.float64)
    covs = np.asarray(hmm.covariances(raw["cov_raw"]), np.float64)

    def fit() -> GaussianHMM:
        model = GaussianHMM(3, covariance_type="full", n_iter=1000, tol=1e-4, init_params="")
        model.startprob_, model.transmat_ = pi.copy(), A.copy()
        model.means_, model.covars_ = np.asarray(raw["means"], np.float64), covs.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(xs)
        return model

    wall, model = median_time(fit, repeats)
    return {
        "wall_s": wall,
        "compile_s": 0.0,
        "loglik": model.score(xs) / len(xs),
        "steps": model.monitor_.iter,
    }


def gradient_descent(
    hmm: Any,
    raw: dict[str, jax.Array],
    xs: np.ndarray,
    steps: int,
    learning_rate: float,
    repeats: int,
) -> dict[str, Any]:
    data = jnp.asarray(xs, jnp.float32)
    started = time.perf_counter()
    fit = jax.jit(hmm.fit_hmm, static_argnums=3).lower(raw, data, learning_rate, steps).compile()
    compile_s = time.perf_counter() - started

    def run() -> Any:
        return jax.block_until_ready(fit(raw, data, learning_rate))

    wall, (fitted, _) = median_time(run, repeats)
    loglik = -float(hmm.negative_log_likelihood(fitted, data))
    return {"wall_s": wall, "compile_s": compile_s, "loglik": loglik, "steps": steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 150, 200, 300])
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    hmm = load_reference()
    raw = starting_point()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(
        f"JAX {jax.__version__} on {jax.devices()[0].platform} ({machine}); "
        f"Adam learning rate {args.learning_rate}; median of {args.repeats} runs"
    )
    print()
    print(
        "| T | method | steps | compile (s) | wall (s) | log-lik per step | gap to EM |"
        " time / EM's |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for length in args.lengths:
        _, xs = hmm.sample_hmm(
            jax.random.PRNGKey(length),
            jnp.asarray(TRUE_PI),
            jnp.asarray(TRUE_A),
            jnp.asarray(TRUE_MEANS),
            jnp.asarray(TRUE_COVS),
            length,
        )
        xs = np.asarray(xs, np.float64)
        reference = em(hmm, raw, xs, args.repeats)
        rows = [("EM (hmmlearn)", reference)] + [
            (
                "Adam (fit_hmm, jit)",
                gradient_descent(hmm, raw, xs, steps, args.learning_rate, args.repeats),
            )
            for steps in args.steps
        ]
        for method, result in rows:
            gap = 100 * (reference["loglik"] - result["loglik"]) / abs(reference["loglik"])
            ratio = result["wall_s"] / reference["wall_s"]
            print(
                f"| {length} | {method} | {result['steps']} | {result['compile_s']:.2f} | "
                f"{result['wall_s']:.3f} | {result['loglik']:.4f} | {gap:+.2f}% | "
                f"{ratio:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
