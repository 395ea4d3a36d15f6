"""Which graded functions a submission's functions call, read from its source.

Feedback uses it to point at the cause of a failure: a loss that calls a failing
`sigmoid` fails too, and the fix is in `sigmoid`. The source is parsed, never run
(the grading process runs no student code), and names are matched as written: a
function counts as called where its body names it, in a call or passed on
(`jax.grad(loss)`); a call through another name or an attribute is not seen, which
costs a hint, never points.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from grader.course.notebooks import NOTEBOOK_CALL


def calls(source: str, names: Collection[str]) -> dict[str, set[str]]:
    """For each function of `names` defined at the top of `source`, the other functions of
    `names` that its body calls or passes on by name. A notebook's module is read cell by
    cell."""
    found: dict[str, set[str]] = {}
    for tree in _trees(source):
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
                called = {
                    sub.id
                    for sub in ast.walk(node)
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)
                }
                found[node.name] = (called & set(names)) - {node.name}
    return found


def _trees(source: str) -> list[ast.Module]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    cells = _notebook_cells(tree)
    if cells is None:
        return [tree]
    trees = []
    for cell in cells:
        try:
            trees.append(ast.parse(cell))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # a cell that does not parse is skipped when it runs, too
    return trees


def _notebook_cells(tree: ast.Module) -> list[str] | None:
    """The cells' sources of a module made from a notebook (grader.course.notebooks), else None."""
    for node in tree.body:
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == NOTEBOOK_CALL
            and len(node.value.args) == 2
        ):
            try:
                listed = ast.literal_eval(node.value.args[1])
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                return None
            return [cell[1] for cell in listed if isinstance(cell, tuple) and len(cell) == 2]
    return None
