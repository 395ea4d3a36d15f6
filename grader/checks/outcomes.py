"""Checks of outcomes: properties of the outputs, such as a fit's final loss."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np

from grader.checks.base import Check, CheckSite, Verdict
from grader.checks.compare import format_number, structure_mismatch
from grader.course.inputs import Inputs
from grader.course.namespace import as_namespace
from grader.course.specs import CheckParameter, OutcomeSpec
from grader.runner.probes import ProbeKey


class OutcomeCheck(Check):
    """A property of the outputs, such as a fit's final loss, judged through a lambda of
    course.yml, `of(outputs, *args)`, run here with the reference module's names, and only
    on outputs with the structure, shapes and dtypes of the reference's.

    Its parameter is a mapping with `of`, the kind's `fields` and an optional `title`."""

    fields: ClassVar[tuple[str, ...]] = ()  # the settings besides `of` that course.yml gives

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # What course.yml's errors say the parameter is, from the kind's fields.
        super().__init_subclass__(**kwargs)
        names = [f"`{f}`" for f in ("of", *cls.fields)]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        cls.needs = f"a mapping with {listed}"

    @classmethod
    def parse(cls, parameter: Any, site: CheckSite) -> OutcomeSpec:
        key = f"{site.key}.{cls.kind}"
        schema = site.schema
        value = schema.mapping(parameter, key, required=("of", *cls.fields), optional=("title",))
        title = value.get("title", cls.kind.replace("_", " "))
        if not isinstance(title, str) or not title:
            raise schema.fail(f"{key}.title", "expected a non-empty string")
        target = value.get("target")
        if target is not None:
            try:
                target = np.asarray(target, dtype=np.float32)
            except (TypeError, ValueError):
                raise schema.fail(f"{key}.target", "expected an array of numbers") from None
        return OutcomeSpec(
            title=title,
            of=schema.expression(value["of"], f"{key}.of"),
            margin=float(schema.number(value.get("margin", 0.0), f"{key}.margin")),
            target=target,
            atol=float(schema.number(value.get("atol", 0.0), f"{key}.atol")),
        )

    @classmethod
    def name(cls, parameter: CheckParameter) -> str:
        assert isinstance(parameter, OutcomeSpec)
        return parameter.title

    def judge_outcomes(self, expected, actual):
        # The lambdas run here, in the grading process, over what an untrusted process sent.
        # Only outputs of the reference's structure, shapes and dtypes reach them, on every
        # case before any lambda runs: so they cost what the reference's outputs cost (not
        # a million tiny arrays' worth), never see a wire Opaque or a string, and cannot
        # pass an output of the wrong shape that happens to have the property.
        for i, inputs in enumerate(self.cases):
            key = ProbeKey("call", inputs.label)
            mismatch = structure_mismatch(expected[key].value, actual[key].value)
            if mismatch:
                return self._failed(
                    inputs,
                    i,
                    f"{mismatch} (only outputs with the structure, shapes and dtypes of the "
                    f"reference's are judged for '{self.spec.parameter.title}')",
                )
        of = as_namespace(self.inputs.namespace).function(self.spec.parameter.of)
        for i, inputs in enumerate(self.cases):
            key = ProbeKey("call", inputs.label)
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

    kind = "objective"
    weight = 4.0
    gating = "gate"
    fields = ("margin",)

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
        losses = as_namespace(self.inputs.namespace).function(of)
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

    kind = "decreasing"
    weight = 1.0
    fields = ()

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

    kind = "permutation_match"
    weight = 3.0
    fields = ("target", "atol")

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

    kind = "predicate"
    weight = 2.0
    fields = ("title",)

    @property
    def success(self) -> str:
        return f"{self.spec.parameter.title} on every case"

    def compare(self, mine, theirs):
        if bool(np.all(mine)):
            return None
        return f"the outputs are not {self.spec.parameter.title}"


KINDS = (ObjectiveCheck, DecreasingCheck, PermutationMatchCheck, PredicateCheck)
