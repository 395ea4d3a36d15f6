"""Wrong variants of every reference function, generated: each is caught, with a hint
that names what was done to it.

A variant wraps one reference function and changes what it returns: scaled, shifted,
sign-flipped, an axis reversed, two axes swapped. These are the shapes of many real
mistakes (a constant factor, a missing term, a scan run backwards, batch and time
mixed up), so the feedback must recognise each, on any function, not only on the
mistakes someone thought to write down (tests/exercises/test_<module>.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax
import numpy as np
import pytest
from conftest import failed, needs, the_course, with_override
from inprocess import grade_here

from grader.checks import make_checks
from grader.course.specs import ModuleSpec

needs("hypothesis")  # draws the variants; without it, this file is skipped
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

COURSE = the_course()
# derivative returns a function, not values; a fit's own checks are about fitting.
FUNCTIONS = [
    (module.name, function.name)
    for module in COURSE.modules
    for function in module.functions
    if function.gate == "values" and function.name != "derivative"
]


@dataclass(frozen=True)
class Variant:
    """What is done to each array the function returns: `jnp` as written into the
    module, `np` to predict it here, and the hints that name it."""

    name: str
    jnp: str  # an expression of x (the array) and c (the constant)
    constants: tuple[float, ...]
    floats_only: bool  # integers (a Viterbi path) are not scaled or shifted

    def apply(self, x: np.ndarray, c: float) -> np.ndarray:
        if self.floats_only and x.dtype.kind != "f":
            return x
        return np.asarray(eval(self.jnp, {"jnp": np, "x": x, "c": c})).astype(x.dtype)


VARIANTS = {
    "scaled": Variant("scaled", "x * c", (2.0, 0.5, 3.0, 0.25, -4.0, 1.7), True),
    "shifted": Variant("shifted", "x + c", (1.0, -0.5), True),
    "sign-flipped": Variant("sign-flipped", "-x", (0.0,), True),
    "reversed": Variant("reversed", "jnp.flip(x, 0) if x.ndim >= 1 else x", (0.0,), False),
    "axes swapped": Variant(
        "axes swapped", "jnp.swapaxes(x, 0, 1) if x.ndim >= 2 else x", (0.0,), False
    ),
}


def hints(variant: str, c: float, size: int) -> tuple[str, ...]:
    """What the feedback may say of the variant: any one of these will do."""
    if variant == "scaled":
        # A factor that is a size of the case is named by it: "1/K of", "N = 4 times".
        named = {2.0: "twice", 0.5: "half", 3.0: "3 times", 0.25: "1/4", -4.0: "-4 times"}
        if c in named:
            return (named[c], f"= {c:g} times", "of the expected value: a mean where")
        return ("1.7 times",) if size > 1 else ()
    return (
        {
            "shifted": ("off by the same amount",),
            "sign-flipped": ("sign is flipped",),
            "reversed": ("reversed along axis 0",),
            "axes swapped": ("transposed?", "axes in another order", "axes in the order"),
        }[variant]
        if size > 1 or variant == "sign-flipped"
        else ()
    )


def wrapped(module: str, function: str, variant: Variant, c: float) -> str:
    """The reference module with `function` returning its variant."""
    keep = "not jnp.issubdtype(x.dtype, jnp.floating)" if variant.floats_only else "False"
    return with_override(
        module,
        f"""
        import functools as _functools

        _right_{function} = {function}

        @_functools.wraps(_right_{function})
        def {function}(*args, **kwargs):
            def change(x, c={c!r}):
                return x if {keep} else ({variant.jnp}).astype(x.dtype)

            return jax.tree_util.tree_map(change, _right_{function}(*args, **kwargs))
        """,
    )


def values_only(module: str, function: str) -> ModuleSpec:
    """The module with `function` alone, checked for its shape and values only: what the
    variants are about, at a fraction of the cost of every check."""
    spec = COURSE.module(module).function(function)
    checks = tuple(c for c in spec.checks if c.kind in ("shape", "values"))
    return replace(COURSE.module(module), functions=(replace(spec, checks=checks),))


def first_case_output(reference, module: str, function: str):
    """The reference's output on the function's first visible case."""
    spec = COURSE.module(module).function(function)
    checks = make_checks(spec, module, reference.namespace(module))
    values = next(c for c in checks if c.spec.kind == "values")
    key, probe = next((k, p) for k, p in values.probes().items() if p.kind == "call")
    return reference.outcomes(module, function, {key: probe}, spec.harness)[key].value


@pytest.mark.parametrize("target", FUNCTIONS, ids="{0[0]}.{0[1]}".format)
@settings(
    max_examples=2,  # per function: two variants of each, drawn the same way every run
    deadline=None,
    derandomize=True,  # the same variants every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_wrong_variant_is_caught_with_a_hint_that_names_it(
    target, data, reference, tmp_path_factory
):
    module, function = target
    # The first draw is the list's first: rotated per function, so that the first
    # variants tried differ from one function to the next.
    names = sorted(VARIANTS)
    turn = FUNCTIONS.index(target) % len(names)
    name = data.draw(st.sampled_from(names[turn:] + names[:turn]), label="variant")
    variant = VARIANTS[name]
    c = data.draw(st.sampled_from(variant.constants), label="c")
    output = first_case_output(reference, module, function)
    leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(output)]
    changed = [
        leaf
        for leaf in leaves
        if (moved := variant.apply(leaf, c)).shape != leaf.shape or not np.allclose(moved, leaf)
    ]
    assume(changed)  # a variant that changes nothing (a symmetric matrix swapped) is right
    expected = hints(name, c, min(leaf.size for leaf in changed))
    assume(expected)  # one number off by some amount: nothing to name but the number

    source = wrapped(module, function, variant, c)
    tmp_path = tmp_path_factory.mktemp("variant")
    result = grade_here(values_only(module, function), reference, tmp_path, source, [function])
    failures = failed(result, function)
    score, max_score = result.function_score(function)
    assert score < max_score, f"{name} (c={c}) {module}.{function} kept its points"
    assert any(hint in message for hint in expected for message in failures.values()), (
        f"{name} (c={c}) {module}.{function}: none of {expected} in {failures}"
    )
