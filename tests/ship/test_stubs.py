"""Stub generation from nbgrader's solution markers, and the drift between the two."""

from __future__ import annotations

import pytest
from conftest import ROOT

from grader.ship.stubs import StubError, make_stub, stub_for

SOLUTION = '''import jax.numpy as jnp

### BEGIN SOLUTION
def _helper(x):
    return x + 1
### END SOLUTION


def f(x):
    """Doc."""
    ### BEGIN SOLUTION
    y = _helper(x)
    return jnp.sin(y)
    ### END SOLUTION
'''


def test_marked_regions_become_placeholders():
    stub = make_stub(SOLUTION)
    assert "_helper" not in stub and "jnp.sin" not in stub and "SOLUTION" not in stub
    assert '    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n' in stub
    # At module level the placeholder is a comment alone, so the stub still imports.
    assert stub.startswith("import jax.numpy as jnp\n\n# YOUR CODE HERE\n\n\ndef f(x):")
    compile(stub, "<stub>", "exec")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
        ("x = 1\n### END SOLUTION\n", "without a ### BEGIN SOLUTION"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the region"),
    ],
)
def test_unbalanced_markers_are_errors_with_a_line_number(source, message):
    with pytest.raises(StubError, match=message) as error:
        make_stub(source, filename="sol.py")
    assert str(error.value).startswith("sol.py:")


def test_exercises_match_the_stubs_generated_from_solutions(course):
    for module in course.modules:
        solution = ROOT / "solutions" / f"{module.name}.py"
        exercise = ROOT / "exercises" / f"{module.name}.py"
        assert exercise.read_text(encoding="utf-8") == stub_for(solution), (
            f"{exercise} has drifted from {solution}; run `difflearn stubs --force`"
        )


def test_no_reference_body_reaches_a_stub(course):
    for module in course.modules:
        stub = (ROOT / "exercises" / f"{module.name}.py").read_text(encoding="utf-8")
        solution = (ROOT / "solutions" / f"{module.name}.py").read_text(encoding="utf-8")
        inside = False
        for line in solution.splitlines():
            if line.strip() == "### BEGIN SOLUTION":
                inside = True
            elif line.strip() == "### END SOLUTION":
                inside = False
            elif inside and len(line.strip()) > 12:
                assert line not in stub.splitlines(), f"{module.name}: {line.strip()!r} leaked"
