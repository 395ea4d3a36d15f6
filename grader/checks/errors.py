"""Feedback for an exception the student's code raised."""

from __future__ import annotations

import builtins

from grader.course.specs import Limits
from grader.results import Cause
from grader.runner.probes import ErrorInfo

NOT_IMPLEMENTED = "not implemented yet"
# The classes whose feedback `describe_error` words itself.
GRADER_ERRORS = ("MissingFunction", "RefusedProgram", "ProgramFailed")
# Python's own exception classes, by name: with those above and the tracer errors, the
# only names told from a case kept from students (see `unsaid`).
BUILTIN_ERRORS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


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
    """Whether what `error` says may come from the submission: anything a child sent,
    but a stub's (which says nothing). What the grading process made itself (a verifier
    that timed out) is its own words."""
    return not error.by_grader and error_cause(error) is None


def unsaid(error: ErrorInfo, function: str) -> ErrorInfo:
    """`error` of `function` without what the submission could have written into it: no
    message, no place, and its class named only where it is one of Python's or one this
    feedback explains (a class name can spell anything). A missing function is told by
    the name the grader asked for."""
    known = {*BUILTIN_ERRORS, *TRACER_ERRORS, *GRADER_ERRORS}
    types = [t for t in error.types if t in known] or ["Exception"]
    missing = (
        f"the module defines no function named {function!r}" if "MissingFunction" in types else ""
    )
    return ErrorInfo(types=types, message=missing)


def error_cause(error: ErrorInfo) -> Cause | None:
    """What an exception from the student's code says of the answer: a stub's is no answer
    yet; any other is the answer's own failure, judged like a wrong value."""
    return "not_implemented" if error.is_a("NotImplementedError") else None


def describe_error(error: ErrorInfo, limits: Limits) -> str:
    """Feedback for an exception raised by the student's code."""
    said = f": {error.message}" if error.message else ""
    if error.is_a("MissingFunction"):
        return f"not defined{said}"
    if error.is_a("RefusedProgram"):
        return f"the program that jax.jit compiles was not run{said}"
    if error.is_a("ProgramFailed"):
        return f"the program that jax.jit compiles failed when the grader ran it{said}"
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
