"""Inputs for the checks, made from the argument specs of course.yml.

Inputs are NumPy arrays (and Python numbers for case values), drawn from a
generator seeded by the course seed, the function's name and the case, so the
same manifest always gives the same inputs, in any order of grading.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from grader.course.namespace import as_namespace
from grader.course.sizes import evaluate_size
from grader.course.specs import (
    ArgSpec,
    CaseValue,
    FixedArray,
    FunctionSpec,
    RandomArray,
    SampledArray,
)
from grader.errors import UsageError

HIDDEN_LABEL = "hidden"
UNSEEN_LABEL = "unseen"  # drawn from the hidden seed too, like the visible cases otherwise


def is_secret(label: str) -> bool:
    """Whether the case of `label` is drawn from the seed a student copy lacks: a hidden
    or an unseen case (the labels this module makes: 'hidden0', 'unseen0')."""
    return label.startswith((HIDDEN_LABEL, UNSEEN_LABEL))


@dataclass(frozen=True)
class Inputs:
    """One set of positional arguments for a function, with the case it came from."""

    label: str
    case: Mapping[str, Any]
    args: tuple[Any, ...]

    @property
    def unseen(self) -> bool:
        return self.label.startswith(UNSEEN_LABEL)

    @property
    def secret(self) -> bool:
        """Drawn from the seed a student copy lacks: a hidden or an unseen case."""
        return is_secret(self.label)

    def describe(self) -> str:
        """The case for feedback, e.g. 'N=8, D=3, learning_rate=0.5'."""
        return ", ".join(f"{k}={v}" for k, v in self.case.items())


def rng_for(function: FunctionSpec, module: str, label: str) -> np.random.Generator:
    """A generator seeded by the function's seed (the hidden seed for a hidden case),
    its full name and the case label."""
    name_hash = zlib.crc32(f"{module}.{function.name}/{label}".encode())
    seed = function.hidden_seed if is_secret(label) else function.seed
    return np.random.default_rng([seed if seed is not None else function.seed, name_hash])


class FunctionInputs:
    """Every set of inputs the checks of one function use, each made once.

    `namespace` holds the names that `sample` expressions of course.yml may call
    (the reference module's, with jax, jnp and np): trusted code, run here in the
    grading process, never in a submission's. A student copy has no reference
    module: its inputs are `recorded`, by label, when the course was released.
    """

    def __init__(
        self,
        function: FunctionSpec,
        module: str,
        namespace: Mapping[str, Any],
        recorded: Mapping[str, tuple[Any, ...]] | None = None,
        unseen: bool = True,
    ):
        self.function = function
        self.module = module
        self.namespace = namespace
        self.recorded = recorded
        self.unseen = unseen
        self._resized: dict[str, tuple[Inputs, Inputs]] = {}

    def make(
        self, label: str, case: Mapping[str, Any], overrides: Mapping[str, ArgSpec] | None = None
    ) -> Inputs:
        """Draws the arguments for one case, or takes them from the recording."""
        if self.recorded is not None:
            if label not in self.recorded:
                raise UsageError(
                    f"no recorded inputs {label!r} for {self.module}.{self.function.name}; "
                    "course.yml changed since the release"
                )
            return Inputs(label=label, case=dict(case), args=tuple(self.recorded[label]))
        rng = rng_for(self.function, self.module, label)
        specs = {**self.function.args, **(overrides or {})}
        args = tuple(self._make(specs[name], case, rng) for name in self.function.args)
        return Inputs(label=label, case=dict(case), args=args)

    @cached_property
    def cases(self) -> list[Inputs]:
        """The arguments for every case of the function, in order."""
        return [self.make(f"case{i}", case) for i, case in enumerate(self.function.cases)]

    @cached_property
    def hidden_cases(self) -> list[Inputs]:
        """The arguments for the hidden cases, drawn from the hidden seed."""
        return [
            self.make(f"{HIDDEN_LABEL}{i}", case)
            for i, case in enumerate(self.function.hidden_cases)
        ]

    @cached_property
    def unseen_cases(self) -> list[Inputs]:
        """A case like the first, drawn from the hidden seed, which never leaves the
        instructor: a student copy's recording cannot answer it, so a table of recorded
        answers earns nothing. Only where the inputs are drawn here (not recorded)."""
        if not self.unseen or self.recorded is not None or self.function.hidden_seed is None:
            return []
        return [self.make(f"{UNSEEN_LABEL}0", self.function.cases[0])]

    @cached_property
    def extreme(self) -> Inputs:
        """The arguments on the extreme inputs of course.yml's `extreme` block."""
        extreme = self.function.extreme
        if extreme is None:
            raise ValueError(f"{self.module}.{self.function.name} has no extreme inputs")
        return self.make("extreme", extreme.case, extreme.args)

    def resized(self, dim: str) -> tuple[Inputs, Inputs]:
        """The first case at its value of the size `dim` and at a larger one, every other
        size unchanged: the unseen case and one drawn like it where the grader has the
        hidden seed, so that a program made from a recording cannot give their values."""
        if dim not in self._resized:
            base = self.function.cases[0]
            first = (self.unseen_cases or self.cases)[0]
            # 60 more: a multiple of every unroll factor up to 6, so that a scan with
            # unroll=k has as many steps left over (T mod k) at both sizes.
            large = int(first.case[dim]) + 60
            prefix = f"{UNSEEN_LABEL}-" if self.unseen_cases else ""
            self._resized[dim] = (first, self.make(f"{prefix}{dim}={large}", {**base, dim: large}))
        return self._resized[dim]

    def _make(self, spec: ArgSpec, case: Mapping[str, Any], rng: np.random.Generator) -> Any:
        if isinstance(spec, RandomArray):
            shape = tuple(evaluate_size(d, case) if isinstance(d, str) else d for d in spec.shape)
            return _draw(spec, shape, rng)
        if isinstance(spec, FixedArray):
            return np.asarray(spec.values, dtype=spec.dtype)
        if isinstance(spec, CaseValue):
            return case[spec.key]
        if isinstance(spec, SampledArray):
            return self._sample(spec, case, rng)
        if isinstance(spec, tuple):
            return tuple(self._make(item, case, rng) for item in spec)
        return {name: self._make(sub, case, rng) for name, sub in spec.items()}

    def _sample(
        self, spec: SampledArray, case: Mapping[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        seed = int(rng.integers(0, 2**31 - 1))
        sizes = [case[name] for name in spec.sizes]
        return as_namespace(self.namespace).sample(spec.expression, seed, sizes, spec.dtype)


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
