"""Size expressions: the shape entries of course.yml ('D + H', '4 * H')."""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

_SIZE_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def size_names(expression: str) -> list[str] | None:
    """The size names in a shape entry such as 'D + H' or '4 * H'; None if it is not one."""
    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None
    names: list[str] = []

    def visit(node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            names.append(node.id)
            return True
        if isinstance(node, ast.Constant):
            return isinstance(node.value, int) and not isinstance(node.value, bool)
        if isinstance(node, ast.BinOp) and type(node.op) in _SIZE_OPERATORS:
            return visit(node.left) and visit(node.right)
        return False

    return names if visit(tree) else None


def evaluate_size(expression: str, sizes: Mapping[str, Any]) -> int:
    """The value of a shape entry that `size_names` accepted, given the case's sizes."""

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Name):
            return int(sizes[node.id])
        if isinstance(node, ast.Constant):
            return int(node.value)
        assert isinstance(node, ast.BinOp)
        return _SIZE_OPERATORS[type(node.op)](value(node.left), value(node.right))

    return value(ast.parse(expression, mode="eval").body)
