"""A stub, known from its source: a function that can do nothing but raise
NotImplementedError, whatever it is given.

A student's first grade is mostly stubs, and a stub's probes would still convert
arguments, trace and fall back to eager execution before the error shows. Read from
the source, a stub costs nothing: the submission's process answers every probe with
the error the stub raises (grader.runner.child), and the grading process, which sees
the same source, does not work out the reference's answers that nothing will be
compared with (grader.engine).

Only the exact shape counts: a docstring, then `raise NotImplementedError` with no
argument or constant ones. Anything else (code before the raise, a message built from
the arguments, a shadowed NotImplementedError) runs as any function does.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import inspect
import textwrap
from collections import Counter
from typing import Any

from grader.runner.probes import ErrorInfo, describe_exception


def stub_raise(definition: ast.FunctionDef) -> ast.Raise | None:
    """The `raise NotImplementedError(...)` that is a stub's whole body, if it is one."""
    body = definition.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].cause is not None:
        return None
    raised = body[0].exc
    if isinstance(raised, ast.Call):
        if raised.keywords or not all(isinstance(a, ast.Constant) for a in raised.args):
            return None
        raised = raised.func
    if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
        return body[0]
    return None


@functools.lru_cache(maxsize=64)
def stubs_in_source(source: bytes) -> frozenset[str]:
    """The functions the module `source` defines, at module level, as stubs, each bound
    nowhere else at module level (a later `name = ...` may replace it). Parsed once per
    source: the engine asks for every function of a module."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()
    bound = [_bound(node) for node in tree.body]
    if any("NotImplementedError" in names for names in bound):
        return frozenset()
    counts = Counter(name for names in bound for name in set(names))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and counts[node.name] == 1
        and not node.decorator_list
        and stub_raise(node) is not None
    )


def stub_error(function: Any, source_file: str) -> ErrorInfo | None:
    """The error every call of `function` raises, if it is a stub defined in
    `source_file`: found without calling it, and described as a call would be."""
    with contextlib.suppress(Exception):  # whatever the student's object does: not a stub
        if not inspect.isfunction(function) or function.__code__.co_filename != source_file:
            return None
        if function.__globals__.get("NotImplementedError", NotImplementedError) is not (
            NotImplementedError
        ):
            return None
        lines, first = inspect.getsourcelines(function)
        tree = ast.parse(textwrap.dedent("".join(lines)))
        definition = tree.body[0] if tree.body else None
        if not isinstance(definition, ast.FunctionDef) or definition.decorator_list:
            return None
        statement = stub_raise(definition)
        if statement is None:
            return None
        # The raise itself, at its own line of the student's file: the error, message and
        # place are those a call gives.
        module = ast.Module(body=[statement], type_ignores=[])
        ast.increment_lineno(module, first - 1)
        try:
            exec(compile(module, source_file, "exec"), {"__builtins__": builtins})
        except NotImplementedError as error:
            return describe_exception(error, source_file)
    return None


def _bound(node: ast.stmt) -> list[str]:
    """The names a module-level statement may bind, anywhere inside it (more than it
    does, at worst: a stub then runs as any function does)."""
    names = []
    for inner in ast.walk(node):
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(inner.name)
        elif isinstance(inner, (ast.Import, ast.ImportFrom)):
            names.extend((a.asname or a.name).split(".")[0] for a in inner.names)
        elif isinstance(inner, ast.Name) and isinstance(inner.ctx, (ast.Store, ast.Del)):
            names.append(inner.id)
    return names
