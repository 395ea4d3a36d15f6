"""`difflearn nbgrader`: an nbgrader course made from solutions/ and course.yml.

For each module, `source/<module>/` holds:
  <module>.ipynb   the teaching text, the reference split into cells (a solution
                   cell per function, between nbgrader's solution markers), and an
                   autograded test cell per function worth its points in course.yml
  course.yml       the course, pointing at the recording instead of solutions/
  reference.json.gz  the reference's recorded outcomes (grader.reference.recorded)
nbgrader copies the folder into every release and submission, so a test cell
grades against the recording wherever the notebook runs. `nbgrader_config.py`
names the course and sets a timeout that leaves room for JAX to compile.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import Any

from grader.course.notebooks import MARKER
from grader.course.specs import Course, ModuleSpec
from grader.errors import UsageError
from grader.reference.live import LiveReference
from grader.ship import generated
from grader.ship.recording import record, write_recording
from grader.ship.release import student_manifest
from grader.ship.stubs import BEGIN_MARKER

RECORDING = "reference.json.gz"
CELL_TIMEOUT_S = 600

CONFIG = f"""\
# nbgrader's configuration for the difflearn course, written by `difflearn nbgrader`.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "difflearn"
# A test cell grades one function in a process of its own: JAX starts and compiles.
c.ExecutePreprocessor.timeout = {CELL_TIMEOUT_S}
"""

SETUP = f"""\
{MARKER} setup (run this cell first; it lets the test cells grade your functions)
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
from grader.kernel import check, track_cells

track_cells()
"""


def write_course(course: Course, course_dir: Path, force: bool = False) -> list[Path]:
    """Writes the nbgrader course folder; the files written."""
    source = course_dir / "source"
    targets = [source / m.name for m in course.modules]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        names = ", ".join(str(t) for t in existing)
        raise UsageError(f"{names} already exist; pass --force to replace them")
    reference = LiveReference(course.solutions_dir)
    written = []
    for module, target in zip(course.modules, targets, strict=True):
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        notebook = target / f"{module.name}.ipynb"
        notebook.write_text(
            json.dumps(build_notebook(course, module), indent=1) + "\n", encoding="utf-8"
        )
        write_recording(record(course, reference, [module.name]), target / RECORDING)
        (target / "course.yml").write_text(student_manifest(course, RECORDING), encoding="utf-8")
        written += [notebook, target / RECORDING, target / "course.yml"]
    # The config is difflearn's until someone edits it: then it is theirs, --force or not.
    config = course_dir / "nbgrader_config.py"
    if generated.refresh(config, CONFIG):
        written.append(config)
    return written


def test_cell_id(module: str, function: str) -> str:
    """The grade_id of a function's autograded test cell, which nbgrader's gradebook keys
    its score by: 'bce-sigmoid-test'."""
    return f"{module}-{function}-test"


def build_notebook(course: Course, module: ModuleSpec) -> dict[str, Any]:
    """The notebook of one module, in nbformat 4 with nbgrader's cell metadata."""
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
            cells.append(_solution(f"{module.name}-{name}", source))
            test = f"{MARKER} autograded test of {name}\ncheck({module.name!r}, {name!r})"
            cells.append(_test(test_cell_id(module.name, name), test, function.points))
        elif BEGIN_MARKER in source:
            flush()
            cells.append(_solution(f"{module.name}-{name or len(cells)}", source))
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
