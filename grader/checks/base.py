"""A check: its kind's one declaration, the probes it asks for, and how it judges.

A check names the probes it needs (by key) and judges the student's outcomes
against the reference's outcomes of the same probes. It never runs code
itself, so the same check works against a live or a recorded reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from grader.checks.compare import leaves, name_outputs, structure_mismatch, value_mismatch
from grader.checks.errors import describe_error, error_cause, quotes_the_submission, unsaid
from grader.course.inputs import FunctionInputs, Inputs, is_secret
from grader.course.specs import ArgSpec, CheckParameter, CheckSpec, ExtremeInputs, Gating
from grader.errors import ManifestError
from grader.results import Cause
from grader.runner.probes import Outcome, Probe, ProbeKey, ProbeKind


@dataclass(frozen=True)
class Verdict:
    """What a check decided.

    Attributes:
      passed: whether the answer earns the check's points (once the gate passes).
      message: the feedback: what was expected and why the answer falls short.
      cause: why the answer could not be judged (a stub, a crash, ...; grader.results),
        None where it was.
    """

    passed: bool
    message: str
    cause: Cause | None = None


class SchemaReader(Protocol):
    """What a check's `parse` may use of course.yml's reader (grader.course.schema)."""

    def fail(self, key: str, what: str) -> ManifestError: ...

    def mapping(
        self,
        value: Any,
        key: str,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] | None = None,
    ) -> dict[str, Any]: ...

    def number(
        self, value: Any, key: str, *, positive: bool = False, integer: bool = False
    ) -> float: ...

    def expression(self, value: Any, key: str) -> str: ...


@dataclass(frozen=True)
class CheckSite:
    """Where a check stands in course.yml, for its `parse`.

    Attributes:
      key: the check's key ('modules[0].functions[2].checks[1]'), for errors.
      args: the function's arguments.
      cases: the cases it runs on.
      extreme: the function's extreme inputs, if any.
      schema: the reader, for its errors and its readers of values.
    """

    key: str
    args: Mapping[str, ArgSpec]
    cases: tuple[Mapping[str, Any], ...]
    extreme: ExtremeInputs | None
    schema: SchemaReader

    def fail(self, what: str, kind: str | None = None) -> ManifestError:
        """An error at the check, or at its parameter (`kind`), saying `what`."""
        return self.schema.fail(f"{self.key}.{kind}" if kind else self.key, what)


class Check:
    """A named check of one function; subclasses define `judge_outcomes`, and `probes`
    where a call on each case is not what they judge.

    A kind of check is declared once, by its class's attributes (course.yml's validator,
    the registry in grader.checks, the checks' titles and their default weights all
    read them):

    Attributes:
      kind: its name in course.yml ('values', 'contains').
      weight: its weight where course.yml's `defaults.weights` does not set one.
      gating: 'gate' for what the function's other checks wait for (its values, or a
        fit's objective); 'free' for a check that earns its points whatever the values
        (the shape); 'gated' for one that earns points only once the gate passes.
      hideable: whether it may run among a function's hidden checks (those judged on
        the function's cases; not those of the extreme inputs or of a resized case).
      needs: what its parameter in course.yml is ('a size name'), for errors; None for a
        check that takes none.
    """

    kind: ClassVar[str]
    weight: ClassVar[float]
    gating: ClassVar[Gating] = "gated"
    hideable: ClassVar[bool] = True
    needs: ClassVar[str | None] = None

    @classmethod
    def parse(cls, parameter: Any, site: CheckSite) -> CheckParameter:
        """The parameter as course.yml gives it (None where it gives none, which the
        schema allows only where `needs` is None), checked and made what the check
        uses; `site.fail(...)` where it is wrong."""
        return parameter

    @classmethod
    def name(cls, parameter: CheckParameter) -> str:
        """The check's name in reports ('finite gradients', 'uses scan')."""
        return cls.kind.replace("_", " ")

    def __init__(self, spec: CheckSpec, inputs: FunctionInputs):
        self.spec = spec
        self.inputs = inputs
        self.function = inputs.function
        self.module = inputs.module

    @property
    def title(self) -> str:
        return self.spec.title

    def probes(self) -> dict[ProbeKey, Probe]:
        """The probes the check needs, by key: a call on each of its cases, unless the kind
        asks for others."""
        return {ProbeKey("call", c.label): self._call("call", c) for c in self.cases}

    def judge(
        self, expected: Mapping[ProbeKey, Outcome], actual: Mapping[ProbeKey, Outcome]
    ) -> Verdict:
        """Judges the outcomes; an exception in any of the student's probes fails the check."""
        for key in self.probes():
            error = actual[key].error
            if error is None:
                continue
            message = describe_error(error, self.function.limits)
            if is_secret(key.label) and quotes_the_submission(error):
                # What an exception says, and where, may quote the inputs (raise
                # ValueError(repr(x)); a traced function can still find the concrete ones
                # up the stack): on a case kept from students only its kind is told, as
                # for a value. The ordinary cases, which run the same way, tell it whole.
                where = next(
                    (self._where(c, i) for i, c in enumerate(self.cases) if c.label == key.label),
                    "a case kept from students",  # a size of its own (constant_size)
                )
                told = describe_error(unsaid(error, self.function.name), self.function.limits)
                message = (
                    f"{where}: {told} (what was given, and what the error says, is not shown "
                    "for cases kept from students)"
                )
            return Verdict(False, message, error_cause(error))
        return self.judge_outcomes(expected, actual)

    def judge_outcomes(
        self, expected: Mapping[ProbeKey, Outcome], actual: Mapping[ProbeKey, Outcome]
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

    def _call(self, kind: ProbeKind, inputs: Inputs, **options: object) -> Probe:
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
