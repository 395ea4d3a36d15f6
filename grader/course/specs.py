"""The course's data model: what course.yml says, as frozen dataclasses."""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from grader.results import HUNDREDTHS, to_hundredths

# How a check waits for the function's gate (see grader.checks.base.Check.gating).
Gating = Literal["gate", "free", "gated"]


@dataclass(frozen=True)
class Tolerance:
    """How close a value must be to the reference's: |actual - expected| <= atol +
    rtol * |expected|, elementwise (NumPy's isclose)."""

    rtol: float
    atol: float


@dataclass(frozen=True)
class Limits:
    """What a submission's processes may spend.

    Attributes:
      time_s: CPU seconds per function, compilation included (the wall clock may run
        three times as long, plus ten seconds).
      import_time_s: CPU seconds to import a submitted module, JAX included.
      memory_mb: memory of the submission's processes together.
    """

    time_s: float
    import_time_s: float
    memory_mb: int


@dataclass(frozen=True)
class RandomArray:
    """An array drawn from a distribution; `shape` holds size names or ints."""

    shape: tuple[str | int, ...]
    dist: str
    params: Mapping[str, float]
    dtype: str


@dataclass(frozen=True)
class FixedArray:
    values: Any
    dtype: str


@dataclass(frozen=True)
class CaseValue:
    """A Python value taken from each case (a learning rate, a step count)."""

    key: str
    static: bool


@dataclass(frozen=True)
class SampledArray:
    """An array made by a lambda of course.yml, `lambda key, SIZE, ...: ...`, run in the
    grading process with the reference module's names (a sampler of synthetic data)."""

    expression: str
    sizes: tuple[str, ...]
    dtype: str


ArgSpec = (
    RandomArray
    | FixedArray
    | CaseValue
    | SampledArray
    | Mapping[str, "ArgSpec"]
    | tuple["ArgSpec", ...]
)


@dataclass(frozen=True)
class OutcomeSpec:
    """The parameters of an outcome check: `of` maps (outputs, *args) to what is judged."""

    title: str
    of: str
    margin: float = 0.0
    target: Any = None
    atol: float = 0.0


# A check's parameter, as its kind's `parse` made it: argument names (gradients), a
# name (a loop, a size), an outcome's settings, or None.
CheckParameter = tuple[str, ...] | str | OutcomeSpec | None


@dataclass(frozen=True)
class CheckSpec:
    """One check of a function, as course.yml asks for it.

    Attributes:
      kind: the kind of check (a class in grader.checks declares each).
      weight: its share of the function's points, relative to the other checks'.
      name: its name in reports, made by its kind from the parameter ('uses scan').
      gating: how it waits for the function's gate (its kind's).
      parameter: what course.yml gives it, as its kind parsed it.
      hidden: whether it runs on the hidden cases, whose seed a student copy lacks.
    """

    kind: str
    weight: float
    name: str
    gating: Gating = "gated"
    parameter: CheckParameter = None
    hidden: bool = False

    @property
    def title(self) -> str:
        """The check's name in reports, e.g. 'finite gradients', 'values (hidden)'."""
        return f"{self.name} (hidden)" if self.hidden else self.name


@dataclass(frozen=True)
class ExtremeInputs:
    """The `extreme` block: one case whose inputs stress the formula (huge logits, a long
    sequence), with some arguments written out.

    Attributes:
      case: the sizes.
      args: the arguments written out; the others are drawn as in every case.
      tolerance: the comparison's, where extreme magnitudes need their own (course.yml
        says why); None for the function's.
    """

    case: Mapping[str, Any]
    args: Mapping[str, ArgSpec]
    tolerance: Tolerance | None = None


@lru_cache(maxsize=256)
def _shown_arg(function: str, harness: str | None, name: str) -> str:
    if harness is None:
        return name
    try:
        tree = ast.parse(harness, mode="eval")
    except SyntaxError:
        return name
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
            if call.func.id != function:
                continue
            for argument in call.args:
                named = {n.id for n in ast.walk(argument) if isinstance(n, ast.Name)}
                if name in named and not isinstance(argument, ast.Name):
                    return f"{name} (your function gets {ast.unparse(argument)})"
    return name


@dataclass(frozen=True)
class FunctionSpec:
    """One graded function of a module, as course.yml describes it.

    Attributes:
      name: its name in the module (the curriculum's).
      points: what it is worth, at most two decimals; its checks share them by weight.
      args: how each argument is made, in the order of the signature.
      cases: the sizes and case values of each case (drawn from `seed`).
      checks: what is asked of it, the hidden checks among them (`CheckSpec.hidden`).
      tolerance: how close its values must be to the reference's.
      limits: what its calls may spend.
      seed: the seed of its cases' inputs.
      extreme: inputs that stress the formula, for the finite checks.
      harness: a lambda the checks call instead of the function (see course.yml).
      hidden_cases: cases drawn from `hidden_seed`, for the hidden checks.
      hidden_seed: the seed of the hidden and unseen cases; a student copy has none.
      outputs: the exercise's names for a tuple's items, for feedback.
    """

    name: str
    points: float
    args: Mapping[str, ArgSpec]
    cases: tuple[Mapping[str, Any], ...]
    checks: tuple[CheckSpec, ...]
    tolerance: Tolerance
    limits: Limits
    seed: int
    extreme: ExtremeInputs | None = None
    harness: str | None = None
    hidden_cases: tuple[Mapping[str, Any], ...] = ()
    hidden_seed: int | None = None
    outputs: tuple[str, ...] = ()

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(self.args)

    def shown_arg(self, name: str) -> str:
        """An argument as the student can find it: a harness's own argument with what the
        harness passes for it ('pi_logits (your function gets
        jax.nn.log_softmax(pi_logits))')."""
        return _shown_arg(self.name, self.harness, name)

    @property
    def static_argnums(self) -> tuple[int, ...]:
        return tuple(
            i
            for i, spec in enumerate(self.args.values())
            if isinstance(spec, CaseValue) and spec.static
        )

    @property
    def must_jit(self) -> bool:
        """Whether the checks ask for the function to run under `jax.jit`."""
        return any(check.kind == "jit" for check in self.checks)

    @property
    def gate(self) -> str | None:
        """The kind of check that the others wait for (values, or a fit's objective); the
        schema allows a function one kind of gate."""
        return next((c.kind for c in self.checks if c.gating == "gate"), None)

    def gated(self, check: CheckSpec) -> bool:
        """Whether `check` earns points only once the gate's (visible) checks pass."""
        return self.gate is not None and check.gating == "gated"

    def check_points(self, check: CheckSpec) -> float:
        """The points of one of the function's checks: its share of `points` by weight, in
        whole hundredths, so that the checks' points add up to `points` exactly."""
        return self._check_hundredths[check.title] / HUNDREDTHS

    @cached_property
    def _check_hundredths(self) -> dict[str, int]:
        # By title, which the manifest keeps unique within a function.
        shares = largest_remainder(to_hundredths(self.points), [c.weight for c in self.checks])
        return dict(zip((c.title for c in self.checks), shares, strict=True))


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """`total` units split in proportion to `weights` so that the shares add up to `total`:
    each share rounded down, then one more unit to each of the largest remainders, the
    earlier of equal ones first. In exact fractions, so that no float rounding decides."""
    exact = [Fraction(total) * Fraction(w) / sum(map(Fraction, weights)) for w in weights]
    shares = [math.floor(share) for share in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


@dataclass(frozen=True)
class ModuleSpec:
    """A module of the course: `exercises/<name>.py`, its functions in course order."""

    name: str
    title: str
    functions: tuple[FunctionSpec, ...]
    limits: Limits

    def function(self, name: str) -> FunctionSpec:
        for function in self.functions:
            if function.name == name:
                return function
        raise KeyError(name)

    @property
    def points(self) -> float:
        return sum(f.points for f in self.functions)


Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
VISIBILITIES: tuple[Visibility, ...] = get_args(Visibility)


@dataclass(frozen=True)
class GradescopeSettings:
    """How results.json shows a submission's results on Gradescope.

    Attributes:
      hidden_checks: when students see the hidden checks' results (default: after the
        due date, so that a hidden check cannot be probed submission by submission).
      results: when students see any result at all; None leaves it to Gradescope.
    """

    hidden_checks: Visibility = "after_due_date"
    results: Visibility | None = None


@dataclass(frozen=True)
class Course:
    """A whole course, as course.yml describes it.

    Attributes:
      path: course.yml itself; the folders below are relative to it.
      title: the course's title, for reports and exports.
      seed: the seed every function's inputs derive from unless it sets its own.
      solutions_dir: the reference solutions (absent from a student copy).
      exercises_dir: the stubs students edit.
      modules: in course order.
      recorded_file: a student copy's recorded reference, where there are no solutions.
      max_file_kb: the largest submitted file the grader reads (grader.runner.intake).
      gradescope: how results.json shows results on Gradescope.
    """

    path: Path
    title: str
    seed: int
    solutions_dir: Path
    exercises_dir: Path
    modules: tuple[ModuleSpec, ...] = field(default_factory=tuple)
    recorded_file: Path | None = None
    max_file_kb: int = 1024
    gradescope: GradescopeSettings = field(default_factory=GradescopeSettings)

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_kb * 1024

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def points(self) -> float:
        return sum(m.points for m in self.modules)

    @property
    def module_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modules)

    def module(self, name: str) -> ModuleSpec:
        for module in self.modules:
            if module.name == name:
                return module
        raise KeyError(name)
