"""The checks: what each asks of a function, and how it judges the answer.

A check names the probes it needs (by key) and judges the student's outcomes
against the reference's outcomes of the same probes. It never runs code
itself, so the same check works against a live or a recorded reference.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.compare import (
    format_number,
    leaves,
    name_outputs,
    nonfinite,
    structure_mismatch,
    value_mismatch,
)
from grader.inputs import FunctionInputs, Inputs
from grader.manifest import CheckSpec, FunctionSpec, Limits, RandomArray
from grader.probes import ErrorInfo, Outcome, Probe
from grader.programs import PRIMITIVE_OPS
from grader.results import Cause

NOT_IMPLEMENTED = "not implemented yet"
SHOWN_VALUES = 12  # of an extreme input written out in course.yml, in feedback
# What each of JAX's tracer errors means the code did, and what to do instead; the
# first that the error is an instance of applies (the last is their common base).
TRACER_ERRORS = {
    "TracerBoolConversionError": (
        "a Python `if`, `while`, `and`, `or` or bool() on a traced value: a tracer stands "
        "for every possible value. Choose between results with jnp.where(condition, a, b) "
        "or jax.lax.cond"
    ),
    "TracerIntegerConversionError": (
        "int(), range() or an index taken from a traced value (a loop count, a position): "
        "pass a count as a static argument (`static_argnums`), loop with jax.lax.fori_loop "
        "or jax.lax.scan, and index with jax.lax.dynamic_slice"
    ),
    "TracerArrayConversionError": (
        "NumPy (np.asarray, np.exp, ...) on a traced value: NumPy needs concrete numbers. "
        "Compute with jax.numpy"
    ),
    "ConcretizationTypeError": (
        "the concrete value of a traced array, as a Python `if`, float(), a shape taken "
        "from values or NumPy on it does: compute with jax.numpy, and choose with jnp.where"
    ),
}


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str
    cause: Cause | None = None  # a failure the check could not judge (grader.results)


def error_cause(error: ErrorInfo) -> Cause | None:
    """What an exception from the student's code says of the answer: a stub's is no answer
    yet; any other is the answer's own failure, judged like a wrong value."""
    return "not_implemented" if error.is_a("NotImplementedError") else None


def describe_error(error: ErrorInfo, limits: Limits) -> str:
    """Feedback for an exception raised by the student's code."""
    if error.is_a("MissingFunction"):
        return f"not defined: {error.message}"
    if error.is_a("RefusedProgram"):
        return f"the program that jax.jit compiles was not run: {error.message}"
    if error.is_a("ProgramFailed"):
        return f"the program that jax.jit compiles failed when the grader ran it: {error.message}"
    if error_cause(error) == "not_implemented":
        return NOT_IMPLEMENTED
    where = error.where
    cause = next((why for name, why in TRACER_ERRORS.items() if error.is_a(name)), None)
    if cause is not None:
        return (
            f"fails when traced (as jax.jit and jax.grad do) with {error.type_name}{where}: "
            f"the code uses {cause}."
        )
    if error.is_a("ValueError") and "truth value of an array" in error.message:
        return (
            f"uses an array as a Python truth value{where} (a Python `if`, `and`, `or` or "
            "`max` on an array): the truth of a whole array is ambiguous, and under jax.jit "
            "there is no value to test at all. Choose elementwise with "
            "jnp.where(condition, a, b), or use jnp.maximum / jnp.minimum."
        )
    if error.is_a("MemoryError") or "RESOURCE_EXHAUSTED" in error.message:
        return f"ran out of memory (the limit is {limits.memory_mb} MB): {error.summary}"
    if "File too large" in error.message:
        return (
            f"printed more than the output limit allows{where}; "
            "print less, or nothing, inside the function"
        )
    if error.is_a("SystemExit"):
        return f"called sys.exit(){where}; a function must return its result"
    return f"raised {error.summary}"


class Check:
    """A named check of one function; subclasses define `probes` and `judge_outcomes`."""

    def __init__(self, spec: CheckSpec, inputs: FunctionInputs):
        self.spec = spec
        self.inputs = inputs
        self.function = inputs.function
        self.module = inputs.module

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
                return Verdict(
                    False, describe_error(error, self.function.limits), error_cause(error)
                )
        return self.judge_outcomes(expected, actual)

    def judge_outcomes(
        self, expected: Mapping[str, Outcome], actual: Mapping[str, Outcome]
    ) -> Verdict:
        raise NotImplementedError

    @property
    def cases(self) -> list[Inputs]:
        """The inputs the check runs on: the hidden cases of a hidden check; otherwise the
        cases, then the unseen ones where the grader has the reference (see inputs)."""
        if self.spec.hidden:
            return self.inputs.hidden_cases
        return self.inputs.cases + self.inputs.unseen_cases

    @property
    def extreme(self) -> Inputs:
        return self.inputs.extreme

    def _call(self, kind: str, inputs: Inputs, **options: object) -> Probe:
        """A probe on `inputs`. Where the function must run under jit anyway, its calls
        and gradients on the cases run compiled (when it traces). Elsewhere they run op
        by op: on the extreme inputs (a long sequence, say) and for a function that may
        be a Python loop (a fit), so such a loop costs its steps and not a compilation
        of every step."""
        compiled = kind in ("call", "vjp") and inputs.label != "extreme" and self.function.must_jit
        return Probe(
            kind=kind,
            args=inputs.args,
            static=self.function.static_argnums,
            compiled=compiled,
            **options,  # type: ignore[arg-type]
        )

    def _where(self, inputs: Inputs, index: int | None = None) -> str:
        if index is None:
            return f"on the inputs ({inputs.describe()})"
        if inputs.unseen:
            return f"an unseen case ({inputs.describe()})"
        shown = [c for c in self.cases if not c.unseen]
        hidden = "hidden " if self.spec.hidden else ""
        return f"{hidden}case {index + 1} of {len(shown)} ({inputs.describe()})"

    def _failed(self, inputs: Inputs, index: int | None, detail: str) -> Verdict:
        """A failure on `inputs`. On a hidden or unseen case it names the check and the
        sizes only: inputs, expected or received values would let an answer be
        hard-coded."""
        if inputs.secret:
            return Verdict(
                False,
                f"{self._where(inputs, index)}: '{self.title}' fails there (what was given, "
                "expected and received is not shown for cases kept from students)",
            )
        detail = name_outputs(detail, self.function.outputs)
        return Verdict(False, f"{self._where(inputs, index)}: {detail}")

    def _compare(
        self, expected, actual, inputs: Inputs, index: int | None, path: str, lead: str = ""
    ) -> Verdict | None:
        """A failure where `actual` differs from `expected` in structure or beyond the
        tolerance (`lead` goes before what differs); None where it does not."""
        given = {
            name: leaf
            for arg, argument in zip(self.function.arg_names, inputs.args, strict=False)
            for name, leaf in leaves(argument, arg)
        }
        mismatch = structure_mismatch(expected, actual, path) or value_mismatch(
            expected, actual, self.function.tolerance, inputs.case, path, given=given
        )
        return self._failed(inputs, index, f"{lead}{mismatch}") if mismatch else None


class ShapeCheck(Check):
    """The tree structure, shape and dtype of every output leaf, on every case."""

    def probes(self) -> dict[str, Probe]:
        return {f"call/{c.label}": self._call("call", c) for c in self.cases}

    def judge_outcomes(self, expected, actual):
        for i, inputs in enumerate(self.cases):
            key = f"call/{inputs.label}"
            mismatch = structure_mismatch(expected[key].value, actual[key].value)
            if mismatch:
                return self._failed(inputs, i, mismatch)
        return Verdict(True, "every output has the expected structure, shape and dtype")


class ValuesCheck(Check):
    """The outputs against the reference's, within the tolerance, on every case."""

    def probes(self) -> dict[str, Probe]:
        return {f"call/{c.label}": self._call("call", c) for c in self.cases}

    def judge_outcomes(self, expected, actual):
        for i, inputs in enumerate(self.cases):
            key = f"call/{inputs.label}"
            verdict = self._compare(expected[key].value, actual[key].value, inputs, i, "output")
            if verdict:
                return verdict
        return Verdict(True, f"the values match the reference on all {len(self.cases)} cases")


class GradientsCheck(ValuesCheck):
    """Reverse-mode gradients with respect to some arguments, against the reference's."""

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

    def probes(self) -> dict[str, Probe]:
        return {"call/extreme": self._call("call", self.extreme)}

    def judge_outcomes(self, expected, actual):
        theirs, mine = expected["call/extreme"].value, actual["call/extreme"].value
        failed = _on_extreme(self.function, self.extreme, theirs, mine, "output", OVERFLOW)
        return failed or Verdict(True, "the outputs stay finite and right on extreme inputs")


class FiniteGradientsCheck(GradientsCheck):
    """Gradients on the extreme inputs, judged as FiniteValuesCheck judges outputs."""

    def probes(self) -> dict[str, Probe]:
        inputs = self.extreme
        return {"vjp/extreme": self._call("vjp", inputs, wrt=self.wrt, cotangent="ones")}

    def judge_outcomes(self, expected, actual):
        theirs, mine = expected["vjp/extreme"].value, actual["vjp/extreme"].value
        for position, e, a in zip(self.wrt, theirs, mine, strict=True):
            name = self.function.shown_arg(self.function.arg_names[position])
            path = f"the gradient with respect to {name}"
            failed = _on_extreme(self.function, self.extreme, e, a, path, GRADIENT_OVERFLOW)
            if failed:
                return failed
        return Verdict(True, "the gradients stay finite and right on extreme inputs")


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


class ProgramCheck(Check):
    """A check of the function's compiled program (grader.programs): the submission's
    process exports it with `jax.export`, and the grader's verifier runs it and reads it.
    Its facts count only once its values are the reference's, on a case drawn from the
    hidden seed where the grader has one: a stand-in program cannot give them."""

    @property
    def primary(self) -> Inputs:
        """The case a program is judged on: the first one kept from students, if any."""
        return next((c for c in self.cases if c.secret), self.cases[0])

    def probes(self) -> dict[str, Probe]:
        return dict([self._export(self.primary)])

    def _export(self, inputs: Inputs) -> tuple[str, Probe]:
        return f"export/{inputs.label}", self._call("export", inputs)

    def _program(self, expected, actual, inputs: Inputs) -> tuple[dict[str, Any], Verdict | None]:
        """The program's facts on `inputs`, and a failure unless its values match."""
        key = f"export/{inputs.label}"
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

    def judge_outcomes(self, expected, actual):
        _, failed = self._program(expected, actual, self.primary)
        return failed or Verdict(True, "the program that jax.jit compiles gives the right values")


class ContainsCheck(ProgramCheck):
    """An operation such as a loop (`contains: scan`) in the compiled program."""

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

    @property
    def sizes(self) -> tuple[Inputs, Inputs]:
        return self.inputs.resized(self.spec.parameter)

    def probes(self) -> dict[str, Probe]:
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


class OutcomeCheck(Check):
    """A property of the outputs, such as a fit's final loss, judged through a lambda of
    course.yml, `of(outputs, *args)`, run here with the reference module's names, and only
    on outputs with the structure, shapes and dtypes of the reference's."""

    def probes(self) -> dict[str, Probe]:
        return {f"call/{c.label}": self._call("call", c) for c in self.cases}

    def judge_outcomes(self, expected, actual):
        # The lambdas run here, in the grading process, over what an untrusted process sent.
        # Only outputs of the reference's structure, shapes and dtypes reach them, on every
        # case before any lambda runs: so they cost what the reference's outputs cost (not
        # a million tiny arrays' worth), never see a wire Opaque or a string, and cannot
        # pass an output of the wrong shape that happens to have the property.
        for i, inputs in enumerate(self.cases):
            key = f"call/{inputs.label}"
            mismatch = structure_mismatch(expected[key].value, actual[key].value)
            if mismatch:
                return self._failed(
                    inputs,
                    i,
                    f"{mismatch} (only outputs with the structure, shapes and dtypes of the "
                    f"reference's are judged for '{self.spec.parameter.title}')",
                )
        of = eval(self.spec.parameter.of, dict(self.inputs.namespace))
        for i, inputs in enumerate(self.cases):
            key = f"call/{inputs.label}"
            try:
                mine = np.asarray(of(actual[key].value, *inputs.args))
            except Exception as error:
                return self._failed(
                    inputs,
                    i,
                    "the outputs cannot be used as the exercise asks "
                    f"({type(error).__name__}: {error})",
                )
            theirs = np.asarray(of(expected[key].value, *inputs.args))
            if inputs.secret and self.compare(theirs, theirs) is not None:
                # A fresh draw on which the reference itself misses an absolute target
                # (a fit's means on unlucky data) says nothing about the submission.
                continue
            verdict = self.compare(mine, theirs)
            if verdict is not None:
                why = self.diagnose(actual[key].value, expected[key].value, inputs)
                return self._failed(inputs, i, f"{verdict}{why}")
        return Verdict(True, self.success)

    success = "as expected"

    def compare(self, mine: np.ndarray, theirs: np.ndarray) -> str | None:
        raise NotImplementedError

    def diagnose(self, mine: Any, theirs: Any, inputs: Inputs) -> str:
        """More on a failure, from the whole outputs (mine, the reference's): ': why'."""
        return ""


class ObjectiveCheck(OutcomeCheck):
    """An objective (a fit's final loss) no worse than the reference's, within a margin."""

    success = "the final objective is as good as the reference's"

    def compare(self, mine, theirs):
        margin = self.spec.parameter.margin
        bound = float(theirs) + margin * abs(float(theirs)) + self.function.tolerance.atol
        if np.isfinite(mine) and float(mine) <= bound:
            return None
        return (
            f"the objective reaches {format_number(mine)}, the reference's fit "
            f"{format_number(theirs)} from the same start, in as many steps at the given "
            f"learning rate (at most {format_number(bound)} passes)"
        )

    def diagnose(self, mine, theirs, inputs):
        """Where the function's `decreasing` check names the losses: how the fit went wrong,
        told apart by the losses' course (a step uphill, a stall, a worse optimum)."""
        of = next((c.parameter.of for c in self.function.checks if c.kind == "decreasing"), None)
        if of is None:
            return ": does every step move the parameters downhill?"
        losses = eval(of, dict(self.inputs.namespace))
        try:
            mine_l = np.asarray(losses(mine, *inputs.args), dtype=float)
            theirs_l = np.asarray(losses(theirs, *inputs.args), dtype=float)
        except Exception:  # outputs the lambda cannot read: the objective said enough
            return ""
        if mine_l.ndim != 1 or mine_l.size < 2 or not np.all(np.isfinite(mine_l)):
            return ""
        drop, reference_drop = mine_l[0] - mine_l[-1], theirs_l[0] - theirs_l[-1]
        # Adam's losses wiggle: a rise counts when it undoes a hundredth of the reference's
        # whole descent.
        rises = np.flatnonzero(np.diff(mine_l) > 0.01 * abs(reference_drop))
        if rises.size:
            t = int(rises[0])
            return (
                f": the losses rise at step {t + 1} ({format_number(mine_l[t])} to "
                f"{format_number(mine_l[t + 1])}), a step that goes uphill (the gradient's "
                "sign, or a step too long for this learning rate?)"
            )
        if drop < 0.25 * reference_drop:
            return (
                f": the fit stalls, its losses fall by {format_number(drop)} where the "
                f"reference's fall by {format_number(reference_drop)}: steps too small, or "
                "updates that never reach the parameters the next step uses?"
            )
        return (
            ": the losses fall and settle above the reference's, a worse optimum from the "
            "same start (another optimiser than the one the docstring asks for?)"
        )


class DecreasingCheck(OutcomeCheck):
    """A sequence (the losses of a fit) that starts where the reference's does and falls."""

    success = "the losses start at the reference's and fall"

    def compare(self, mine, theirs):
        if mine.shape != theirs.shape or mine.ndim != 1 or mine.size < 2:
            return (
                f"expected a sequence of shape {tuple(theirs.shape)}, got shape {tuple(mine.shape)}"
            )
        tolerance = self.function.tolerance
        if not np.isclose(mine[0], theirs[0], rtol=tolerance.rtol, atol=tolerance.atol):
            return (
                f"the first entry is {format_number(mine[0])}, expected "
                f"{format_number(theirs[0])}: it should be the objective before any update"
            )
        if not np.all(np.isfinite(mine)) or not mine[-1] < mine[0]:
            return (
                f"the losses do not fall: first {format_number(mine[0])}, last "
                f"{format_number(mine[-1])} (the reference's fall to {format_number(theirs[-1])})"
            )
        return None


class PermutationMatchCheck(OutcomeCheck):
    """Rows (a fit's means) that match a target up to an order of the rows (a relabelling)."""

    success = "the rows match the target up to a relabelling"

    def compare(self, mine, theirs):
        target = self.spec.parameter.target
        if mine.shape != target.shape:
            return f"expected shape {tuple(target.shape)}, got {tuple(mine.shape)}"
        best, order = min(
            (float(np.max(np.abs(mine[list(p)] - target))), p)
            for p in itertools.permutations(range(target.shape[0]))
        )
        if best <= self.spec.parameter.atol:
            return None
        return (
            f"the rows are {np.round(mine, 3).tolist()}; in their best order {list(order)} "
            f"they are up to {best:.3g} away from the target "
            f"{np.round(target, 3).tolist()} (at most {self.spec.parameter.atol:g} passes)"
        )


class PredicateCheck(OutcomeCheck):
    """A property of the outputs (say, symmetric positive definite) that must hold."""

    @property
    def success(self) -> str:
        return f"{self.spec.parameter.title} on every case"

    def compare(self, mine, theirs):
        if bool(np.all(mine)):
            return None
        return f"the outputs are not {self.spec.parameter.title}"


CHECKS: dict[str, type[Check]] = {
    "shape": ShapeCheck,
    "values": ValuesCheck,
    "gradients": GradientsCheck,
    "finite_values": FiniteValuesCheck,
    "finite_gradients": FiniteGradientsCheck,
    "jit": JitCheck,
    "contains": ContainsCheck,
    "constant_size": ConstantSizeCheck,
    "objective": ObjectiveCheck,
    "decreasing": DecreasingCheck,
    "permutation_match": PermutationMatchCheck,
    "predicate": PredicateCheck,
}


def make_checks(
    function: FunctionSpec,
    module: str,
    namespace: Mapping[str, Any],
    recorded: Mapping[str, tuple[Any, ...]] | None = None,
    unseen: bool = True,
) -> list[Check]:
    """The checks of one function, sharing one set of inputs (`recorded` ones, if given;
    with the unseen cases unless `unseen` is False, as for a release's recording)."""
    inputs = FunctionInputs(function, module, namespace, recorded, unseen)
    return [CHECKS[spec.kind](spec, inputs) for spec in function.checks]


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
