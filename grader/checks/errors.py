"""Feedback for an exception the student's code raised."""

from __future__ import annotations

from grader.course.specs import Limits
from grader.results import Cause
from grader.runner.probes import ErrorInfo

NOT_IMPLEMENTED = "not implemented yet"


# What each of JAX's tracer errors means the code did, and what to do instead; the
# first that the error is an instance of applies (the last is their common base).
TRACER_ERRORS = {
    "TracerBoolConversionError": (
        "a Python `if`, `while`, `and`, `or` or bool() on a traced value: a tracer stands "
        "for every possible value. Choose between results with jnp.where(condition, a, b) "
        "or jax.lax.cond"
    ),
    "TracerIntegerConversionError": (
        "int(), range() or an index taken from a traced value (a loop count, a position): "
        "pass a count as a static argument (`static_argnums`), loop with jax.lax.fori_loop "
        "or jax.lax.scan, and index with jax.lax.dynamic_slice"
    ),
    "TracerArrayConversionError": (
        "NumPy (np.asarray, np.exp, ...) on a traced value: NumPy needs concrete numbers. "
        "Compute with jax.numpy"
    ),
    "ConcretizationTypeError": (
        "the concrete value of a traced array, as a Python `if`, float(), a shape taken "
        "from values or NumPy on it does: compute with jax.numpy, and choose with jnp.where"
    ),
}


def quotes_the_submission(error: ErrorInfo) -> bool:
    """Whether what `error` says comes from the submission (its message, its place), not
    from the grader: a stub says nothing, a missing function and a verifier that failed
    (timed out, crashed) are the grader's findings. A refused program is the
    submission's: the verifier's reason names its operations, which it chose."""
    return error_cause(error) is None and not error.is_a("MissingFunction", "ProgramFailed")


def error_cause(error: ErrorInfo) -> Cause | None:
    """What an exception from the student's code says of the answer: a stub's is no answer
    yet; any other is the answer's own failure, judged like a wrong value."""
    return "not_implemented" if error.is_a("NotImplementedError") else None


def describe_error(error: ErrorInfo, limits: Limits) -> str:
    """Feedback for an exception raised by the student's code."""
    if error.is_a("MissingFunction"):
        return f"not defined: {error.message}"
    if error.is_a("RefusedProgram"):
        why = f": {error.message}" if error.message else ""
        return f"the program that jax.jit compiles was not run{why}"
    if error.is_a("ProgramFailed"):
        return f"the program that jax.jit compiles failed when the grader ran it: {error.message}"
    if error_cause(error) == "not_implemented":
        return NOT_IMPLEMENTED
    where = error.where
    cause = next((why for name, why in TRACER_ERRORS.items() if error.is_a(name)), None)
    if cause is not None:
        return (
            f"fails when traced (as jax.jit and jax.grad do) with {error.type_name}{where}: "
            f"the code uses {cause}."
        )
    if error.is_a("ValueError") and "truth value of an array" in error.message:
        return (
            f"uses an array as a Python truth value{where} (a Python `if`, `and`, `or` or "
            "`max` on an array): the truth of a whole array is ambiguous, and under jax.jit "
            "there is no value to test at all. Choose elementwise with "
            "jnp.where(condition, a, b), or use jnp.maximum / jnp.minimum."
        )
    if error.is_a("MemoryError") or "RESOURCE_EXHAUSTED" in error.message:
        return f"ran out of memory (the limit is {limits.memory_mb} MB): {error.summary}"
    if "File too large" in error.message:
        return (
            f"printed more than the output limit allows{where}; "
            "print less, or nothing, inside the function"
        )
    if error.is_a("SystemExit"):
        return f"called sys.exit(){where}; a function must return its result"
    return f"raised {error.summary}"
