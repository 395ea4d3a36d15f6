"""A submitted notebook as a module: the code of its cells, as a `.py` file.

With nbgrader metadata, the module is every code cell but the autograded test
cells (solution cells, and the read-only cells with the imports they need); with
none, every code cell. Cells that start with `# difflearn:` are the grader's own
(the setup and test cells of a generated notebook) and are left out too.
IPython's magics and shell escapes (`%time`, `!pip`) have no meaning in a module:
they become comments. The module then runs in a child
process like any other submission, apart from the kernel the student ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from grader.errors import UsageError

MARKER = "# difflearn:"  # the first line of the grader's cells: the setup and the tests


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
    """The module a notebook's bytes define (see the module's doc)."""
    cells = [c for c in notebook_cells(raw, name) if c.get("cell_type") == "code"]
    if any(_nbgrader(c) for c in cells):
        cells = [c for c in cells if not _nbgrader(c).get("grade")]
    return as_module(cell_source(c) for c in cells)


def is_grader_cell(source: str) -> bool:
    """A cell of the grader's (the setup, a test), not of the student's module."""
    return source.lstrip().startswith(MARKER)


def as_module(sources: Iterable[str]) -> str:
    """Cell sources as one module: grader cells left out, magics made comments."""
    parts = []
    for source in sources:
        if is_grader_cell(source):
            continue
        lines = [
            f"# {line}" if line.lstrip().startswith(("%", "!")) else line
            for line in source.splitlines()
        ]
        parts.append("\n".join(lines).rstrip() + "\n")
    return "\n\n".join(parts)
