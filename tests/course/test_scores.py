"""Points: allocated to checks in exact hundredths, summed without float noise, and written
the same way everywhere (terminal, results.json, grades.csv, the batch log)."""

from __future__ import annotations

import copy

import pytest
import yaml
from test_manifest import VALID, F, edit

from grader.course.schema import load_course
from grader.course.specs import CheckSpec, FunctionSpec, Limits, Tolerance
from grader.errors import ManifestError
from grader.output.report import gradescope_results
from grader.results import CheckResult, GradeResult, ModuleResult, format_points


def cents(points: float) -> int:
    """`points` in hundredths, failing the test unless it is a whole number of them."""
    assert round(points, 2) == points, f"{points!r} is not a multiple of 0.01"
    return round(points * 100)


def function_spec(points: float, weights: list[float]) -> FunctionSpec:
    """A function whose checks have the given weights (the kinds do not matter here)."""
    kinds = ("shape", "values", "gradients", "jit", "finite_values", "finite_gradients")
    return FunctionSpec(
        name="f",
        points=points,
        args={},
        cases=({},),
        checks=tuple(
            CheckSpec(kind=k, weight=w, name=k) for k, w in zip(kinds, weights, strict=False)
        ),
        tolerance=Tolerance(rtol=1e-5, atol=1e-6),
        limits=Limits(time_s=1.0, import_time_s=1.0, memory_mb=1),
        seed=0,
    )


def full_marks(module_name: str, functions: tuple[FunctionSpec, ...]) -> ModuleResult:
    """A module's result with every check passed, built by hand as the engine builds it."""
    checks = tuple(
        CheckResult(
            module=module_name,
            function=function.name,
            check=check.title,
            score=function.check_points(check),
            max_score=function.check_points(check),
            passed=True,
            message="",
        )
        for function in functions
        for check in function.checks
    )
    return ModuleResult(name=module_name, title=module_name, checks=checks)


def test_check_points_of_every_course_function_add_up_to_its_points(course):
    for module in course.modules:
        for function in module.functions:
            shares = [cents(function.check_points(c)) for c in function.checks]
            assert sum(shares) == cents(function.points), f"{module.name}.{function.name}"


@pytest.mark.parametrize(
    ("points", "weights", "expected"),
    [
        (1, [1, 1, 1], [0.34, 0.33, 0.33]),
        # 37.5 cents twice: the earlier check takes the cent left over.
        (3, [1, 4, 2, 1], [0.38, 1.5, 0.75, 0.37]),
        (4, [1, 4, 2, 1, 4], [0.34, 1.33, 0.67, 0.33, 1.33]),
        (0.1, [1, 1, 1], [0.04, 0.03, 0.03]),
        (2.5, [0.1, 0.2], [0.83, 1.67]),
    ],
)
def test_uneven_weights_split_by_largest_remainder(points, weights, expected):
    function = function_spec(points, weights)
    assert [function.check_points(c) for c in function.checks] == expected


def test_full_marks_add_up_exactly(course):
    bce = course.module("bce")
    result = full_marks("bce", bce.functions)
    assert result.score == result.max_score == 23
    for function in bce.functions:
        assert result.function_score(function.name) == (function.points, function.points)
    grade = GradeResult(modules=(result, full_marks("again", bce.functions)), elapsed_s=1.0)
    assert grade.score == grade.max_score == 46


def test_scores_of_hundredths_sum_without_float_noise():
    # 0.1 + 0.2 is 0.30000000000000004 in floats.
    checks = tuple(
        CheckResult("m", "f", f"c{i}", score, score, True, "") for i, score in enumerate((0.1, 0.2))
    )
    module = ModuleResult("m", "m", checks)
    assert module.score == 0.3 and module.function_score("f") == (0.3, 0.3)
    assert GradeResult((module, module, module), 0.0).score == 0.9


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (23, "23"),
        (23.0, "23"),
        (3.5, "3.5"),
        (2 / 3, "0.67"),
        (22.999899999999997, "23"),
        (0.1 + 0.2, "0.3"),
        (0.05, "0.05"),
        (0, "0"),
        (-0.0, "0"),
        (1e-12, "0"),
        (120.25, "120.25"),
    ],
)
def test_points_are_written_with_at_most_two_decimals(value, text):
    assert format_points(value) == text


def test_results_json_rounds_scores_to_hundredths():
    checks = tuple(
        CheckResult("m", "f", f"c{i}", score, score, True, "")
        for i, score in enumerate((1 / 3, 1 / 3, 1 / 3, 22.999899999999997 - 1))
    )
    data = gradescope_results(GradeResult((ModuleResult("m", "m", checks),), 1.0))
    assert [t["score"] for t in data["tests"]] == [0.33, 0.33, 0.33, 22.0]
    assert [t["max_score"] for t in data["tests"]] == [0.33, 0.33, 0.33, 22.0]
    assert data["score"] == 22.99
    assert data["output"] == "22.99 / 22.99 points"


def test_points_with_more_than_two_decimals_are_refused(tmp_path):
    path = tmp_path / "course.yml"
    path.write_text(yaml.safe_dump(edit(f"{F}.points", 1.005)))
    with pytest.raises(ManifestError) as error:
        load_course(path)
    message = str(error.value)
    assert "modules[0].functions[0].points" in message and "two decimals" in message
    assert "\n" not in message

    data = copy.deepcopy(VALID)
    data["modules"][0]["functions"][0]["points"] = 2.25
    path.write_text(yaml.safe_dump(data))
    function = load_course(path).module("m").function("f")
    assert sum(cents(function.check_points(c)) for c in function.checks) == 225
