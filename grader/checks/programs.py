"""Checks of the program jax.jit compiles from a function."""

from __future__ import annotations

from typing import Any

from grader.checks.base import Check, CheckSite, Verdict
from grader.course.inputs import Inputs
from grader.course.specs import CheckParameter
from grader.runner.probes import Probe, ProbeKey
from grader.runner.programs import PRIMITIVE_OPS


class ProgramCheck(Check):
    """A check of the function's compiled program (grader.runner.programs): the submission's
    process exports it with `jax.export`, and the grader's verifier runs it and reads it.
    Its facts count only once its values are the reference's, on a case drawn from the
    hidden seed where the grader has one: a stand-in program cannot give them."""

    @property
    def primary(self) -> Inputs:
        """The case a program is judged on: the first one kept from students, if any."""
        return next((c for c in self.cases if c.secret), self.cases[0])

    def probes(self) -> dict[ProbeKey, Probe]:
        return dict([self._export(self.primary)])

    def _export(self, inputs: Inputs) -> tuple[ProbeKey, Probe]:
        return ProbeKey("export", inputs.label), self._call("export", inputs)

    def _program(self, expected, actual, inputs: Inputs) -> tuple[dict[str, Any], Verdict | None]:
        """The program's facts on `inputs`, and a failure unless its values match."""
        key = ProbeKey("export", inputs.label)
        program = actual[key].value
        index = next((i for i, c in enumerate(self.cases) if c.label == inputs.label), None)
        lead = "the program that jax.jit compiles gives other values: "
        failed = self._compare(
            expected[key].value["values"], program["values"], inputs, index, "output", lead
        )
        return program, failed


class JitCheck(ProgramCheck):
    """The function traces under `jax.jit`, and its compiled program, run by the grader,
    gives the reference's values."""

    kind = "jit"
    weight = 1.0

    def judge_outcomes(self, expected, actual):
        _, failed = self._program(expected, actual, self.primary)
        return failed or Verdict(True, "the program that jax.jit compiles gives the right values")


class ContainsCheck(ProgramCheck):
    """An operation such as a loop (`contains: scan`) in the compiled program."""

    kind = "contains"
    weight = 2.0
    hideable = False  # judged on one program, the unseen case's where there is one
    needs = f"a loop or branch ({', '.join(PRIMITIVE_OPS)})"

    @classmethod
    def parse(cls, parameter: Any, site: CheckSite) -> str:
        if parameter not in PRIMITIVE_OPS:
            raise site.fail(
                f"expected one of {', '.join(PRIMITIVE_OPS)}, got {parameter!r}", cls.kind
            )
        return parameter

    @classmethod
    def name(cls, parameter: CheckParameter) -> str:
        return f"uses {parameter}"

    def judge_outcomes(self, expected, actual):
        program, failed = self._program(expected, actual, self.primary)
        if failed:
            return failed
        primitive = self.spec.parameter
        what, wanted = PRIMITIVE_OPS[primitive]
        if any(op in program["ops"] for op in wanted):
            return Verdict(True, f"the compiled program has the {what} jax.lax.{primitive} makes")
        return Verdict(
            False,
            f"the compiled program has no {what} ({' or '.join(wanted)}): jax.lax.{primitive} "
            f"compiles to one (unless unroll=True copies every step), and the exercise asks "
            f"for jax.lax.{primitive}",
        )


class ConstantSizeCheck(ProgramCheck):
    """A compiled program of the same size at two values of a size such as N or T."""

    kind = "constant_size"
    weight = 2.0
    hideable = False  # judged at sizes of its own
    needs = "a size name"

    @classmethod
    def parse(cls, parameter: Any, site: CheckSite) -> str:
        if not (isinstance(parameter, str) and parameter.isidentifier()):
            raise site.fail(f"expected a name, got {parameter!r}", cls.kind)
        if not all(parameter in case for case in site.cases):
            raise site.fail(f"the size {parameter!r} is not set by every case", cls.kind)
        return parameter

    @classmethod
    def name(cls, parameter: CheckParameter) -> str:
        return f"does not grow with {parameter}"

    @property
    def sizes(self) -> tuple[Inputs, Inputs]:
        return self.inputs.resized(self.spec.parameter)

    def probes(self) -> dict[ProbeKey, Probe]:
        return dict(self._export(i) for i in self.sizes)

    def judge_outcomes(self, expected, actual):
        dim = self.spec.parameter
        small, large = self.sizes
        counts = []
        for inputs in self.sizes:
            program, failed = self._program(expected, actual, inputs)
            if failed:
                return failed
            counts.append(int(program["size"]))
        at = f"{dim}={small.case[dim]}", f"{dim}={large.case[dim]}"
        if counts[0] == counts[1]:
            return Verdict(
                True, f"the compiled program has {counts[0]} operations at {at[0]} and at {at[1]}"
            )
        return Verdict(
            False,
            f"the compiled program grows with {dim}: {counts[0]} operations at {at[0]}, "
            f"{counts[1]} at {at[1]}. Something is repeated for each step: a Python loop "
            "unrolls into one copy per step (jax.lax.associative_scan into one level per "
            "doubling); jax.vmap and jax.lax.scan compile the body once.",
        )


KINDS = (JitCheck, ContainsCheck, ConstantSizeCheck)
