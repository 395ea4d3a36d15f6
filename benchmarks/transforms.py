"""What vmap and scan buy: a Python loop against the transformation, measured.

Prints one Markdown table. For each task and method: the compile time (tracing
and XLA compilation, measured apart), the median run time of the compiled
program over several runs, and the size of the traced program in equations.

  - per-example gradients of the squared error at N examples: a Python loop of
    jax.grad calls run eagerly, the same loop unrolled under jax.jit, and
    jax.jit(jax.vmap(jax.grad(...)));
  - an RNN over T steps, forward and gradient of a regression loss: a Python
    loop unrolled under jax.jit, and jax.lax.scan.

Run: python benchmarks/transforms.py [--examples 1024] [--steps 1000] [--repeats 5]
The functions come from solutions/, so the numbers are those of the reference.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load_solution(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"solution_{name}", ROOT / "solutions" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def equations(function: Callable[..., Any], *args: Any) -> int:
    """The size of the traced program: the equations of its jaxpr, nested ones (a scan's
    body, a cond's branches) included. The grader's 'does not grow' check counts the
    operations of the exported program instead (grader.runner.programs); both grow with N
    for an unrolled loop and neither does for vmap or scan. Tracing alone: no compile."""
    return _count(jax.make_jaxpr(function)(*args).jaxpr)


def _count(jaxpr: Any) -> int:
    total = 0
    for equation in jaxpr.eqns:
        total += 1 + sum(_count(sub) for sub in _nested(equation.params))
    return total


def _nested(params: dict[str, Any]) -> list[Any]:
    """The jaxprs among an equation's parameters (bare, closed, or in a tuple of branches)."""
    found = []
    for value in params.values():
        for item in value if isinstance(value, tuple | list) else [value]:
            if hasattr(item, "eqns"):
                found.append(item)
            elif hasattr(getattr(item, "jaxpr", None), "eqns"):
                found.append(item.jaxpr)
    return found


def block(tree: Any) -> Any:
    return jax.block_until_ready(tree)


def time_jitted(
    function: Callable[..., Any], args: tuple[Any, ...], repeats: int
) -> dict[str, Any]:
    """Compile time apart from the median run time of the compiled program."""
    started = time.perf_counter()
    compiled = jax.jit(function).lower(*args).compile()
    compile_s = time.perf_counter() - started
    block(compiled(*args))
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        block(compiled(*args))
        runs.append(time.perf_counter() - started)
    return {
        "compile_s": compile_s,
        "run_ms": 1e3 * statistics.median(runs),
        "equations": equations(function, *args),
    }


def time_eager(function: Callable[..., Any], args: tuple[Any, ...], repeats: int) -> dict[str, Any]:
    """Eager (op-by-op) execution: the first run compiles each operation, later runs reuse them."""
    started = time.perf_counter()
    block(function(*args))
    first_s = time.perf_counter() - started
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        block(function(*args))
        runs.append(time.perf_counter() - started)
    run_s = statistics.median(runs)
    return {"compile_s": max(0.0, first_s - run_s), "run_ms": 1e3 * run_s, "equations": None}


def per_example_gradients(n: int, repeats: int) -> list[tuple[str, str, dict[str, Any]]]:
    losses = load_solution("vmap_losses")
    rng = np.random.default_rng(0)
    d = 16
    params = {"w": jnp.asarray(rng.normal(size=d), jnp.float32), "b": jnp.float32(0.1)}
    X = jnp.asarray(rng.normal(size=(n, d)), jnp.float32)
    Y = jnp.asarray(rng.normal(size=n), jnp.float32)
    grad = jax.grad(losses.squared_error)

    def python_loop(params, X, Y):
        grads = [grad(params, X[i], Y[i]) for i in range(X.shape[0])]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *grads)

    task = f"per-example gradients, N = {n}"
    return [
        (task, "Python loop, eager", time_eager(python_loop, (params, X, Y), max(1, repeats // 2))),
        (task, "Python loop under jit", time_jitted(python_loop, (params, X, Y), repeats)),
        (
            task,
            "vmap(grad) under jit",
            time_jitted(losses.per_example_grads, (params, X, Y), repeats),
        ),
    ]


def rnn(t: int, repeats: int) -> list[tuple[str, str, dict[str, Any]]]:
    rnn_module = load_solution("scan_rnn")
    rng = np.random.default_rng(1)
    d, h, o = 8, 32, 1

    def normal(*shape: int, scale: float = 1.0) -> jax.Array:
        return jnp.asarray(scale * rng.normal(size=shape), jnp.float32)

    params = {"W_xh": normal(d, h, scale=0.3), "W_hh": normal(h, h, scale=0.15), "b_h": normal(h)}
    readout = {"W": normal(h, o), "b": normal(o)}
    h0, xs, ys = normal(h), normal(t, d), normal(t, o)

    def loop_forward(params, h0, xs):
        hidden, outputs = h0, []
        for step in range(xs.shape[0]):
            hidden, out = rnn_module.rnn_cell(params, hidden, xs[step])
            outputs.append(out)
        return hidden, jnp.stack(outputs)

    def loop_loss(params, readout, h0, xs, ys):
        _, hs = loop_forward(params, h0, xs)
        return jnp.mean((hs @ readout["W"] + readout["b"] - ys) ** 2)

    forward = f"RNN forward, T = {t}"
    gradient = f"RNN loss gradient, T = {t}"
    loss_args = (params, readout, h0, xs, ys)
    return [
        (forward, "Python loop under jit", time_jitted(loop_forward, (params, h0, xs), repeats)),
        (
            forward,
            "lax.scan under jit",
            time_jitted(rnn_module.rnn_forward, (params, h0, xs), repeats),
        ),
        (gradient, "Python loop under jit", time_jitted(jax.grad(loop_loss), loss_args, repeats)),
        (
            gradient,
            "lax.scan under jit",
            time_jitted(jax.grad(rnn_module.rnn_regression_loss), loss_args, repeats),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1024, help="N for per-example gradients")
    parser.add_argument("--steps", type=int, default=1000, help="T for the RNN")
    parser.add_argument("--repeats", type=int, default=5, help="runs per median")
    args = parser.parse_args(argv)

    rows = per_example_gradients(args.examples, args.repeats) + rnn(args.steps, args.repeats)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(
        f"JAX {jax.__version__} on {jax.devices()[0].platform} ({machine}), "
        f"Python {sys.version.split()[0]}; median of {args.repeats} runs"
    )
    print()
    print("| task | method | compile (s) | run (ms) | equations |")
    print("|---|---|---:|---:|---:|")
    for task, method, result in rows:
        size = "-" if result["equations"] is None else str(result["equations"])
        print(
            f"| {task} | {method} | {result['compile_s']:.2f} | {result['run_ms']:.2f} | {size} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
