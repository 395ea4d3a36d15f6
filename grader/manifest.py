"""The course manifest, `course.yml`: loading and validation.

Everything the grader knows about a course comes from here: the modules in
order, the functions of each with their points, how their inputs are made,
which checks run with what weight, tolerances, limits and seeds. A manifest
that breaks the schema raises `ManifestError` naming the file, the key and
what is wrong.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import yaml

from grader.errors import ManifestError
from grader.programs import PRIMITIVE_OPS
from grader.results import HUNDREDTHS, to_hundredths

CHECK_KINDS = (
    "shape",
    "values",
    "gradients",
    "finite_values",
    "finite_gradients",
    "jit",
    "contains",
    "constant_size",
    "objective",
    "decreasing",
    "permutation_match",
    "predicate",
)
# Checks that take an argument in course.yml, and what it is.
CHECK_PARAMETERS = {
    "gradients": "a list of argument names",
    "finite_gradients": "a list of argument names",
    "contains": f"a loop or branch ({', '.join(PRIMITIVE_OPS)})",
    "constant_size": "a size name",
    "objective": "a mapping with `of` and `margin`",
    "decreasing": "a mapping with `of`",
    "permutation_match": "a mapping with `of`, `target` and `atol`",
    "predicate": "a mapping with `of` and `title`",
}
# Checks of outcomes (a fit's quality) rather than of values against the reference's.
OUTCOME_CHECKS = ("objective", "decreasing", "permutation_match", "predicate")
# Checks that earn points whatever the values; every other one needs `values` to pass.
# What a function must get right before its other checks earn points (shape apart): its
# values, or for a function judged on outcomes (a fit), its objective. A constant or
# input-independent answer fails the gate, so it earns the shape points at most.
GATES = ("values", "objective")
# Checks that may run on hidden cases: those judged on a function's cases.
HIDDEN_CHECKS = ("shape", "values", "gradients", "jit", *OUTCOME_CHECKS)
DISTRIBUTIONS = {
    "normal": {"loc": 0.0, "scale": 1.0},
    "uniform": {"low": 0.0, "high": 1.0},
    "bernoulli": {"p": 0.5},
    "integers": {"low": 0, "high": 10},
}
DTYPES = ("float32", "int32", "bool")
MAX_SHAPE_POINTS_SHARE = 0.25
# Weights of the checks where course.yml's `defaults.weights` does not set them.
DEFAULT_WEIGHTS = {
    "shape": 1.0,
    "values": 4.0,
    "gradients": 2.0,
    "finite_values": 1.0,
    "finite_gradients": 1.0,
    "jit": 1.0,
    "contains": 2.0,
    "constant_size": 2.0,
    "objective": 4.0,
    "decreasing": 1.0,
    "permutation_match": 3.0,
    "predicate": 2.0,
}


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


@dataclass(frozen=True)
class Limits:
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


@dataclass(frozen=True)
class CheckSpec:
    kind: str
    weight: float
    parameter: Any = None
    hidden: bool = False  # run on the hidden cases, whose seed a student copy lacks

    @property
    def title(self) -> str:
        """The check's name in reports, e.g. 'finite gradients', 'values (hidden)'."""
        return f"{self._title} (hidden)" if self.hidden else self._title

    @property
    def _title(self) -> str:
        if isinstance(self.parameter, OutcomeSpec):
            return self.parameter.title
        if self.kind == "shape":
            return "shape and dtype"
        if self.kind == "contains":
            return f"uses {self.parameter}"
        if self.kind == "constant_size":
            return f"does not grow with {self.parameter}"
        return self.kind.replace("_", " ")


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
    outputs: tuple[str, ...] = ()  # the exercise's names for a tuple's items, for feedback

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
        """The kind of check (values, else objective) that the others wait for."""
        kinds = {c.kind for c in self.checks}
        return next((kind for kind in GATES if kind in kinds), None)

    def gated(self, check: CheckSpec) -> bool:
        """Whether `check` earns points only once the gate's (visible) checks pass."""
        return self.gate is not None and check.kind not in ("shape", self.gate)

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
    path: Path
    title: str
    seed: int
    solutions_dir: Path
    exercises_dir: Path
    modules: tuple[ModuleSpec, ...] = field(default_factory=tuple)
    recorded_file: Path | None = None  # a student copy's recorded reference (no solutions)
    max_file_kb: int = 1024  # the largest submitted file the grader reads (grader.intake)
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


@dataclass(frozen=True)
class _Inherited:
    """Settings that a module or function takes from above unless it sets its own."""

    tolerance: Tolerance
    limits: Limits
    weights: Mapping[str, float]
    seed: int
    hidden_seed: int | None = None


def load_course(path: Path | str) -> Course:
    """Reads and validates a course manifest."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"{path}: cannot read the course manifest: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ManifestError(f"{path}{where}: not valid YAML: {problem}") from None
    return _Parser(path).course(data)


class _Parser:
    """Turns the YAML document into a `Course`, failing at the first bad key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, what: str) -> ManifestError:
        return ManifestError(f"{self.path}: {key}: {what}")

    def mapping(
        self,
        value: Any,
        key: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        """`value` as a mapping with the required keys; with `optional`, no other keys."""
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        for name in required:
            if name not in value:
                raise self.fail(key, f"missing required key '{name}'")
        if optional is None:
            return value
        allowed = set(required) | set(optional)
        for name in value:
            if name not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(f"{key}.{name}", f"unknown key (expected one of: {known})")
        return value

    def number(
        self, value: Any, key: str, *, positive: bool = False, integer: bool = False
    ) -> float:
        valid = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not valid:
            expected = "an integer" if integer else "a number"
            raise self.fail(key, f"expected {expected}, got {_kind(value)}")
        if positive and value <= 0:
            raise self.fail(key, f"must be positive, got {value}")
        return value

    def points(self, value: Any, key: str) -> float:
        """A function's points: positive, with at most two decimals, since points are kept
        in hundredths and a third decimal would be lost from every score."""
        points = float(self.number(value, key, positive=True))
        if round(points, 2) != points:
            raise self.fail(key, f"expected at most two decimals, got {value}")
        return points

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.isidentifier():
            raise self.fail(key, f"expected a Python identifier, got {value!r}")
        return value

    def course(self, data: Any) -> Course:
        top = self.mapping(
            data,
            "course",
            required=("title", "seed", "modules"),
            optional=(
                "solutions",
                "exercises",
                "recorded",
                "hidden_seed",
                "defaults",
                "max_file_kb",
                "gradescope",
            ),
        )
        defaults = self.mapping(
            top.get("defaults", {}), "defaults", optional=("tolerance", "limits", "weights")
        )
        tolerance = self.tolerance(
            defaults.get("tolerance", {}), "defaults.tolerance", Tolerance(rtol=1e-5, atol=1e-6)
        )
        limits = self.limits(
            defaults.get("limits", {}),
            "defaults.limits",
            Limits(time_s=30.0, import_time_s=60.0, memory_mb=4096),
        )
        weights = self.weights(defaults.get("weights", {}), "defaults.weights")
        seed = int(self.number(top["seed"], "seed", integer=True))
        hidden_seed = None
        if "hidden_seed" in top:
            hidden_seed = int(self.number(top["hidden_seed"], "hidden_seed", integer=True))
        inherited = _Inherited(
            tolerance=tolerance, limits=limits, weights=weights, seed=seed, hidden_seed=hidden_seed
        )
        modules = top["modules"]
        if not isinstance(modules, list) or not modules:
            raise self.fail("modules", "expected a non-empty list of modules")
        parsed = tuple(self.module(m, f"modules[{i}]", inherited) for i, m in enumerate(modules))
        self.unique([m.name for m in parsed], "modules", "module")
        return Course(
            path=self.path,
            title=str(top["title"]),
            seed=seed,
            solutions_dir=self.path.parent / str(top.get("solutions", "solutions")),
            exercises_dir=self.path.parent / str(top.get("exercises", "exercises")),
            modules=parsed,
            recorded_file=self.path.parent / str(top["recorded"]) if "recorded" in top else None,
            max_file_kb=int(
                self.number(
                    top.get("max_file_kb", 1024), "max_file_kb", integer=True, positive=True
                )
            ),
            gradescope=self.gradescope(top.get("gradescope", {}), "gradescope"),
        )

    def gradescope(self, value: Any, key: str) -> GradescopeSettings:
        value = self.mapping(value, key, optional=("hidden_checks", "results"))
        for name, given in value.items():
            if given not in VISIBILITIES:
                raise self.fail(
                    f"{key}.{name}", f"expected one of {', '.join(VISIBILITIES)}, got {given!r}"
                )
        return GradescopeSettings(**value)

    def unique(self, names: list[str], key: str, what: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.fail(key, f"{what} '{name}' is listed twice")
            seen.add(name)

    def tolerance(self, value: Any, key: str, base: Tolerance) -> Tolerance:
        value = self.mapping(value, key, optional=("rtol", "atol"))
        return Tolerance(
            rtol=float(self.number(value.get("rtol", base.rtol), f"{key}.rtol")),
            atol=float(self.number(value.get("atol", base.atol), f"{key}.atol")),
        )

    def limits(self, value: Any, key: str, base: Limits) -> Limits:
        value = self.mapping(value, key, optional=("time_s", "import_time_s", "memory_mb"))
        return Limits(
            time_s=float(
                self.number(value.get("time_s", base.time_s), f"{key}.time_s", positive=True)
            ),
            import_time_s=float(
                self.number(
                    value.get("import_time_s", base.import_time_s),
                    f"{key}.import_time_s",
                    positive=True,
                )
            ),
            memory_mb=int(
                self.number(
                    value.get("memory_mb", base.memory_mb),
                    f"{key}.memory_mb",
                    positive=True,
                    integer=True,
                )
            ),
        )

    def weights(self, value: Any, key: str) -> dict[str, float]:
        value = self.mapping(value, key, optional=CHECK_KINDS)
        weights = dict(DEFAULT_WEIGHTS)
        for kind, weight in value.items():
            weights[kind] = float(self.number(weight, f"{key}.{kind}", positive=True))
        return weights

    def module(self, value: Any, key: str, inherited: _Inherited) -> ModuleSpec:
        value = self.mapping(
            value, key, required=("name", "functions"), optional=("title", "limits")
        )
        name = self.name(value["name"], f"{key}.name")
        limits = self.limits(value.get("limits", {}), f"{key}.limits", inherited.limits)
        inherited = replace(inherited, limits=limits)
        functions = value["functions"]
        if not isinstance(functions, list) or not functions:
            raise self.fail(f"{key}.functions", "expected a non-empty list of functions")
        parsed = tuple(
            self.function(f, f"{key}.functions[{i}]", inherited) for i, f in enumerate(functions)
        )
        self.unique([f.name for f in parsed], f"{key}.functions", "function")
        return ModuleSpec(
            name=name, title=str(value.get("title", name)), functions=parsed, limits=limits
        )

    def hidden(
        self,
        value: Any,
        key: str,
        inherited: _Inherited,
        args: Mapping[str, ArgSpec],
        extreme: ExtremeInputs | None,
    ) -> tuple[tuple[Mapping[str, Any], ...], tuple[CheckSpec, ...]]:
        """A function's hidden block: cases drawn from `hidden_seed`, and the checks
        run on them. A student copy ships neither (see grader.release)."""
        value = self.mapping(value, key, required=("cases", "checks"))
        if inherited.hidden_seed is None:
            raise self.fail(key, "hidden checks need a `hidden_seed` at the top of course.yml")
        cases = value["cases"]
        if not isinstance(cases, list) or not cases:
            raise self.fail(f"{key}.cases", "expected a non-empty list of cases")
        parsed_cases = tuple(
            self.case(case, f"{key}.cases[{i}]", args) for i, case in enumerate(cases)
        )
        checks = value["checks"]
        if not isinstance(checks, list) or not checks:
            raise self.fail(f"{key}.checks", "expected a non-empty list of checks")
        parsed = []
        for i, check in enumerate(checks):
            spec = self.check(
                check, f"{key}.checks[{i}]", inherited.weights, args, parsed_cases, extreme
            )
            if spec.kind not in HIDDEN_CHECKS:
                raise self.fail(
                    f"{key}.checks[{i}]",
                    f"the check '{spec.kind}' cannot be hidden (these can: "
                    f"{', '.join(HIDDEN_CHECKS)})",
                )
            parsed.append(replace(spec, hidden=True))
        return parsed_cases, tuple(parsed)

    def function(self, value: Any, key: str, inherited: _Inherited) -> FunctionSpec:
        value = self.mapping(
            value,
            key,
            required=("name", "points", "args", "cases", "checks"),
            optional=("tolerance", "limits", "seed", "extreme", "harness", "hidden", "outputs"),
        )
        name = self.name(value["name"], f"{key}.name")
        args = self.mapping(value["args"], f"{key}.args")
        parsed_args = {
            self.name(arg, f"{key}.args"): self.arg(spec, f"{key}.args.{arg}", top_level=True)
            for arg, spec in args.items()
        }
        cases = value["cases"]
        if not isinstance(cases, list) or not cases:
            raise self.fail(f"{key}.cases", "expected a non-empty list of cases")
        parsed_cases = tuple(
            self.case(case, f"{key}.cases[{i}]", parsed_args) for i, case in enumerate(cases)
        )
        tolerance = self.tolerance(
            value.get("tolerance", {}), f"{key}.tolerance", inherited.tolerance
        )
        extreme = None
        if "extreme" in value:
            extreme = self.extreme(value["extreme"], f"{key}.extreme", parsed_args, tolerance)
        checks = value["checks"]
        if not isinstance(checks, list) or not checks:
            raise self.fail(f"{key}.checks", "expected a non-empty list of checks")
        parsed_checks = tuple(
            self.check(
                check, f"{key}.checks[{i}]", inherited.weights, parsed_args, parsed_cases, extreme
            )
            for i, check in enumerate(checks)
        )
        hidden_cases: tuple[Mapping[str, Any], ...] = ()
        if "hidden" in value:
            hidden_cases, hidden_checks = self.hidden(
                value["hidden"], f"{key}.hidden", inherited, parsed_args, extreme
            )
            parsed_checks += hidden_checks
        self.unique([c.title for c in parsed_checks], f"{key}.checks", "check")
        function = FunctionSpec(
            name=name,
            points=self.points(value["points"], f"{key}.points"),
            args=parsed_args,
            cases=parsed_cases,
            checks=parsed_checks,
            tolerance=tolerance,
            limits=self.limits(value.get("limits", {}), f"{key}.limits", inherited.limits),
            seed=int(self.number(value.get("seed", inherited.seed), f"{key}.seed", integer=True)),
            extreme=extreme,
            harness=self.harness(value.get("harness"), f"{key}.harness"),
            hidden_cases=hidden_cases,
            hidden_seed=inherited.hidden_seed,  # hidden cases and the unseen one
            outputs=self.outputs(value.get("outputs", []), f"{key}.outputs"),
        )
        # Judged on the weights: the rounding to hundredths may add a cent to the share.
        shape = sum(c.weight for c in function.checks if c.kind == "shape")
        if shape > MAX_SHAPE_POINTS_SHARE * sum(c.weight for c in function.checks) + 1e-9:
            raise self.fail(
                f"{key}.checks",
                "the shape check may carry at most a quarter of "
                "the function's points; lower its weight",
            )
        return function

    def harness(self, value: Any, key: str) -> str | None:
        return None if value is None else self.expression(value, key)

    def expression(self, value: Any, key: str) -> str:
        """A lambda expression, given as a string."""
        if not isinstance(value, str) or _lambda_parameters(value) is None:
            raise self.fail(key, "expected a lambda expression, as a string")
        return value.strip()

    def outcome(self, value: Any, key: str, kind: str) -> OutcomeSpec:
        required = {
            "objective": ("of", "margin"),
            "decreasing": ("of",),
            "permutation_match": ("of", "target", "atol"),
            "predicate": ("of", "title"),
        }[kind]
        value = self.mapping(value, key, required=required, optional=("title",))
        title = value.get("title", kind.replace("_", " "))
        if not isinstance(title, str) or not title:
            raise self.fail(f"{key}.title", "expected a non-empty string")
        target = value.get("target")
        if target is not None:
            try:
                target = np.asarray(target, dtype=np.float32)
            except (TypeError, ValueError):
                raise self.fail(f"{key}.target", "expected an array of numbers") from None
        return OutcomeSpec(
            title=title,
            of=self.expression(value["of"], f"{key}.of"),
            margin=float(self.number(value.get("margin", 0.0), f"{key}.margin")),
            target=target,
            atol=float(self.number(value.get("atol", 0.0), f"{key}.atol")),
        )

    def arg(self, value: Any, key: str, top_level: bool = False) -> ArgSpec:
        if isinstance(value, list) and value:
            return tuple(self.arg(item, f"{key}[{i}]") for i, item in enumerate(value))
        if not isinstance(value, dict) or not value:
            raise self.fail(key, f"expected a mapping describing an argument, got {_kind(value)}")
        if "shape" in value:
            return self.random_array(value, key)
        if "values" in value:
            value = self.mapping(value, key, required=("values",), optional=("dtype",))
            return FixedArray(values=value["values"], dtype=self.dtype(value, key))
        if "sample" in value:
            value = self.mapping(value, key, required=("sample",), optional=("dtype",))
            expression = self.expression(value["sample"], f"{key}.sample")
            parameters = _lambda_parameters(expression)
            if not parameters or parameters[0] != "key":
                raise self.fail(f"{key}.sample", "expected `lambda key, SIZE, ...: ...`")
            return SampledArray(expression, tuple(parameters[1:]), self.dtype(value, key))
        if "case" in value:
            value = self.mapping(value, key, required=("case",), optional=("static",))
            static = value.get("static", False)
            if not isinstance(static, bool):
                raise self.fail(f"{key}.static", f"expected true or false, got {_kind(static)}")
            if static and not top_level:
                raise self.fail(f"{key}.static", "only a top-level argument can be static")
            return CaseValue(key=self.name(value["case"], f"{key}.case"), static=static)
        return {self.name(k, key): self.arg(v, f"{key}.{k}") for k, v in value.items()}

    def random_array(self, value: dict[str, Any], key: str) -> RandomArray:
        dist = value.get("dist")
        if dist not in DISTRIBUTIONS:
            raise self.fail(
                f"{key}.dist", f"expected one of {', '.join(DISTRIBUTIONS)}, got {dist!r}"
            )
        params = DISTRIBUTIONS[dist]
        value = self.mapping(value, key, required=("shape", "dist"), optional=("dtype", *params))
        shape = value["shape"]
        if not isinstance(shape, list) or not all(
            (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
            or (isinstance(d, str) and size_names(d) is not None)
            for d in shape
        ):
            raise self.fail(
                f"{key}.shape",
                "expected a list of whole numbers and sizes (names, or sums and products "
                "of names and numbers such as 'D + H' or '4 * H')",
            )
        return RandomArray(
            shape=tuple(shape),
            dist=dist,
            params={
                p: float(self.number(value.get(p, d), f"{key}.{p}")) for p, d in params.items()
            },
            dtype=self.dtype(value, key),
        )

    def dtype(self, value: dict[str, Any], key: str) -> str:
        dtype = value.get("dtype", "float32")
        if dtype not in DTYPES:
            raise self.fail(f"{key}.dtype", f"expected one of {', '.join(DTYPES)}, got {dtype!r}")
        return dtype

    def case(self, value: Any, key: str, args: Mapping[str, ArgSpec]) -> dict[str, Any]:
        value = self.mapping(value, key)
        for needed, where in _case_keys(args):
            if needed not in value:
                raise self.fail(key, f"missing '{needed}', used by {where}")
        for name, entry in value.items():
            self.number(entry, f"{key}.{name}")
        return dict(value)

    def outputs(self, value: Any, key: str) -> tuple[str, ...]:
        """The names of a tuple output's items, as the exercise's docstring gives them."""
        if not isinstance(value, list) or not all(
            isinstance(name, str) and 0 < len(name) <= 40 for name in value
        ):
            raise self.fail(key, "expected a list of names, such as [h_T, hs]")
        return tuple(value)

    def extreme(
        self, value: Any, key: str, args: Mapping[str, ArgSpec], tolerance: Tolerance
    ) -> ExtremeInputs:
        value = self.mapping(value, key, required=("case", "args"), optional=("tolerance",))
        overrides = self.mapping(value["args"], f"{key}.args", optional=tuple(args))
        parsed = {name: self.arg(spec, f"{key}.args.{name}") for name, spec in overrides.items()}
        merged = {**args, **parsed}
        return ExtremeInputs(
            case=self.case(value["case"], f"{key}.case", merged),
            args=parsed,
            tolerance=(
                self.tolerance(value["tolerance"], f"{key}.tolerance", tolerance)
                if "tolerance" in value
                else None
            ),
        )

    def check(
        self,
        value: Any,
        key: str,
        weights: Mapping[str, float],
        args: Mapping[str, ArgSpec],
        cases: tuple[Mapping[str, Any], ...],
        extreme: ExtremeInputs | None,
    ) -> CheckSpec:
        if isinstance(value, dict) and len(value) == 1:
            kind, parameter = next(iter(value.items()))
        elif isinstance(value, str):
            kind, parameter = value, None
        else:
            raise self.fail(
                key, "expected a check name or a one-entry mapping (for example `contains: scan`)"
            )
        if kind not in CHECK_KINDS:
            raise self.fail(key, f"unknown check {kind!r} (known: {', '.join(CHECK_KINDS)})")
        needs = CHECK_PARAMETERS.get(kind)
        if needs is None and parameter is not None:
            raise self.fail(key, f"the check '{kind}' takes no parameter")
        if needs is not None and parameter is None:
            raise self.fail(key, f"the check '{kind}' needs {needs}, as `{kind}: ...`")
        if kind in ("gradients", "finite_gradients"):
            if not isinstance(parameter, list) or not parameter:
                raise self.fail(f"{key}.{kind}", "expected a list of argument names")
            for arg in parameter:
                spec = args.get(arg)
                if spec is None:
                    raise self.fail(f"{key}.{kind}", f"no argument named {arg!r}")
                if isinstance(spec, CaseValue | FixedArray) or (
                    isinstance(spec, RandomArray) and spec.dtype != "float32"
                ):
                    raise self.fail(
                        f"{key}.{kind}",
                        f"cannot differentiate with respect to {arg!r}: it is not a float32 array",
                    )
            parameter = tuple(parameter)
        elif kind in ("contains", "constant_size") and not (
            isinstance(parameter, str) and parameter.isidentifier()
        ):
            raise self.fail(f"{key}.{kind}", f"expected a name, got {parameter!r}")
        if kind == "contains" and parameter not in PRIMITIVE_OPS:
            raise self.fail(
                f"{key}.contains", f"expected one of {', '.join(PRIMITIVE_OPS)}, got {parameter!r}"
            )
        if kind in OUTCOME_CHECKS:
            parameter = self.outcome(parameter, f"{key}.{kind}", kind)
        if kind == "constant_size" and not all(parameter in case for case in cases):
            raise self.fail(
                f"{key}.constant_size", f"the size {parameter!r} is not set by every case"
            )
        if kind in ("finite_values", "finite_gradients") and extreme is None:
            raise self.fail(key, f"the check '{kind}' needs an `extreme` block of inputs")
        return CheckSpec(kind=kind, weight=weights[kind], parameter=parameter)


def _case_keys(args: Mapping[str, ArgSpec], where: str = "") -> list[tuple[str, str]]:
    """The case keys that the argument specs refer to, with the argument using each."""
    keys: list[tuple[str, str]] = []
    for name, spec in args.items():
        path = f"{where}.{name}" if where else name
        if isinstance(spec, RandomArray):
            keys.extend(
                (name, f"the shape of {path}")
                for d in spec.shape
                if isinstance(d, str)
                for name in size_names(d) or ()
            )
        elif isinstance(spec, CaseValue):
            keys.append((spec.key, f"the argument {path}"))
        elif isinstance(spec, Mapping):
            keys.extend(_case_keys(spec, path))
        elif isinstance(spec, SampledArray):
            keys.extend((name, f"the sample of {path}") for name in spec.sizes)
        elif isinstance(spec, tuple):
            keys.extend(_case_keys({f"[{i}]": item for i, item in enumerate(spec)}, path))
    return keys


def _lambda_parameters(expression: str) -> list[str] | None:
    """The parameter names of a lambda expression; None if it is not one."""
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.Lambda):
        return None
    arguments = tree.args
    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args)]
    if arguments.vararg is not None:
        names.append("*" + arguments.vararg.arg)
    return names


_SIZE_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def size_names(expression: str) -> list[str] | None:
    """The size names in a shape entry such as 'D + H' or '4 * H'; None if it is not one."""
    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None
    names: list[str] = []

    def visit(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            names.append(node.id)
            return True
        if isinstance(node, ast.Constant):
            return isinstance(node.value, int) and not isinstance(node.value, bool)
        if isinstance(node, ast.BinOp) and type(node.op) in _SIZE_OPERATORS:
            return visit(node.left) and visit(node.right)
        return False

    return names if visit(tree) else None


def evaluate_size(expression: str, sizes: Mapping[str, Any]) -> int:
    """The value of a shape entry that `size_names` accepted, given the case's sizes."""

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Name):
            return int(sizes[node.id])
        if isinstance(node, ast.Constant):
            return int(node.value)
        assert isinstance(node, ast.BinOp)
        return _SIZE_OPERATORS[type(node.op)](value(node.left), value(node.right))

    return value(ast.parse(expression, mode="eval").body)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )
