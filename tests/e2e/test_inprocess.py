"""The in-process harness (tests/inprocess.py) judges as the confined child does.

The breadth tests rely on it; if it drifted from the real process (a reply read
differently, a program's facts computed another way), they would test a grader
nobody runs. Here the same submissions go both ways and must get the same report.
"""

from __future__ import annotations

import pytest
from conftest import reference_source, with_override

from grader.results import ModuleResult

MIXED = """
    def derivative(f):
        return lambda x: jax.grad(f)(float(x))       # fails when traced

    def relu(x):
        return jnp.maximum(x, 0.01 * x)              # a wrong value

    def batched_dot(A, B):
        return jnp.stack([A[n] @ B[n] for n in range(A.shape[0])])  # grows with N

    def cumulative_sum(xs):
        total, out = 0.0, []
        for x in xs:                                 # no loop in the program
            total = total + x
            out.append(total)
        return jnp.stack(out)
    """

SUBMISSIONS = {
    "the reference": reference_source("primitives"),
    "a mistake in every function": with_override("primitives", MIXED),
    "a module that cannot be imported": "import not_a_module_anywhere\n",
}


def report(result: ModuleResult) -> list[tuple[str, bool, float, str]]:
    return [(c.name, c.passed, c.score, c.message) for c in result.checks]


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_the_harness_reports_as_the_child_does(name, grade_source, grade_here):
    confined = grade_source("primitives", SUBMISSIONS[name])
    here = grade_here("primitives", SUBMISSIONS[name])
    assert report(here) == report(confined)
    assert here.notes == confined.notes
    if name == "a mistake in every function":  # the comparison is of something
        for function in ("derivative", "relu", "batched_dot", "cumulative_sum"):
            score, max_score = here.function_score(function)
            assert score < max_score
