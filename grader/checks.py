"""The checks: what each asks of a function, and how it judges the answer.

A check names the probes it needs (by key) and judges the student's outcomes
against the reference's outcomes of the same probes. It never runs code
itself, so the same check works against a live or a recorded reference.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from grader.compare import nonfinite, structure_mismatch, value_mismatch
from grader.inputs import Inputs, case_inputs, extreme_inputs, resized_inputs
from grader.manifest import CheckSpec, FunctionSpec, Limits
from grader.probes import ErrorInfo, Outcome, Probe

NOT_IMPLEMENTED = "not implemented yet"
TRACER_ERRORS = (
    "ConcretizationTypeError",
    "TracerBoolConversionError",
    "TracerIntegerConversionError",
    "TracerArrayConversionError",
)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str


def describe_error(error: ErrorInfo, limits: Limits) -> str:
    """Feedback for an exception raised by the student's code."""
    if error.is_a("MissingFunction"):
        return f"not defined: {error.message}"
    if error.is_a("NotImplementedError"):
        return NOT_IMPLEMENTED
    where = f" ({error.location})" if error.location else ""
    first_line = error.message.strip().splitlines()[0] if error.message.strip() else ""
    if any(error.is_a(name) for name in TRACER_ERRORS):
        return (
            f"fails when traced (as jax.jit and jax.grad do) with {error.type_name}{where}: "
            "the code needs the concrete value of a traced array, as a Python `if`, bool(), "
            "int(), float() or np.asarray on it does. A tracer stands for every possible "
            "value; choose between results with jnp.where(condition, a, b) (or jax.lax.cond) "
            "and compute with jax.numpy, not NumPy."
        )
    if error.is_a("ValueError") and "truth value of an array" in error.message:
        return (
            f"uses an array as a Python truth value{where} (a Python `if`, `and`, `or` or "
            "`max` on an array): the truth of a whole array is ambiguous, and under jax.jit "
            "there is no value to test at all. Choose elementwise with "
            "jnp.where(condition, a, b), or use jnp.maximum / jnp.minimum."
        )
    if error.is_a("MemoryError") or "RESOURCE_EXHAUSTED" in error.message:
        return (
            f"ran out of memory (the limit is {limits.memory_mb} MB){where}: "
            f"{error.type_name}: {first_line}"
        )
    if error.is_a("SystemExit"):
        return f"called sys.exit(){where}; a function must return its result"
    return f"raised {error.type_name}: {first_line}{where}"


class Check:
    """A named check of one function; subclasses define `probes` and `judge_outcomes`."""

    def __init__(self, spec: CheckSpec, function: FunctionSpec, module: str):
        self.spec = spec
        self.function = function
        self.module = module

    @property
    def title(self) -> str:
        return self.spec.title

    def probes(self) -> dict[str, Probe]:
        raise NotImplementedError

    def judge(self, expected: Mapping[str, Outcome], actual: Mapping[str, Outcome]) -> Verdict:
        """Judges the outcomes; an exception in any of the student's probes fails the check."""
        for key in self.probes():
            error = actual[key].error
            if error is not None:
                return Verdict(False, describe_error(error, self.function.limits))
        return self.judge_outcomes(expected, actual)

    def judge_outcomes(
        self, expected: Mapping[str, Outcome], actual: Mapping[str, Outcome]
    ) -> Verdict:
        raise NotImplementedError

    @cached_property
    def cases(self) -> list[Inputs]:
        return case_inputs(self.function, self.module)

    @cached_property
    def extreme(self) -> Inputs:
        return extreme_inputs(self.function, self.module)

    def _call(self, kind: str, inputs: Inputs, **options: object) -> Probe:
        return Probe(kind=kind, args=inputs.args, static=self.function.static_argnums, **options)  # type: ignore[arg-type]

    def _where(self, inputs: Inputs, index: int | None = None) -> str:
        if index is None:
            return f"on the inputs ({inputs.describe()})"
        total = len(self.function.cases)
        return f"case {index + 1} of {total} ({inputs.describe()})"


class ShapeCheck(Check):
    """The tree structure, shape and dtype of every output leaf, on every case."""

    def probes(self) -> dict[str, Probe]:
        return {f"call/{c.label}": self._call("call", c) for c in self.cases}

    def judge_outcomes(self, expected, actual):
        for i, inputs in enumerate(self.cases):
            key = f"call/{inputs.label}"
            mismatch = structure_mismatch(expected[key].value, actual[key].value)
            if mismatch:
                return Verdict(False, f"{self._where(inputs, i)}: {mismatch}")
        return Verdict(True, "every output has the expected structure, shape and dtype")


class ValuesCheck(Check):
    """The outputs against the reference's, within the tolerance, on every case."""

    kind = "call"
    what = "the values"

    def probes(self) -> dict[str, Probe]:
        return {f"{self.kind}/{c.label}": self._call(self.kind, c) for c in self.cases}

    def judge_outcomes(self, expected, actual):
        for i, inputs in enumerate(self.cases):
            key = f"{self.kind}/{inputs.label}"
            verdict = self._compare(expected[key].value, actual[key].value, inputs, i, "output")
            if verdict:
                return verdict
        return Verdict(
            True, f"{self.what} match the reference on all {len(self.function.cases)} cases"
        )

    def _compare(self, expected, actual, inputs: Inputs, index: int, path: str) -> Verdict | None:
        mismatch = structure_mismatch(expected, actual, path) or value_mismatch(
            expected, actual, self.function.tolerance, inputs.case, path
        )
        if mismatch:
            return Verdict(False, f"{self._where(inputs, index)}: {mismatch}")
        return None


class JitCheck(ValuesCheck):
    """The same values when the function runs under `jax.jit`."""

    kind = "jit"
    what = "the values under jax.jit"


class GradientsCheck(ValuesCheck):
    """Reverse-mode gradients with respect to some arguments, against the reference's."""

    what = "the gradients"

    @property
    def wrt(self) -> tuple[int, ...]:
        names = self.function.arg_names
        return tuple(names.index(name) for name in self.spec.parameter)

    def probes(self) -> dict[str, Probe]:
        probes = {}
        for c in self.cases:
            seed = zlib.crc32(f"{self.module}.{self.function.name}/{c.label}/cotangent".encode())
            probes[f"vjp/{c.label}"] = self._call("vjp", c, wrt=self.wrt, cotangent=seed)
        return probes

    def judge_outcomes(self, expected, actual):
        for i, inputs in enumerate(self.cases):
            key = f"vjp/{inputs.label}"
            for position, e, a in zip(
                self.wrt, expected[key].value, actual[key].value, strict=True
            ):
                path = f"the gradient with respect to {self.function.arg_names[position]}"
                verdict = self._compare(e, a, inputs, i, path)
                if verdict:
                    return verdict
        return Verdict(
            True,
            f"the gradients with respect to {', '.join(self.spec.parameter)} "
            f"match the reference on all {len(self.function.cases)} cases",
        )


class FiniteValuesCheck(Check):
    """Finite outputs on the extreme inputs of course.yml."""

    def probes(self) -> dict[str, Probe]:
        return {"call/extreme": self._call("call", self.extreme)}

    def judge_outcomes(self, expected, actual):
        inputs = self.extreme
        found = nonfinite(actual["call/extreme"].value)
        if found:
            return Verdict(
                False,
                f"on extreme inputs ({_show_args(self.function, inputs)}): "
                f"{found}. Rewrite the formula so that nothing overflows.",
            )
        return Verdict(True, "the outputs stay finite on extreme inputs")


class FiniteGradientsCheck(GradientsCheck):
    """Finite gradients on the extreme inputs of course.yml."""

    def probes(self) -> dict[str, Probe]:
        inputs = self.extreme
        return {"vjp/extreme": self._call("vjp", inputs, wrt=self.wrt, cotangent="ones")}

    def judge_outcomes(self, expected, actual):
        inputs = self.extreme
        for position, gradient in zip(self.wrt, actual["vjp/extreme"].value, strict=True):
            name = self.function.arg_names[position]
            found = nonfinite(gradient, f"the gradient with respect to {name}")
            if found:
                return Verdict(
                    False,
                    f"on extreme inputs ({_show_args(self.function, inputs)}): "
                    f"{found}. Some step of the formula overflows (inf) or divides "
                    "inf by inf (nan) even where the value itself is finite.",
                )
        return Verdict(True, "the gradients stay finite on extreme inputs")


class ContainsCheck(Check):
    """A primitive such as `scan` in the traced program (nested programs included)."""

    def probes(self) -> dict[str, Probe]:
        return {"jaxpr/case0": self._call("jaxpr", self.cases[0])}

    def judge_outcomes(self, expected, actual):
        primitive = self.spec.parameter
        found = actual["jaxpr/case0"].value["primitives"]
        if primitive in found:
            return Verdict(True, f"the traced program contains a {primitive}")
        listed = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "")
        return Verdict(
            False,
            f"the traced program has no {primitive} (its primitives: "
            f"{listed or 'none'}); the exercise asks for jax.lax.{primitive}",
        )


class ConstantSizeCheck(Check):
    """A traced program of the same size at two values of a size such as N or T."""

    @cached_property
    def sizes(self) -> tuple[Inputs, Inputs]:
        return resized_inputs(self.function, self.module, self.spec.parameter)

    def probes(self) -> dict[str, Probe]:
        return {f"jaxpr/{i.label}": self._call("jaxpr", i) for i in self.sizes}

    def judge_outcomes(self, expected, actual):
        dim = self.spec.parameter
        small, large = self.sizes
        n_small = actual[f"jaxpr/{small.label}"].value["equations"]
        n_large = actual[f"jaxpr/{large.label}"].value["equations"]
        if n_small == n_large:
            return Verdict(
                True,
                f"the traced program has {n_small} equations at {small.label} and at {large.label}",
            )
        return Verdict(
            False,
            f"the traced program grows with {dim}: {n_small} equations at "
            f"{small.label}, {n_large} at {large.label}. A Python loop unrolls "
            f"into one copy per step; jax.vmap or jax.lax.scan trace the body once.",
        )


CHECKS: dict[str, type[Check]] = {
    "shape": ShapeCheck,
    "values": ValuesCheck,
    "gradients": GradientsCheck,
    "finite_values": FiniteValuesCheck,
    "finite_gradients": FiniteGradientsCheck,
    "jit": JitCheck,
    "contains": ContainsCheck,
    "constant_size": ConstantSizeCheck,
}


def make_checks(function: FunctionSpec, module: str) -> list[Check]:
    return [CHECKS[spec.kind](spec, function, module) for spec in function.checks]


def _show_args(function: FunctionSpec, inputs: Inputs) -> str:
    """The extreme arguments that course.yml writes out, e.g. 'x = [-1000, ..., 1000]'."""
    assert function.extreme is not None
    shown = []
    for name in function.extreme.args:
        value = inputs.args[function.arg_names.index(name)]
        shown.append(f"{name} = {list(value.ravel().tolist())}")
    return "; ".join(shown)
