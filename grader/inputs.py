"""Inputs for the checks, made from the argument specs of course.yml.

Inputs are NumPy arrays (and Python numbers for case values), drawn from a
generator seeded by the course seed, the function's name and the case, so the
same manifest always gives the same inputs, in any order of grading.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.manifest import (
    ArgSpec,
    CaseValue,
    FixedArray,
    FunctionSpec,
    RandomArray,
    evaluate_size,
)


@dataclass(frozen=True)
class Inputs:
    """One set of positional arguments for a function, with the case it came from."""

    label: str
    case: Mapping[str, Any]
    args: tuple[Any, ...]

    def describe(self) -> str:
        """The case for feedback, e.g. 'N=8, D=3, learning_rate=0.5'."""
        return ", ".join(f"{k}={v}" for k, v in self.case.items())


def rng_for(function: FunctionSpec, module: str, label: str) -> np.random.Generator:
    """A generator seeded by the function's seed, its full name and the case label."""
    name_hash = zlib.crc32(f"{module}.{function.name}/{label}".encode())
    return np.random.default_rng([function.seed, name_hash])


def make_inputs(
    function: FunctionSpec,
    module: str,
    label: str,
    case: Mapping[str, Any],
    overrides: Mapping[str, ArgSpec] | None = None,
) -> Inputs:
    """Draws the arguments of `function` for one case."""
    rng = rng_for(function, module, label)
    specs = {**function.args, **(overrides or {})}
    args = tuple(_make(specs[name], case, rng) for name in function.args)
    return Inputs(label=label, case=dict(case), args=args)


def case_inputs(function: FunctionSpec, module: str) -> list[Inputs]:
    """The arguments for every case of the function, in order."""
    return [
        make_inputs(function, module, f"case{i}", case) for i, case in enumerate(function.cases)
    ]


def extreme_inputs(function: FunctionSpec, module: str) -> Inputs:
    """The arguments on the extreme inputs of course.yml's `extreme` block."""
    if function.extreme is None:
        raise ValueError(f"{module}.{function.name} has no extreme inputs")
    return make_inputs(function, module, "extreme", function.extreme.case, function.extreme.args)


def resized_inputs(function: FunctionSpec, module: str, dim: str) -> tuple[Inputs, Inputs]:
    """The first case at two values of the size `dim`, every other size unchanged."""
    base = function.cases[0]
    small = int(base[dim])
    large = 2 * small + 3
    return (
        make_inputs(function, module, f"{dim}={small}", {**base, dim: small}),
        make_inputs(function, module, f"{dim}={large}", {**base, dim: large}),
    )


def _make(spec: ArgSpec, case: Mapping[str, Any], rng: np.random.Generator) -> Any:
    if isinstance(spec, RandomArray):
        shape = tuple(evaluate_size(d, case) if isinstance(d, str) else d for d in spec.shape)
        return _draw(spec, shape, rng)
    if isinstance(spec, FixedArray):
        return np.asarray(spec.values, dtype=spec.dtype)
    if isinstance(spec, CaseValue):
        return case[spec.key]
    if isinstance(spec, tuple):
        return tuple(_make(item, case, rng) for item in spec)
    return {name: _make(sub, case, rng) for name, sub in spec.items()}


def _draw(spec: RandomArray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    p = spec.params
    if spec.dist == "normal":
        values = rng.normal(p["loc"], p["scale"], size=shape)
    elif spec.dist == "uniform":
        values = rng.uniform(p["low"], p["high"], size=shape)
    elif spec.dist == "bernoulli":
        values = rng.random(size=shape) < p["p"]
    else:
        values = rng.integers(int(p["low"]), int(p["high"]), size=shape)
    return np.asarray(values, dtype=spec.dtype)
