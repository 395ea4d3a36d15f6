"""Which graded functions a submission calls: read from the source, for feedback."""

from __future__ import annotations

from textwrap import dedent

from conftest import with_override

from grader.checks.callgraph import calls
from grader.course.notebooks import as_module

NAMES = ["sigmoid", "binary_cross_entropy", "binary_cross_entropy_with_logits", "fit"]
SOURCE = dedent(
    """
    import jax.numpy as jnp

    def sigmoid(x):
        return 1 / (1 + jnp.exp(-x))

    def binary_cross_entropy(p, y):
        return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))

    def binary_cross_entropy_with_logits(logits, y):
        helper = lambda z: binary_cross_entropy(sigmoid(z), y)
        return helper(logits)

    def fit(params):
        return jax.grad(binary_cross_entropy_with_logits)(params)
    """
)


def test_calls_are_read_by_name_from_each_function():
    found = calls(SOURCE, NAMES)
    assert found == {
        "sigmoid": set(),
        "binary_cross_entropy": set(),
        "binary_cross_entropy_with_logits": {"sigmoid", "binary_cross_entropy"},
        "fit": {"binary_cross_entropy_with_logits"},  # passed to grad: used all the same
    }


def test_a_notebook_module_is_read_cell_by_cell():
    cells = [(f"cell {i}", block) for i, block in enumerate(SOURCE.split("\n\n"), 1)]
    assert calls(as_module(cells), NAMES) == calls(SOURCE, NAMES)


def test_source_that_does_not_parse_gives_nothing():
    assert calls("def sigmoid(:\n", NAMES) == {}


def test_a_failing_caller_is_pointed_at_its_failing_helper(grade_source):
    wrong_sigmoid = """
        def sigmoid(x):
            return jnp.exp(x) / (1 + jnp.exp(-x))

        def binary_cross_entropy_with_logits(logits, y):
            return binary_cross_entropy(jnp.clip(sigmoid(logits), 1e-7, 1 - 1e-7), y)
        """
    result = grade_source("bce", with_override("bce", wrong_sigmoid))
    assert (
        "binary_cross_entropy_with_logits calls sigmoid, which fails its 'values' check: "
        "fix sigmoid first"
    ) in result.notes
    # A helper that passes is not blamed.
    assert not any("calls binary_cross_entropy," in note for note in result.notes)


def test_no_function_is_blamed_when_the_module_cannot_be_imported(grade_here):
    # Every function fails for the one reason the module gives; no helper is the cause.
    broken = with_override("bce", "import not_a_module_anywhere")
    result = grade_here("bce", broken, functions=["sigmoid", "binary_cross_entropy_with_logits"])
    assert all("could not be imported" in c.message for c in result.checks)
    assert result.notes == ()
