"""The checks: what each asks of a function, and how it judges the answer (see README.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.checks.base import Check
from grader.checks.outcomes import (
    DecreasingCheck,
    ObjectiveCheck,
    PermutationMatchCheck,
    PredicateCheck,
)
from grader.checks.programs import ConstantSizeCheck, ContainsCheck, JitCheck
from grader.checks.values import (
    FiniteGradientsCheck,
    FiniteValuesCheck,
    GradientsCheck,
    ShapeCheck,
    ValuesCheck,
)
from grader.course.inputs import FunctionInputs
from grader.course.specs import FunctionSpec

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
