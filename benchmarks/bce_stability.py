"""The textbook binary cross entropy against the stable one, at large logits.

For one example with label y = 0 and logit x, the loss is log(1 + exp(x)) and its
derivative sigmoid(x): about x and 1 for large x. The textbook route computes
p = 1 / (1 + exp(-x)) first, then -log(1 - p); in float32, p rounds to exactly 1
from x = 17 on, and the loss becomes inf (its gradient nan). The stable form from
the logits, max(x, 0) - x * y + log(1 + exp(-|x|)), never takes the log of 0 and
never overflows. Prints one Markdown table: the loss and d loss / dx, both ways, in
float32 (JAX's default), for a few logits.

Run: python benchmarks/bce_stability.py [--logits 1 10 16 17 20 100 1000 10000]
"""

from __future__ import annotations

import argparse
import platform
import sys

import jax
import jax.numpy as jnp


def textbook(x: jax.Array, y: jax.Array) -> jax.Array:
    p = 1.0 / (1.0 + jnp.exp(-x))
    return -(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p))


def stable(x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.maximum(x, 0.0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))


def row(x: float, y: float) -> str:
    logit, label = jnp.float32(x), jnp.float32(y)
    cells = []
    for loss in (textbook, stable):
        value, slope = jax.value_and_grad(loss)(logit, label)
        cells += [f"{float(value):.6g}", f"{float(slope):.6g}"]
    return f"| {x:g} | {y:g} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--logits", type=float, nargs="+", default=[1, 10, 16, 17, 20, 100, 1000, 10000]
    )
    args = parser.parse_args(argv)
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform} ({platform.machine()}), float32")
    print()
    print("| logit x | label y | textbook loss | textbook d/dx | stable loss | stable d/dx |")
    print("|---:|---:|---:|---:|---:|---:|")
    for x in args.logits:
        print(row(x, 0.0))
    for x in args.logits[-2:]:
        print(row(-x, 1.0))  # the mirror image: a confident wrong answer the other way
    return 0


if __name__ == "__main__":
    sys.exit(main())
