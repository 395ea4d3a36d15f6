"""Grading from inside a notebook's kernel: what the test cells of a notebook call.

The setup cell calls `track_cells()`, which remembers the source of every cell that
runs afterwards (a cell run again replaces its earlier run). A cell that raised is
skipped, as grader.course.notebooks skips it in a submitted notebook, and noted.
A test cell calls `check(module, function)`: the remembered cells become the
module (grader.course.notebooks.as_module), which is graded in a child process against the
recording beside the notebook; it prints the notes on skipped cells with the
feedback. For nbgrader, a test cell's outcome is its grade in the kernel: an error is
0 points, a number is partial credit, nothing is full marks. The grade that counts is
decided outside the kernel, by `difflearn nbgrader autograde` (grader.ship.gradebook).
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.course.notebooks import as_module, is_grader_cell
from grader.runner.cells import skipped_note

_cells: dict[Any, tuple[str, str]] = {}  # by cell: (label, source) of its last run
_skipped: dict[Any, str] = {}  # by cell: the note on its last run, which raised
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
    if is_grader_cell(source):
        return
    key = getattr(info, "cell_id", None) or f"run{len(_cells) + len(_skipped)}"
    label = f"In [{result.execution_count}]"
    # A cell run again moves to the end, as its definitions do; one that raised is skipped.
    _cells.pop(key, None)
    _skipped.pop(key, None)
    error = result.error_in_exec or result.error_before_exec
    if error is None:
        _cells[key] = (label, source)
    else:
        _skipped[key] = skipped_note(label, error)


def check(module: str, function: str, course_file: str = "course.yml") -> float | None:
    """Grades `module.function` as defined by the cells run so far; prints the feedback.

    Returns None with full marks and the points earned with some; raises CheckFailed
    with none.
    """
    from grader.engine import grade_module
    from grader.output.report import function_feedback
    from grader.reference.recorded import open_course

    if not _tracking:
        raise CheckFailed("run the notebook's first code cell, which sets up grading")
    course, reference = open_course(Path(course_file).resolve())
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder:
        warnings.simplefilter("ignore")
        file = Path(folder) / f"{module}.py"
        file.write_text(as_module(_cells.values()), encoding="utf-8")
        result = grade_module(course.module(module), file, reference, functions=[function])
    # Cells that raised here never reached the module; those that raised there, too.
    result = replace(result, notes=(*_skipped.values(), *result.notes))
    *lines, summary = function_feedback(result, function)
    if lines:
        print("\n".join(lines))
    score, max_score = result.function_score(function)
    if score <= 0:
        raise CheckFailed(summary)
    print(summary)
    return None if score >= max_score else score
