"""The course manifest, `course.yml`: loading and validation.

Everything the grader knows about a course comes from here: the modules in
order, the functions of each with their points, how their inputs are made,
which checks run with what weight, tolerances, limits and seeds. A manifest
that breaks the schema raises `ManifestError` naming the file, the key and
what is wrong.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from grader.checks import CHECKS, HIDEABLE
from grader.checks.base import CheckSite
from grader.course.sizes import size_names
from grader.course.specs import (
    VISIBILITIES,
    ArgSpec,
    CaseValue,
    CheckSpec,
    Course,
    ExtremeInputs,
    FixedArray,
    FunctionSpec,
    GradescopeSettings,
    Limits,
    ModuleSpec,
    RandomArray,
    SampledArray,
    Tolerance,
)
from grader.errors import ManifestError

DISTRIBUTIONS = {
    "normal": {"loc": 0.0, "scale": 1.0},
    "uniform": {"low": 0.0, "high": 1.0},
    "bernoulli": {"p": 0.5},
    "integers": {"low": 0, "high": 10},
}
DTYPES = ("float32", "int32", "bool")
MAX_SHAPE_POINTS_SHARE = 0.25


@dataclass(frozen=True)
class _Inherited:
    """Settings that a module or function takes from above unless it sets its own."""

    tolerance: Tolerance
    limits: Limits
    weights: Mapping[str, float]
    seed: int
    hidden_seed: int | None = None


# libyaml's safe loader where PyYAML was built with it: the same documents, ten times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_course(path: Path | str) -> Course:
    """Reads and validates a course manifest."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"{path}: cannot read the course manifest: {error.strerror}") from None
    try:
        data = yaml.load(text, Loader=_LOADER)
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
        value = self.mapping(value, key, optional=tuple(CHECKS))
        weights = {kind: check.weight for kind, check in CHECKS.items()}
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
        run on them. A student copy ships neither (see grader.ship.release)."""
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
            if spec.kind not in HIDEABLE:
                raise self.fail(
                    f"{key}.checks[{i}]",
                    f"the check '{spec.kind}' cannot be hidden (these can: {', '.join(HIDEABLE)})",
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
        gates = sorted({c.kind for c in parsed_checks if c.gating == "gate"})
        if len(gates) > 1:
            raise self.fail(
                f"{key}.checks",
                f"one kind of check may gate the others, not {' and '.join(gates)}: a "
                "function is judged on its values or on its outcomes",
            )
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
        check = CHECKS.get(kind) if isinstance(kind, str) else None
        if check is None:
            raise self.fail(key, f"unknown check {kind!r} (known: {', '.join(CHECKS)})")
        if check.needs is None and parameter is not None:
            raise self.fail(key, f"the check '{kind}' takes no parameter")
        if check.needs is not None and parameter is None:
            raise self.fail(key, f"the check '{kind}' needs {check.needs}, as `{kind}: ...`")
        parameter = check.parse(parameter, CheckSite(key, args, cases, extreme, self))
        return CheckSpec(
            kind=kind,
            weight=weights[kind],
            name=check.name(parameter),
            gating=check.gating,
            parameter=parameter,
        )


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


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )
