"""Grading from inside a notebook's kernel: what the test cells of a notebook call.

The setup cell calls `track_cells()`, which remembers the source of every cell that
runs without an error afterwards (a cell run again replaces its earlier run).
A test cell calls `check(module, function)`: the remembered cells become the
module, which is graded in a child process against the recording beside the
notebook. For nbgrader, a test cell's outcome is its grade: an error is 0 points,
a number is partial credit, nothing is full marks.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

from grader.notebooks import as_module, is_grader_cell
from grader.results import format_points

_cells: dict[Any, str] = {}
_tracking = False


class CheckFailed(AssertionError):
    """A function that earned no points (nbgrader gives a cell that raises 0)."""


def track_cells() -> None:
    """Starts remembering the cells that run successfully in this IPython kernel."""
    global _tracking
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or _tracking:
        return
    shell.events.register("post_run_cell", _remember)
    _tracking = True


def _remember(result: Any) -> None:
    info = result.info
    source = info.raw_cell or ""
    if not result.success or is_grader_cell(source):
        return
    key = getattr(info, "cell_id", None) or f"run{len(_cells)}"
    _cells.pop(key, None)  # a cell run again moves to the end, as its definitions do
    _cells[key] = source


def check(module: str, function: str, course_file: str = "course.yml") -> float | None:
    """Grades `module.function` as defined by the cells run so far; prints the feedback.

    Returns None with full marks and the points earned with some; raises CheckFailed
    with none.
    """
    from grader.engine import grade_module
    from grader.recorded import open_course

    if not _tracking:
        raise CheckFailed("run the notebook's first code cell, which sets up grading")
    course, reference = open_course(Path(course_file).resolve())
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder:
        warnings.simplefilter("ignore")
        file = Path(folder) / f"{module}.py"
        file.write_text(as_module(_cells.values()), encoding="utf-8")
        result = grade_module(course.module(module), file, reference, functions=[function])
    score, max_score = result.function_score(function)
    for item in result.checks:
        print(f"{'✓' if item.passed else '✗'} {item.check}: {item.message}")
    summary = f"{module}.{function}: {format_points(score)} of {format_points(max_score)} points"
    if score <= 0:
        raise CheckFailed(summary)
    print(summary)
    return None if score >= max_score else score
