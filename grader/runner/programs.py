"""Compiled programs: what the structural checks (jit, contains, constant_size) judge.

A submission's process does not report facts about its own code: it could forge any
of them. It exports the function with `jax.export` at a probe's shapes and sends the
serialized program (an `export` probe, grader.runner.probes). The grader's verifier process
(grader.runner.verifier), which runs no student code, reads that program, refuses the
operations that could reach outside it, runs it on the probe's arguments and
describes it (`facts`). The values tie the program to the exercise: a program that is
not a solution does not give the reference's values on a case the student never saw,
so a stand-in program earns nothing.

This module imports only JAX and NumPy, like grader.runner.probes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_PROGRAM_BYTES = 8 * 1024 * 1024  # the course's programs are a few KB
# What `contains: NAME` in course.yml asks to find in a program, by NAME: what it is, and
# the operations it compiles to (JAX's loops all become a StableHLO `while`).
PRIMITIVE_OPS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "scan": ("loop", ("stablehlo.while",)),
    "fori_loop": ("loop", ("stablehlo.while",)),
    "while_loop": ("loop", ("stablehlo.while",)),
    "cond": ("branch", ("stablehlo.case", "stablehlo.if")),
}
# Operations that only give a program its structure; every other one counts in its size.
STRUCTURE_OPS = frozenset(["builtin.module", "func.func", "func.return", "stablehlo.return"])
# Operations that talk to the world outside the program, or wait for other devices.
REFUSED_OPS = frozenset(
    [
        "stablehlo.infeed",
        "stablehlo.outfeed",
        "stablehlo.send",
        "stablehlo.recv",
        "stablehlo.all_gather",
        "stablehlo.all_reduce",
        "stablehlo.all_to_all",
        "stablehlo.collective_broadcast",
        "stablehlo.collective_permute",
        "stablehlo.reduce_scatter",
    ]
)
# Custom calls run native code by name. Allowed: the CPU's linear algebra (LAPACK), which
# jnp.linalg lowers to, among the targets JAX itself guarantees stable for export.
# Refused: everything else, Python callbacks first (their target is an address in the
# exporting process).
ALLOWED_CUSTOM_CALL_PREFIXES = ("lapack_",)
ALLOWED_CUSTOM_CALLS = frozenset(["shape_assertion"])


class RefusedProgram(Exception):
    """A program the grader will not run, or one that does not fit the probe."""


def run_serialized(data: Any, args: tuple[Any, ...], static: tuple[int, ...]) -> dict[str, Any]:
    """The facts of a serialized program from an untrusted process (see `facts`)."""
    import jax

    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
        raise RefusedProgram("it is not a serialized program")
    if data.size > MAX_PROGRAM_BYTES:
        raise RefusedProgram(f"it is larger than {MAX_PROGRAM_BYTES // (1024 * 1024)} MB")
    try:
        exported = jax.export.deserialize(bytearray(data.tobytes()))
    except Exception as error:  # any way a malformed buffer fails to parse
        raise RefusedProgram(f"it cannot be read ({type(error).__name__})") from None
    return facts(exported, args, static)


def facts(exported: Any, args: tuple[Any, ...], static: tuple[int, ...]) -> dict[str, Any]:
    """What a program is and does: `values` on `args` (run here, compiled), the sorted
    names of its `ops` and its `size` (operations but the structural ones, nested and
    private functions included). Raises RefusedProgram for a program with a refused
    operation, or one that does not take the probe's arguments."""
    import jax

    if "cpu" not in exported.platforms:
        raise RefusedProgram(f"it was exported for {', '.join(exported.platforms)}, not the CPU")
    names = _operations(exported.mlir_module())
    dynamic = tuple(a for i, a in enumerate(args) if i not in static)
    try:
        # `call` checks the arguments' structure, shapes and dtypes against the export's.
        output = exported.call(*dynamic)
    except ValueError as error:
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise RefusedProgram(f"it does not take the case's arguments: {first}") from None
    values = jax.tree_util.tree_map(np.asarray, output)
    size = sum(1 for name in names if name not in STRUCTURE_OPS)
    return {"values": values, "ops": sorted(set(names)), "size": size}


def _operations(text: str) -> list[str]:
    """The name of every operation in a StableHLO module's text; RefusedProgram for a
    refused operation or custom call."""
    from jax._src.interpreters import mlir
    from jax._src.lib.mlir import ir

    names: list[str] = []
    refused: list[str] = []

    def visit(op: Any) -> Any:
        names.append(op.name)
        if op.name in REFUSED_OPS:
            refused.append(op.name)
        elif op.name == "stablehlo.custom_call":
            target = ir.StringAttr(op.attributes["call_target_name"]).value
            allowed = target.startswith(ALLOWED_CUSTOM_CALL_PREFIXES)
            if not (allowed or target in ALLOWED_CUSTOM_CALLS):
                refused.append(f"a custom call to {target[:100]!r}")
        return ir.WalkResult.ADVANCE

    with mlir.make_ir_context():
        ir.Module.parse(text).operation.walk(visit)
    if refused:
        raise RefusedProgram(f"it has {', '.join(sorted(set(refused))[:5])}")
    return names
