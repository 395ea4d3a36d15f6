"""A submitted notebook as a module: its code cells, run one by one, as a `.py` file.

With nbgrader metadata, the module is every code cell but the autograded test
cells (solution cells, and the read-only cells with the imports they need); with
none, every code cell. Cells that start with `# difflearn:` are the grader's own
(the setup and test cells of a generated notebook) and are left out too.
IPython's magics and shell escapes (`%time`, `!pip`) have no meaning in a module:
they become comments. The module then runs in a child
process like any other submission, apart from the kernel the student ran.

A notebook is not one program: a kernel runs its cells one at a time, and a cell
that raises stops only itself. So the module runs each cell on its own
(`run_cells`): a cell that raises is skipped (what it would have defined is not
defined), the cells after it still run, and a note says which cell it was and why.
The grade path (grade, grade-batch, Gradescope, nbgrader autograde) and the test
cells in a kernel (grader.kernel) make the module the same way, with `as_module`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from grader.errors import UsageError
from grader.runner.cells import NOTES

MARKER = "# difflearn:"  # the first line of the grader's cells: the setup and the tests


NOTEBOOK_CALL = "_difflearn_run_cells"  # the call that runs the cells (grader.checks.callgraph)
# The module a notebook becomes: `run_cells` runs its cells, given as (label, source).
_MODULE = """\
# The code cells of a notebook, run one by one by difflearn (grader.runner.cells.run_cells):
# a cell that raises is skipped, and a note in {notes} says so.
from grader.runner.cells import run_cells as {call}

{call}(globals(), {cells!r})
del {call}
"""


def notebook_cells(raw: bytes, name: str) -> list[dict[str, Any]]:
    """The cells of a notebook's bytes (nbformat 4), or a one-line error naming `name`."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise UsageError(f"{name} is not a readable notebook: {error}") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list) or data.get("nbformat") != 4:
        raise UsageError(f"{name} is not a Jupyter notebook in nbformat 4")
    return [c for c in cells if isinstance(c, dict)]


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    metadata = cell.get("metadata")
    found = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return found if isinstance(found, dict) else {}


def notebook_module(raw: bytes, name: str) -> str:
    """The module a notebook's bytes define (see the module's doc). A cell's label is its
    place in the notebook, markdown cells counted: 'cell 7'."""
    cells = [(f"cell {i}", c) for i, c in enumerate(notebook_cells(raw, name), 1)]
    code = [(label, c) for label, c in cells if c.get("cell_type") == "code"]
    if any(_nbgrader(c) for _, c in code):
        code = [(label, c) for label, c in code if not _nbgrader(c).get("grade")]
    return as_module((label, cell_source(c)) for label, c in code)


def is_grader_cell(source: str) -> bool:
    """A cell of the grader's (the setup, a test), not of the student's module."""
    return source.lstrip().startswith(MARKER)


def as_module(cells: Iterable[tuple[str, str]]) -> str:
    """Cells, as (label, source), as the module that runs them one by one (`run_cells`):
    grader cells left out, magics made comments."""
    kept = []
    for label, source in cells:
        if is_grader_cell(source):
            continue
        lines = [
            f"# {line}" if line.lstrip().startswith(("%", "!")) else line
            for line in source.splitlines()
        ]
        kept.append((label, "\n".join(lines).rstrip() + "\n"))
    return _MODULE.format(notes=NOTES, cells=kept, call=NOTEBOOK_CALL)
