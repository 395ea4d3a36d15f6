"""Checks of a function's values and gradients against the reference's."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from grader.checks.base import Check, CheckSite, Verdict
from grader.checks.compare import name_outputs, nonfinite, structure_mismatch, value_mismatch
from grader.course.inputs import Inputs
from grader.course.specs import CaseValue, CheckParameter, FixedArray, FunctionSpec, RandomArray
from grader.runner.probes import Probe, ProbeKey

SHOWN_VALUES = 12  # of an extreme input written out in course.yml, in feedback


class ShapeCheck(Check):
    """The tree structure, shape and dtype of every output leaf, on every case."""

    kind = "shape"
    weight = 1.0
    gating = "free"

    @classmethod
    def name(cls, parameter: CheckParameter) -> str:
        return "shape and dtype"

    def judge_outcomes(self, expected, actual):
        for i, inputs in enumerate(self.cases):
            key = ProbeKey("call", inputs.label)
            mismatch = structure_mismatch(expected[key].value, actual[key].value)
            if mismatch:
                return self._failed(inputs, i, mismatch)
        return Verdict(True, "every output has the expected structure, shape and dtype")


class ValuesCheck(Check):
    """The outputs against the reference's, within the tolerance, on every case."""

    kind = "values"
    weight = 4.0
    gating = "gate"

    def judge_outcomes(self, expected, actual):
        for i, inputs in enumerate(self.cases):
            key = ProbeKey("call", inputs.label)
            verdict = self._compare(expected[key].value, actual[key].value, inputs, i, "output")
            if verdict:
                return verdict
        return Verdict(True, f"the values match the reference on all {len(self.cases)} cases")


class GradientsCheck(ValuesCheck):
    """Reverse-mode gradients with respect to some arguments, against the reference's."""

    kind = "gradients"
    weight = 2.0
    gating = "gated"
    needs = "a list of argument names"

    @classmethod
    def parse(cls, parameter: Any, site: CheckSite) -> tuple[str, ...]:
        if not isinstance(parameter, list) or not parameter:
            raise site.fail("expected a list of argument names", cls.kind)
        for arg in parameter:
            spec = site.args.get(arg)
            if spec is None:
                raise site.fail(f"no argument named {arg!r}", cls.kind)
            if isinstance(spec, CaseValue | FixedArray) or (
                isinstance(spec, RandomArray) and spec.dtype != "float32"
            ):
                raise site.fail(
                    f"cannot differentiate with respect to {arg!r}: it is not a float32 array",
                    cls.kind,
                )
        return tuple(parameter)

    @property
    def wrt(self) -> tuple[int, ...]:
        names = self.function.arg_names
        return tuple(names.index(name) for name in self.spec.parameter)

    def probes(self) -> dict[ProbeKey, Probe]:
        probes = {}
        for c in self.cases:
            seed = zlib.crc32(f"{self.module}.{self.function.name}/{c.label}/cotangent".encode())
            probes[ProbeKey("vjp", c.label)] = self._call("vjp", c, wrt=self.wrt, cotangent=seed)
        return probes

    def judge_outcomes(self, expected, actual):
        for i, inputs in enumerate(self.cases):
            key = ProbeKey("vjp", inputs.label)
            for position, e, a in zip(
                self.wrt, expected[key].value, actual[key].value, strict=True
            ):
                name = self.function.shown_arg(self.function.arg_names[position])
                path = f"the gradient with respect to {name}"
                verdict = self._compare(e, a, inputs, i, path)
                if verdict:
                    return verdict
        return Verdict(
            True,
            f"the gradients with respect to {', '.join(self.spec.parameter)} "
            f"match the reference on all {len(self.cases)} cases",
        )


OVERFLOW = (
    "Rewrite the formula so that nothing overflows or underflows: exp of a large number is "
    "inf, exp of a very negative one is 0, and log(0) is -inf."
)
GRADIENT_OVERFLOW = (
    "Some step of the formula overflows (inf) or divides inf by inf (nan) even where the "
    "value itself is finite."
)
SATURATION = (
    "Finite is not enough: where the ordinary cases pass, a formula that clips its inputs, "
    "or loses precision at these magnitudes in float32 (1 - p rounding to 0, exp "
    "overflowing), gives other values here."
)


class FiniteValuesCheck(Check):
    """On the extreme inputs of course.yml: outputs finite wherever the reference's are, and
    equal to its there, within the extreme block's tolerance (or the function's)."""

    kind = "finite_values"
    weight = 1.0
    hideable = False  # the extreme inputs are written out in course.yml

    @classmethod
    def parse(cls, parameter: Any, site: CheckSite) -> CheckParameter:
        return _needs_extreme(cls.kind, site, parameter)

    def probes(self) -> dict[ProbeKey, Probe]:
        return {ProbeKey("call", self.extreme.label): self._call("call", self.extreme)}

    def judge_outcomes(self, expected, actual):
        key = ProbeKey("call", self.extreme.label)
        theirs, mine = expected[key].value, actual[key].value
        failed = _on_extreme(self.function, self.extreme, theirs, mine, "output", OVERFLOW)
        return failed or Verdict(True, "the outputs stay finite and right on extreme inputs")


class FiniteGradientsCheck(GradientsCheck):
    """Gradients on the extreme inputs, judged as FiniteValuesCheck judges outputs."""

    kind = "finite_gradients"
    weight = 1.0
    hideable = False

    @classmethod
    def parse(cls, parameter: Any, site: CheckSite) -> tuple[str, ...]:
        return _needs_extreme(cls.kind, site, super().parse(parameter, site))

    def probes(self) -> dict[ProbeKey, Probe]:
        inputs = self.extreme
        return {
            ProbeKey("vjp", inputs.label): self._call("vjp", inputs, wrt=self.wrt, cotangent="ones")
        }

    def judge_outcomes(self, expected, actual):
        key = ProbeKey("vjp", self.extreme.label)
        theirs, mine = expected[key].value, actual[key].value
        for position, e, a in zip(self.wrt, theirs, mine, strict=True):
            name = self.function.shown_arg(self.function.arg_names[position])
            path = f"the gradient with respect to {name}"
            failed = _on_extreme(self.function, self.extreme, e, a, path, GRADIENT_OVERFLOW)
            if failed:
                return failed
        return Verdict(True, "the gradients stay finite and right on extreme inputs")


def _needs_extreme(kind: str, site: CheckSite, parameter: Any) -> Any:
    if site.extreme is None:
        raise site.fail(f"the check '{kind}' needs an `extreme` block of inputs")
    return parameter


def _on_extreme(
    function: FunctionSpec, inputs: Inputs, theirs: Any, mine: Any, path: str, overflow: str
) -> Verdict | None:
    """A failure where `mine` is not finite, or not the reference's, where `theirs` is
    finite; None where it is."""
    assert function.extreme is not None
    tolerance = function.extreme.tolerance or function.tolerance
    found = structure_mismatch(theirs, mine, path)
    if not found and (found := nonfinite(mine, path, expected=theirs)):
        found = f"{found}. {overflow}"
    if not found:
        found = value_mismatch(
            theirs, mine, tolerance, inputs.case, path, where_finite=True, otherwise=SATURATION
        )
    if not found:
        return None
    where = f"on extreme inputs ({_show_args(function, inputs)})"
    return Verdict(False, f"{where}: {name_outputs(found, function.outputs)}")


def _show_args(function: FunctionSpec, inputs: Inputs) -> str:
    """The extreme inputs as course.yml gives them: the sizes, the arguments it writes out
    ('x = [-1000, ..., 1000]', at most SHOWN_VALUES of them) and how the drawn ones are
    drawn ('log_B ~ normal(loc=-60, scale=5)')."""
    assert function.extreme is not None
    shown = [inputs.describe()] if inputs.case else []
    for name, spec in function.extreme.args.items():
        if isinstance(spec, RandomArray):
            params = ", ".join(f"{k}={v:g}" for k, v in spec.params.items())
            shown.append(f"{name} ~ {spec.dist}({params})")
            continue
        values = np.asarray(inputs.args[function.arg_names.index(name)]).ravel().tolist()
        more = ", ..." if len(values) > SHOWN_VALUES else ""
        shown.append(f"{name} = {values[:SHOWN_VALUES]}"[:-1] + f"{more}]")
    return "; ".join(shown)


KINDS = (ShapeCheck, ValuesCheck, GradientsCheck, FiniteValuesCheck, FiniteGradientsCheck)
