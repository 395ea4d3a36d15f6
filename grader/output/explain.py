"""`difflearn grade --explain MODULE.FUNCTION`: the first failure of a function, shown whole.

The report says in a sentence what was expected and what came; a student debugging wants
the arrays. For the function's first failing check, this shows the first visible case
on which its outcome differs from the reference's: the inputs, the expected and the
received outputs (each array cut to a few entries per axis), and the check's feedback.
Never for a hidden check or a case drawn from the hidden seed: those stay unseen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from grader.checks.compare import leaves, name_outputs, structure_mismatch, value_mismatch
from grader.course.inputs import is_secret
from grader.runner.probes import Outcome, ProbeKey

if TYPE_CHECKING:
    from grader.engine import Observation

EDGE_ITEMS = 3  # entries shown at each end of an axis
MAX_CHARS = 600  # of one array's text


def explain(observation: Observation) -> str:
    """The explanation of the function's first failing visible check, or why there is none."""
    function = observation.function
    for check, verdict in zip(observation.checks, observation.verdicts, strict=True):
        if verdict.passed or check.spec.hidden:
            continue
        keys = [k for k in check.probes() if not is_secret(k.label)]
        if not keys:
            continue
        key = next((k for k in keys if _differs(observation, k)), keys[0])
        probe = observation.probes[key]
        lines = [f"{function.name}: '{check.title}' fails: {verdict.message}", "", "inputs:"]
        for name, value in zip(function.arg_names, probe.args, strict=True):
            lines.append(f"  {name} = {_show(value)}")
        lines += ["", "expected (the reference):"]
        lines += _outcome(observation.expected[key], function.outputs)
        lines += ["", "received (your function):"]
        lines += _outcome(observation.actual[key], function.outputs)
        return "\n".join(lines)
    pairs = zip(observation.checks, observation.verdicts, strict=True)
    failed = [c.title for c, v in pairs if not v.passed]
    if all(v.passed for v in observation.verdicts):
        return f"{function.name}: every check passes; nothing to explain"
    return (
        f"{function.name}: what fails ({', '.join(failed)}) fails only on cases kept from "
        "students, which are not shown"
    )


def _differs(observation: Observation, key: ProbeKey) -> bool:
    mine, theirs = observation.actual[key], observation.expected[key]
    if not mine.ok:
        return True
    a, e = _values(mine.value), _values(theirs.value)
    tolerance = observation.function.tolerance
    return bool(structure_mismatch(e, a) or value_mismatch(e, a, tolerance, {}, where_finite=True))


def _values(value: Any) -> Any:
    """The values of an outcome: a compiled program's (grader.runner.programs), or the value."""
    return value["values"] if isinstance(value, dict) and "values" in value else value


def _outcome(outcome: Outcome, names: tuple[str, ...]) -> list[str]:
    if outcome.error is not None:
        return [f"  raised {outcome.error.summary}"]
    return [
        f"  {name_outputs(path, names)} = {_show(leaf)}"
        for path, leaf in leaves(_values(outcome.value))
    ]


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray | np.generic):
        text = np.array2string(
            np.asarray(value), threshold=2 * EDGE_ITEMS + 1, edgeitems=EDGE_ITEMS, precision=6
        )
        text = f"{text}  ({value.dtype}, shape {tuple(np.shape(value))})"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k!r}: {_show(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, tuple | list):
        text = "(" + ", ".join(_show(v) for v in value) + ")"
    else:
        text = repr(value)
    text = " ".join(text.split())  # one line per value
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 4] + " ..."
