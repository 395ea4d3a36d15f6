"""Facts checked where the score is decided: jit, contains and constant_size.

A submission's process exports its function's program (jax.export); the grader's
verifier reads and runs it (grader.runner.programs). Each attack below forges what the
structural checks used to read in the child, in every sandbox mode, and must gain
nothing; the reference passes in every mode.
"""

from __future__ import annotations

from textwrap import dedent

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TOY

from grader.runner.probes import Probe
from grader.runner.probing import ProbeRunner
from grader.runner.programs import MAX_PROGRAM_BYTES, RefusedProgram, facts, run_serialized

SOLUTION = (TOY / "solutions" / "toy.py").read_text(encoding="utf-8")
STRUCTURAL = {"jit", "uses scan", "does not grow with T"}

# The right values from a Python loop: no scan, and a program that grows with T.
PYTHON_LOOP = """
import jax.numpy as jnp

def cumulative_sum(xs):
    total, sums = 0.0, []
    for x in xs:
        total = total + x
        sums.append(total)
    return jnp.stack(sums)
"""

# At import, the submission replaces how its process answers cumulative_sum's `export`
# probes (those of one argument) with `forged(probe)`, whatever its own function is.
FORGE_EXPORTS = """
import grader.runner.probing as _probes
import jax as _jax
import numpy as _np

_honest = _probes.ProbeRunner.run

def _forging(self, probe):
    if probe.kind == "export" and len(probe.args) == 1:
        return forged(probe)
    return _honest(self, probe)

_probes.ProbeRunner.run = _forging

def _serialized(function, probe, **options):
    exported = _jax.export.export(_jax.jit(function), **options)(*probe.args)
    return _np.frombuffer(bytes(exported.serialize()), dtype=_np.uint8)
"""


def failures(result, function: str = "cumulative_sum") -> dict[str, str]:
    return {c.check: c.message for c in result.checks if c.function == function and not c.passed}


def structural_failures(grade_toy, source: str) -> dict[str, str]:
    """cumulative_sum graded from `source`: the failures, which must be exactly the three
    structural checks (its values are right, and a forgery must not earn those)."""
    found = failures(grade_toy(source, functions=["cumulative_sum"]))
    assert set(found) == STRUCTURAL
    return found


def forging(body: str) -> str:
    """The Python-loop answer, with exports forged by `forged(probe)` from `body`."""
    return PYTHON_LOOP + FORGE_EXPORTS + dedent(body)


def test_the_reference_passes_the_structural_checks(grade_toy, mode):
    result = grade_toy(SOLUTION, functions=["cumulative_sum", "batched_dot"])
    assert failures(result) == {} and failures(result, "batched_dot") == {}


def test_the_python_loop_fails_the_structural_checks_on_its_own(grade_toy):
    # The baseline the forgeries below try to beat: right values, no structural points.
    assert set(failures(grade_toy(PYTHON_LOOP, functions=["cumulative_sum"]))) == {
        "uses scan",
        "does not grow with T",
    }


def test_turning_jit_off_at_import_does_not_pass_untraceable_code(grade_toy, mode):
    source = """
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_disable_jit", True)
    jax.disable_jit().__enter__()  # and the thread's own setting, never left

    def cumulative_sum(xs):
        if jnp.max(xs) > 100.0:  # a Python if on a value: fine op by op, not traced
            xs = xs / 100.0
        _, sums = jax.lax.scan(lambda c, x: (c + x, c + x), 0.0, xs)
        return sums
    """
    found = structural_failures(grade_toy, source)
    assert "TracerBoolConversionError" in found["jit"] or "jnp.where" in found["jit"]


def test_a_stand_in_program_with_a_scan_earns_nothing(grade_toy, mode):
    # The program sent is a small scan: right shapes, constant size, wrong values.
    source = forging(
        """
        def forged(probe):
            def stand_in(xs):
                return _jax.lax.scan(lambda c, x: (c, c + x), 0.0, xs)[1]
            return _serialized(stand_in, probe)
        """
    )
    found = structural_failures(grade_toy, source)
    # Judged on the unseen case, whose values a table could not hold; shown as such.
    assert all(message.startswith("an unseen case") for message in found.values())


def test_facts_sent_as_data_are_not_read(grade_toy, mode):
    # What the child used to report about its own trace, sent in the program's place.
    source = forging(
        """
        def forged(probe):
            return {"primitives": ["scan"], "equations": 5}
        """
    )
    found = structural_failures(grade_toy, source)
    # Refused (on the unseen case, whose reasons the submission could word, so unsaid).
    assert all("was not run (what was given" in message for message in found.values())


def test_a_custom_call_outside_the_allow_list_is_refused(grade_toy, mode):
    # jax.export will not serialize a Python callback; a student can still write one into
    # the program's text. Its target would be code in the verifier, not the program.
    source = forging(
        """
        import dataclasses, re
        from jax._src.export._export import _module_to_bytecode
        from jax._src.interpreters import mlir as _mlir
        from jax._src.lib.mlir import ir as _ir

        def forged(probe):
            exported = _jax.export.export(_jax.jit(_jax.numpy.sin))(*probe.args)
            text = re.sub(
                r"stablehlo\\.sine (%\\w+) : (tensor<[^>]*>)",
                r"stablehlo.custom_call @xla_ffi_python_cpu_callback(\\1) : (\\2) -> \\2",
                exported.mlir_module(),
            )
            with _mlir.make_ir_context():
                data = _module_to_bytecode(_ir.Module.parse(text))
            exported = dataclasses.replace(exported, mlir_module_serialized=data)
            return _np.frombuffer(bytes(exported.serialize()), dtype=_np.uint8)
        """
    )
    found = structural_failures(grade_toy, source)
    assert all("was not run (what was given" in m for m in found.values())


def test_a_program_that_never_ends_fails_alone(grade_toy, mode):
    # The verifier runs it under the function's time limit; the next function's programs
    # still run (in a fresh verifier).
    source = forging(
        """
        def forged(probe):
            def forever(xs):
                return _jax.lax.while_loop(lambda c: c[0] > -1.0, lambda c: c + 1.0, xs)
            return _serialized(forever, probe)

        def batched_dot(A, B):
            return _jax.numpy.sum(A * B, axis=1)
        """
    )
    result = grade_toy(source, functions=["cumulative_sum", "batched_dot"])
    found = failures(result)
    assert set(found) == STRUCTURAL
    assert all("timed out" in message for message in found.values())
    assert failures(result, "batched_dot") == {}


# The verifier's reader, in this process, on programs made here.


def exported(function, *args):
    return ProbeRunner(function).exported(Probe(kind="export", args=args))


def serialized(function, *args) -> np.ndarray:
    return np.frombuffer(bytes(exported(function, *args).serialize()), dtype=np.uint8)


def scan_sum(xs):
    return jax.lax.scan(lambda c, x: (c + x, c + x), 0.0, xs)[1]


def unrolled_sum(xs):
    return jnp.stack([jnp.sum(xs[: i + 1]) for i in range(xs.shape[0])])


@pytest.mark.parametrize("size", [5, 13])
def test_facts_give_values_ops_and_a_size(size, chex):
    xs = np.arange(size, dtype=np.float32)
    found = run_serialized(serialized(scan_sum, xs), (xs,), ())
    chex.assert_trees_all_close(found["values"], np.cumsum(xs))
    assert "stablehlo.while" in found["ops"]
    assert found["size"] == run_serialized(serialized(scan_sum, xs[:3]), (xs[:3],), ())["size"]


def test_an_unrolled_program_grows_and_has_no_loop():
    small, large = np.ones(3, np.float32), np.ones(7, np.float32)
    at_small = facts(exported(unrolled_sum, small), (small,), ())
    at_large = facts(exported(unrolled_sum, large), (large,), ())
    assert at_large["size"] > at_small["size"]
    assert "stablehlo.while" not in at_small["ops"]


def test_static_arguments_are_left_to_the_program(chex):
    def power(x, n):
        return jax.lax.fori_loop(0, n, lambda i, c: c * x, jnp.ones_like(x))

    x = np.full(3, 2.0, np.float32)
    program = ProbeRunner(power).exported(Probe(kind="export", args=(x, 3), static=(1,)))
    chex.assert_trees_all_close(facts(program, (x, 3), (1,))["values"], x**3)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (np.zeros(10, np.float32), "not a serialized program"),
        (np.frombuffer(b"not a program at all", np.uint8), "cannot be read"),
        (np.zeros(MAX_PROGRAM_BYTES + 1, np.uint8), "larger than"),
        ({"primitives": ["scan"]}, "not a serialized program"),
    ],
)
def test_what_is_not_a_program_is_refused(data, why):
    with pytest.raises(RefusedProgram, match=why):
        run_serialized(data, (np.ones(3, np.float32),), ())


def test_a_program_for_other_arguments_is_refused():
    data = serialized(scan_sum, np.ones(3, np.float32))
    with pytest.raises(RefusedProgram, match="does not take the case's arguments"):
        run_serialized(data, (np.ones(4, np.float32),), ())


def test_linear_algebra_custom_calls_are_allowed(chex):
    def solve(a):
        return jnp.linalg.cholesky(a @ a.T + 3.0 * jnp.eye(3))

    a = np.eye(3, dtype=np.float32)
    found = facts(exported(solve, a), (a,), ())
    assert "stablehlo.custom_call" in found["ops"]
    expected = np.linalg.cholesky(a @ a.T + 3.0 * np.eye(3)).astype(np.float32)
    chex.assert_trees_all_close(found["values"], expected, rtol=1e-5)
