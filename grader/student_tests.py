"""The course's checks as pytest tests, for a student copy (tests/test_exercises.py).

One test per check, with the check's name from the grader's report as its id
('bce.sigmoid: values'), so `pytest -k sigmoid` and `pytest -x` work. A module is
graded once, in a child process as always, on the first of its tests that runs.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from grader.engine import grade_module
from grader.reference.recorded import open_course
from grader.results import CheckResult


@functools.cache
def _graded(course_file: Path, module: str) -> dict[str, CheckResult]:
    course, reference = open_course(course_file)
    file = course.exercises_dir / f"{module}.py"
    result = grade_module(course.module(module), file, reference)
    return {check.name: check for check in result.checks}


def check_names(course_file: Path) -> list[str]:
    """Every check of the course, named as in the report: 'bce.sigmoid: values'."""
    course, _ = open_course(course_file)
    return [
        f"{module.name}.{function.name}: {check.title}"
        for module in course.modules
        for function in module.functions
        for check in function.checks
    ]


def check_passes(course_file: Path, name: str) -> None:
    """Fails the calling test, with the grader's feedback, unless the check passes."""
    module = name.split(".", 1)[0]
    result = _graded(course_file, module)[name]
    if not result.passed:
        pytest.fail(f"{name}: {result.message}", pytrace=False)
