"""Every module of the course: the reference scores full marks, the stub scores 0."""

from __future__ import annotations

import pytest
from conftest import ROOT

from grader.checks.errors import NOT_IMPLEMENTED
from grader.course.schema import load_course
from grader.engine import grade_module

MODULES = load_course(ROOT / "course.yml").module_names


@pytest.mark.parametrize("module", MODULES)
def test_reference_scores_full_marks(course, reference, module):
    spec = course.module(module)
    result = grade_module(spec, ROOT / "solutions" / f"{module}.py", reference)
    assert [f"{c.name}: {c.message}" for c in result.checks if not c.passed] == []
    assert result.score == pytest.approx(result.max_score) == pytest.approx(spec.points)


@pytest.mark.parametrize("module", MODULES)
def test_stub_scores_zero_with_not_implemented(course, reference, module):
    result = grade_module(course.module(module), ROOT / "exercises" / f"{module}.py", reference)
    assert result.score == 0
    assert {c.message for c in result.checks} == {NOT_IMPLEMENTED}


def test_modules_follow_the_curriculum_order():
    assert MODULES[:4] == ("primitives", "bce", "vmap_losses", "scan_rnn")
