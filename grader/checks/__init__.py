"""The checks: what each asks of a function, and how it judges the answer (see README.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grader.checks import outcomes, programs, values
from grader.checks.base import Check
from grader.course.inputs import FunctionInputs
from grader.course.specs import FunctionSpec

# Every kind of check, by its name in course.yml, in the order reports and errors list
# them: each family's module declares its kinds (see README.md, "Adding a check kind").
CHECKS: dict[str, type[Check]] = {
    check.kind: check for check in (*values.KINDS, *programs.KINDS, *outcomes.KINDS)
}
HIDEABLE = tuple(kind for kind, check in CHECKS.items() if check.hideable)


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
