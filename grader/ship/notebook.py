"""The course as notebooks, one per module, made from solutions/ and course.yml.

A module's notebook is its teaching text (the module's docstring and the teaching part
of docs/<module>.md), a read-only setup cell, and per graded function a heading, a
solution cell and an autograded test cell, with nbgrader's cell metadata. Two
audiences read the same notebook (one home for its layout):
  nbgrader   `difflearn nbgrader`: the solution cells hold the reference, between the
             markers that `nbgrader generate_assignment` clears
  students   `difflearn release`: the solution cells hold the stubs, and the test cells
             grade against the copy's course.yml, one folder up (notebooks/<module>.ipynb)
Either way the grader's own cells start with `# difflearn:`, so that grading the
notebook as a module (grader.course.notebooks) leaves them out.
"""

from __future__ import annotations

import ast
from typing import Any

from grader.course.notebooks import MARKER
from grader.course.specs import Course, ModuleSpec
from grader.errors import UsageError
from grader.ship.stubs import BEGIN_MARKER, make_stub

SETUP = f"""\
{MARKER} setup (run this cell first; it lets the test cells grade your functions)
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
from grader.kernel import check, track_cells

track_cells()
"""


def test_cell_id(module: str, function: str) -> str:
    """The grade_id of a function's autograded test cell, which nbgrader's gradebook keys
    its score by: 'bce-sigmoid-test'."""
    return f"{module}-{function}-test"


def build_notebook(
    course: Course, module: ModuleSpec, course_file: str | None = None
) -> dict[str, Any]:
    """The notebook of one module, in nbformat 4 with nbgrader's cell metadata: the
    reference in its solution cells; or, given the `course_file` its test cells grade
    against (relative to the notebook), the student's: the stubs."""
    path = course.solutions_dir / f"{module.name}.py"
    if not path.is_file():
        raise UsageError(f"no reference solution {path} for module {module.name!r}")
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    lines = text.splitlines()
    graded = {f.name: f for f in module.functions}
    cells = [_markdown(f"{module.name}-intro", _introduction(course, module, tree))]
    cells.append(_code(f"{module.name}-setup", SETUP, locked=True))
    pending: list[str] = []  # module-level statements, gathered into read-only cells

    def flush() -> None:
        if pending:
            cells.append(_code(f"{module.name}-code{len(cells)}", "\n".join(pending), locked=True))
            pending.clear()

    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    for node in body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        end = node.end_lineno or node.lineno
        # A body's last lines may be indented comments, such as `### END SOLUTION`.
        while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end]):
            end += 1
        source = "\n".join(lines[start - 1 : end]).rstrip()
        name = getattr(node, "name", None)
        if name in graded:
            flush()
            function = graded[name]
            summary = (ast.get_docstring(node) or "").split("\n\n")[0]
            heading = f"## `{name}` ({function.points:g} points)\n\n{summary}"
            cells.append(_markdown(f"{module.name}-{name}-text", heading))
            cells.append(_solution(f"{module.name}-{name}", _answer(source, course_file)))
            where = f", course_file={course_file!r}" if course_file else ""
            test = f"{MARKER} autograded test of {name}\ncheck({module.name!r}, {name!r}{where})"
            cells.append(_test(test_cell_id(module.name, name), test, function.points))
        elif BEGIN_MARKER in source:
            flush()
            answer = _answer(source, course_file)
            cells.append(_solution(f"{module.name}-{name or len(cells)}", answer))
        else:
            pending.append(source)
    flush()
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }


def _answer(source: str, course_file: str | None) -> str:
    """A solution cell's code: the reference for nbgrader, the stub for a student."""
    return source if course_file is None else make_stub(source)


def _introduction(course: Course, module: ModuleSpec, tree: ast.Module) -> str:
    """The module's title, its docstring, and the teaching part of docs/<module>.md."""
    parts = [f"# {module.title}", ast.get_docstring(tree) or ""]
    page = course.root / "docs" / f"{module.name}.md"
    if page.is_file():
        teaching = page.read_text(encoding="utf-8").split("\n## ")[0]
        parts.append("\n".join(teaching.splitlines()[1:]).strip())  # less its own title
    parts.append(
        "Write each function in its cell, run it, then run the test cell below it: "
        "it grades the function in a process of its own and prints what passed."
    )
    return "\n\n".join(p for p in parts if p)


def _metadata(grade_id: str, **flags: Any) -> dict[str, Any]:
    nbgrader = {
        "grade": False,
        "grade_id": grade_id,
        "locked": False,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    nbgrader.update(flags)
    return {"nbgrader": nbgrader}


def _markdown(grade_id: str, text: str) -> dict[str, Any]:
    return {
        "cell_type": "markdown",
        "metadata": _metadata(grade_id, locked=True),
        "source": text.strip() + "\n",
    }


def _code(grade_id: str, source: str, **flags: Any) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": _metadata(grade_id, **flags),
        "outputs": [],
        "source": source.strip() + "\n",
    }


def _solution(grade_id: str, source: str) -> dict[str, Any]:
    return _code(grade_id, source, solution=True)


def _test(grade_id: str, source: str, points: float) -> dict[str, Any]:
    return _code(grade_id, source, grade=True, locked=True, points=points)
