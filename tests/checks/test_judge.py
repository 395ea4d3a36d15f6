"""Every check's judge(), one table: the reference's outcomes made by hand for the probes a
real check asks for, the student's made from them (scaled, transposed, raising, ...), and
the verdict each row expects, with a fragment of its message (the hint, where there is one).

No JAX work and no child process: the specs come from a small course.yml of the test's
own, the outcomes are NumPy arrays shaped as the probes' arguments imply, and a program
(what the verifier says of an export probe, grader.runner.programs.facts) is its dict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from grader.checks import CHECKS, make_checks
from grader.checks.base import Check
from grader.checks.compare import leaves
from grader.checks.errors import NOT_IMPLEMENTED
from grader.checks.programs import ProgramCheck
from grader.course.schema import load_course
from grader.course.specs import Course
from grader.results import Cause
from grader.runner.probes import ErrorInfo, Outcome, Probe

TARGET = [[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]]  # a fit's true means

# `f` returns exp(x), so that the extreme inputs overflow where the reference's own
# output does (at x = 1000) and where a careless formula's would (at x = 50, say). `fit`
# is a fit judged on its outcomes: its means and its losses.
MANIFEST = {
    "title": "judge",
    "seed": 1,
    "hidden_seed": 2,  # for the unseen cases, kept from students like the hidden ones
    "modules": [
        {
            "name": "m",
            "functions": [
                {
                    "name": "f",
                    "points": 10,
                    "args": {"x": {"shape": ["N", "M"], "dist": "normal"}},
                    "cases": [{"N": 3, "M": 4}, {"N": 4, "M": 4}],
                    "extreme": {
                        "case": {"N": 2, "M": 4},
                        "args": {"x": {"values": [[-1000.0, -1.0, 0.0, 1.0], [2, 10, 50, 1000]]}},
                    },
                    "checks": [
                        "shape",
                        "values",
                        {"gradients": ["x"]},
                        "finite_values",
                        {"finite_gradients": ["x"]},
                        "jit",
                        {"contains": "scan"},
                        {"constant_size": "N"},
                    ],
                    "hidden": {"cases": [{"N": 5, "M": 2}], "checks": ["values"]},
                },
                {
                    "name": "fit",
                    "points": 10,
                    "outputs": ["means", "losses"],
                    "args": {
                        "means0": {"shape": ["K", "D"], "dist": "normal"},
                        "num_steps": {"case": "num_steps", "static": True},
                    },
                    "cases": [{"K": 3, "D": 2, "num_steps": 5}, {"K": 3, "D": 2, "num_steps": 8}],
                    "checks": [
                        {
                            "objective": {
                                "title": "final loss",
                                "of": "lambda outputs, *args: outputs[1][-1]",
                                "margin": 0.01,
                            }
                        },
                        {
                            "decreasing": {
                                "title": "losses fall",
                                "of": "lambda outputs, *args: outputs[1]",
                            }
                        },
                        {
                            "permutation_match": {
                                "title": "means up to relabelling",
                                "of": "lambda outputs, *args: outputs[0]",
                                "target": TARGET,
                                "atol": 0.3,
                            }
                        },
                        {
                            "predicate": {
                                "title": "positive losses",
                                "of": "lambda outputs, *args: outputs[1] > 0",
                            }
                        },
                    ],
                },
            ],
        }
    ],
}


def exp(x: np.ndarray) -> np.ndarray:
    """f's reference: inf at x = 1000, as it should be (NumPy's warning is expected)."""
    with np.errstate(over="ignore"):
        return np.exp(x)


def fit(means0: np.ndarray, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A fit that finds the true means, its losses falling from 3 to 1."""
    return np.array(TARGET, np.float32), np.linspace(3.0, 1.0, num_steps, dtype=np.float32)


REFERENCES: dict[str, Callable[..., Any]] = {"f": exp, "fit": fit}
# The reference's program, as the verifier describes it: a scan (a while loop) of
# exponentials, of 4 operations at every size.
REFERENCE_OPS = ["stablehlo.exponential", "stablehlo.while"]
REFERENCE_SIZE = 4


def reference_outcome(function: str, probe: Probe) -> Outcome:
    """The reference's outcome of `probe`, as the runner or the verifier gives it: the
    output, the gradients (shaped like the output, here) or the program's facts."""
    value = REFERENCES[function](*probe.args)
    if probe.kind == "vjp":
        return Outcome(tuple(value for _ in probe.wrt))
    if probe.kind == "export":
        return Outcome({"values": value, "ops": REFERENCE_OPS, "size": REFERENCE_SIZE})
    return Outcome(value)


Change = Callable[[Any], Any]  # the reference's value to the student's (or an Outcome)


def same(value: Any) -> Any:
    return value


def scaled(factor: float) -> Change:
    return lambda y: (y * factor).astype(y.dtype)


def raises(*types: str, message: str = "") -> Change:
    """An exception in the student's code (its classes, most derived first)."""
    return lambda _: Outcome(error=ErrorInfo(types=[*types, "Exception"], message=message))


def each(change: Change) -> Change:
    """`change` on each gradient of a vjp's tuple."""
    return lambda gradients: tuple(change(g) for g in gradients)


def program(values: Change = same, **facts: Any) -> Change:
    """A program that gives `values(...)` of the reference's, with other `facts`."""
    return lambda p: {**p, "values": values(p["values"]), **facts}


def grows(p: dict[str, Any]) -> dict[str, Any]:
    """A program with an operation per entry of its output: one unrolled loop."""
    return {**p, "size": int(p["values"].size)}


def means(change: Change) -> Change:
    return lambda outputs: (change(outputs[0]), outputs[1])


def losses(change: Change) -> Change:
    return lambda outputs: (outputs[0], change(outputs[1]))


def falling(first: float, last: float) -> Change:
    """Losses from `first` to `last`, as many as the reference's."""
    return losses(lambda ls: np.linspace(first, last, ls.size, dtype=np.float32))


def where_overflows(bound: float, value: float) -> Change:
    """`value` wherever the reference's output passes `bound` (inf, or nan)."""
    return lambda y: np.where(y > bound, np.float32(value), y)


@dataclass(frozen=True)
class Row:
    """One judgement: the check of `function` of `kind` (its hidden one, if `hidden`), the
    student's outcomes made from the reference's by `change` (only on the cases kept from
    students, if `secret_only`), and the verdict: `passed`, with `cause`, and a message that
    holds each of `says`. `unseen` False grades as a student copy does, without the unseen
    case; `hides` asks for a message that shows no values."""

    kind: str
    change: Change
    passed: bool
    says: tuple[str, ...]
    function: str = "f"
    hidden: bool = False
    secret_only: bool = False
    unseen: bool = True
    cause: Cause | None = None
    hides: bool = False


def row(
    name: str,
    kind: str,
    change: Change,
    passed: bool,
    *says: str,
    xfail: str | None = None,
    **options: Any,
) -> Any:
    """A row of the table, named `kind-name` (a bug `xfail` names, if any)."""
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    judged = Row(kind, change, passed, says, **options)
    return pytest.param(judged, id=f"{kind}-{name}", marks=marks)


KEPT = "is not shown for cases kept from students"
FIRST = "case 1 of 2 (N=3, M=4): "
FIRST_FIT = "case 1 of 2 (K=3, D=2, num_steps=5): "
EXTREME = "on extreme inputs (N=2, M=4; x = [-1000.0, -1.0, 0.0, 1.0, 2.0, 10.0, 50.0, 1000.0]): "
OTHER_PROGRAM = "the program that jax.jit compiles gives other values: output: "
FIT = {"function": "fit"}

ROWS = [
    # shape: the structure, shape and dtype of each output, whatever its values.
    row("pass", "shape", same, True, "every output has the expected structure, shape and dtype"),
    row("wrong values", "shape", scaled(7), True, "the expected structure, shape and dtype"),
    row("dtype", "shape", lambda y: y.astype(np.float64), False, FIRST, "expected dtype float32"),
    row("transposed", "shape", lambda y: y.T, False, "got (4, 3) (transposed?)"),
    row("scalar", "shape", lambda y: np.asarray(y.sum()), False, "reduced to a scalar where"),
    # values: within the tolerance, or the likely mistake.
    row("pass", "values", same, True, "the values match the reference on all 3 cases"),
    row("within tolerance", "values", scaled(1 + 1e-7), True, "match the reference"),
    row("factor", "values", scaled(7), False, FIRST, "It is 7 times the expected value"),
    row("size factor", "values", scaled(4), False, "It is M = 4 times the expected value"),
    row("sign", "values", scaled(-1), False, "The sign is flipped."),
    row("reversed", "values", lambda y: y[::-1].copy(), False, "reversed along axis 0"),
    row("transposed", "values", lambda y: y.T, False, FIRST, "got (4, 3) (transposed?)"),
    row(
        "unseen",
        "values",
        scaled(7),
        False,
        "an unseen case (N=3, M=4): 'values' fails there",
        KEPT,
        secret_only=True,
        hides=True,
    ),
    row(
        "error on the unseen case",
        "values",
        raises("ValueError", message="x[0, 0] is 0.4711"),
        False,
        "an unseen case (N=3, M=4): raised ValueError",
        "is not shown for cases kept from students",
        secret_only=True,
        hides=True,
    ),
    row("hidden pass", "values", same, True, "the values match the reference", hidden=True),
    row(
        "hidden",
        "values",
        scaled(7),
        False,
        "hidden case 1 of 1 (N=5, M=2): 'values (hidden)' fails there",
        KEPT,
        hidden=True,
        hides=True,
    ),
    # gradients: each with respect to the arguments course.yml names.
    row("pass", "gradients", same, True, "the gradients with respect to x match the reference"),
    row(
        "factor",
        "gradients",
        each(scaled(0.5)),
        False,
        f"{FIRST}the gradient with respect to x: ",
        "It is half the expected value",
    ),
    row("no flow", "gradients", each(np.zeros_like), False, "a gradient that does not flow"),
    row(
        "unseen",
        "gradients",
        each(scaled(2)),
        False,
        "an unseen case (N=3, M=4): 'gradients' fails there",
        secret_only=True,
        hides=True,
    ),
    # finite_values: finite where the reference's output is, and its value there.
    row("pass", "finite_values", same, True, "the outputs stay finite and right on extreme"),
    row(
        "nan where the reference overflows",
        "finite_values",
        where_overflows(1e30, np.nan),
        True,
        "stay finite and right",
    ),
    row(
        "overflow",
        "finite_values",
        where_overflows(1e20, np.inf),
        False,
        f"{EXTREME}output is inf at [1, 2] (1 of 8 entries). Rewrite the formula",
    ),
    row(
        "saturated",
        "finite_values",
        lambda y: np.minimum(y, np.float32(1e10)),
        False,
        EXTREME,
        "Finite is not enough",
    ),
    # finite_gradients: the same, of the gradients.
    row("pass", "finite_gradients", same, True, "the gradients stay finite and right"),
    row(
        "nan",
        "finite_gradients",
        each(where_overflows(1e20, np.nan)),
        False,
        f"{EXTREME}the gradient with respect to x is nan at [1, 2] (1 of 8 entries). ",
        "divides inf by inf",
    ),
    # jit: the compiled program's values, on the unseen case where there is one.
    row("pass", "jit", same, True, "the program that jax.jit compiles gives the right values"),
    row(
        "other values",
        "jit",
        program(scaled(7)),
        False,
        "an unseen case (N=3, M=4): 'jit' fails there",
        hides=True,
    ),
    row(
        "student copy",
        "jit",
        program(scaled(7)),
        False,
        f"{FIRST}{OTHER_PROGRAM}",
        "It is 7 times the expected value",
        unseen=False,
    ),
    # contains: the loop the exercise asks for, in a program with the right values.
    row("pass", "contains", same, True, "the compiled program has the loop jax.lax.scan makes"),
    row(
        "no loop",
        "contains",
        program(ops=["stablehlo.exponential"]),
        False,
        "the compiled program has no loop (stablehlo.while): jax.lax.scan compiles to one",
    ),
    row(
        "other values",
        "contains",
        program(scaled(2)),
        False,
        "an unseen case (N=3, M=4): 'uses scan' fails there",
        hides=True,
    ),
    row("student copy", "contains", program(scaled(2)), False, OTHER_PROGRAM, unseen=False),
    # constant_size: the same number of operations at two values of the size.
    row("pass", "constant_size", same, True, "has 4 operations at N=3 and at N=63"),
    row(
        "grows",
        "constant_size",
        grows,
        False,
        "the compiled program grows with N: 12 operations at N=3, 252 at N=63",
    ),
    row(
        "other values",
        "constant_size",
        program(scaled(2)),
        False,
        "an unseen case (N=3, M=4): 'does not grow with N' fails there",
        hides=True,
    ),
    row(
        "student copy",
        "constant_size",
        program(scaled(2)),
        False,
        f"{FIRST}{OTHER_PROGRAM}",
        unseen=False,
    ),
    # objective: a final loss as good as the reference's, and how the fit went wrong.
    row("pass", "objective", same, True, "the final objective is as good", **FIT),
    row("better", "objective", falling(3.0, 0.5), True, "as good as the reference's", **FIT),
    row(
        "worse optimum",
        "objective",
        falling(3.0, 1.5),
        False,
        f"{FIRST_FIT}the objective reaches 1.5, the reference's fit 1 ",
        "(at most 1.01 passes)",
        "a worse optimum",
        **FIT,
    ),
    row("uphill", "objective", falling(1.0, 3.0), False, "the losses rise at step 1", **FIT),
    row("stall", "objective", falling(3.0, 2.9), False, "the fit stalls", **FIT),
    row("nan", "objective", falling(3.0, np.nan), False, "the objective reaches nan", **FIT),
    # decreasing: the losses start where the reference's do, and fall.
    row("pass", "decreasing", same, True, "the losses start at the reference's and fall", **FIT),
    row("faster", "decreasing", falling(3.0, 0.1), True, "start at the reference's", **FIT),
    row(
        "first",
        "decreasing",
        losses(lambda ls: ls + 1),
        False,
        f"{FIRST_FIT}the first entry is 4, expected 3: it should be the objective before",
        **FIT,
    ),
    row("flat", "decreasing", falling(3.0, 3.0), False, "the losses do not fall", **FIT),
    row(
        "shape",
        "decreasing",
        losses(lambda ls: ls[:-1]),
        False,
        "losses: expected shape (5,), got (4,) (only outputs with the structure, shapes and "
        "dtypes of the reference's are judged for 'losses fall')",
        **FIT,
    ),
    # permutation_match: the means, in any order of their rows.
    row("pass", "permutation_match", same, True, "match the target up to a relabelling", **FIT),
    row(
        "relabelled",
        "permutation_match",
        means(lambda m: m[[2, 0, 1]]),
        True,
        "up to a relabelling",
        **FIT,
    ),
    row(
        "within atol",
        "permutation_match",
        means(lambda m: m + np.float32(0.2)),
        True,
        "up to a relabelling",
        **FIT,
    ),
    row(
        "far",
        "permutation_match",
        means(lambda m: m + np.float32(1)),
        False,
        "in their best order [0, 1, 2] they are up to 1 away from the target",
        **FIT,
    ),
    # predicate: a property of the outputs.
    row("pass", "predicate", same, True, "positive losses on every case", **FIT),
    row(
        "fail",
        "predicate",
        losses(lambda ls: ls - 2),
        False,
        f"{FIRST_FIT}the outputs are not positive losses",
        **FIT,
    ),
]


def function_with(kind: str) -> str:
    """The function of MANIFEST that has a check of `kind`."""
    functions = MANIFEST["modules"][0]["functions"]
    kinds = {
        f["name"]: [c if isinstance(c, str) else next(iter(c)) for c in f["checks"]]
        for f in functions
    }
    return next(name for name, listed in kinds.items() if kind in listed)


# Check.judge's own path, for every kind: an exception in the student's code.
SHARED = [
    row(
        "stub",
        kind,
        raises("NotImplementedError"),
        False,
        NOT_IMPLEMENTED,
        function=function_with(kind),
        cause="not_implemented",
    )
    for kind in CHECKS
] + [
    row(
        "raises",
        kind,
        raises("ZeroDivisionError", message="division by zero"),
        False,
        # A program is judged on the unseen case alone, where what an error says is kept.
        "raised ZeroDivisionError (what was given, and what the error says, is not shown"
        if issubclass(CHECKS[kind], ProgramCheck)
        else "raised ZeroDivisionError: division by zero",
        function=function_with(kind),
    )
    for kind in CHECKS
]


@pytest.fixture(scope="module")
def judge_course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    path = Path(tmp_path_factory.mktemp("judge")) / "course.yml"
    path.write_text(yaml.safe_dump(MANIFEST, sort_keys=False))
    return load_course(path)


def the_check(course: Course, r: Row) -> Check:
    spec = course.module("m").function(r.function)
    checks = make_checks(spec, "m", {"np": np}, unseen=r.unseen)
    return next(c for c in checks if c.spec.kind == r.kind and c.spec.hidden == r.hidden)


def kept_from_students(check: Check, probe: Probe) -> bool:
    """Whether `probe` runs on one of the check's hidden or unseen cases."""

    def same_args(case: tuple[Any, ...]) -> bool:
        mine, theirs = list(leaves(case)), list(leaves(probe.args))
        return len(mine) == len(theirs) and all(
            np.array_equal(a, b) for (_, a), (_, b) in zip(mine, theirs, strict=True)
        )

    return any(c.secret and same_args(c.args) for c in check.cases)


def student_outcome(reference: Outcome, change: Change) -> Outcome:
    changed = change(reference.value)
    return changed if isinstance(changed, Outcome) else Outcome(changed)


@pytest.mark.parametrize("r", ROWS + SHARED)
def test_judge(judge_course: Course, r: Row) -> None:
    check = the_check(judge_course, r)
    probes = check.probes()
    expected = {key: reference_outcome(r.function, probe) for key, probe in probes.items()}
    actual = {
        key: student_outcome(expected[key], r.change)
        if not r.secret_only or kept_from_students(check, probe)
        else expected[key]
        for key, probe in probes.items()
    }
    verdict = check.judge(expected, actual)
    assert (verdict.passed, verdict.cause) == (r.passed, r.cause), verdict.message
    for fragment in r.says:
        assert fragment in verdict.message, verdict.message
    if r.hides:  # no number of the inputs, the expected or the received values
        assert not re.search(r"\d\.\d", verdict.message), verdict.message


def test_every_kind_has_rows_that_pass_and_rows_that_fail() -> None:
    judged = {(p.values[0].kind, p.values[0].passed) for p in ROWS}
    assert judged == {(kind, passed) for kind in CHECKS for passed in (True, False)}


SPOOFS = [
    # A class named like the grader's own, to have its message told whole.
    raises("MissingFunction", message="x[0, 0] is 0.4711"),
    raises("ProgramFailed", message="x[0, 0] is 0.4711"),
    # The inputs spelled in the class's name, which is all an unsaid error keeps.
    raises("E_x00_is_0_4711", "ValueError", message="x[0, 0] is 0.4711"),
    raises("E_x00_is_0_4711", message="x[0, 0] is 0.4711"),
]


@pytest.mark.parametrize("change", SPOOFS, ids=["missing", "failed", "named", "named-only"])
def test_a_spoofed_error_on_a_secret_case_says_nothing_of_it(judge_course, change):
    r = Row("values", change, False, (), secret_only=True)
    check = the_check(judge_course, r)
    probes = check.probes()
    expected = {key: reference_outcome(r.function, probe) for key, probe in probes.items()}
    actual = {
        key: student_outcome(expected[key], change) if kept_from_students(check, p) else o
        for (key, p), o in zip(probes.items(), expected.values(), strict=True)
    }
    message = check.judge(expected, actual).message
    assert "an unseen case" in message and "is not shown" in message, message
    assert "4711" not in message and "E_x00" not in message, message


def test_an_error_at_constant_sizes_own_size_is_judged_not_a_grader_failure(judge_course):
    # The resized case (N + 60) is secret but none of the check's cases.
    check = the_check(judge_course, Row("constant_size", same, True, ()))
    probes = check.probes()
    expected = {key: reference_outcome(check.function.name, p) for key, p in probes.items()}
    resized = next(k for k in probes if k.label not in {c.label for c in check.cases})
    actual = {**expected, resized: raises("ValueError", message="x is 0.4711")(None)}
    verdict = check.judge(expected, actual)
    assert not verdict.passed and "a case kept from students: raised ValueError" in verdict.message
    assert "4711" not in verdict.message
