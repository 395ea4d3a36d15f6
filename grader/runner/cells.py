"""A notebook's cells run one by one in the submission's process: a cell that raises is
skipped and noted (see grader.course.notebooks)."""

from __future__ import annotations
import __future__

import bisect
import functools
import linecache
import operator
from collections.abc import Sequence
from typing import Any

from grader.runner.probes import ErrorInfo, describe_exception

NOTES = "__difflearn_notes__"  # the module attribute that holds the notes on skipped cells
MAX_NOTES = 5  # notes per module that reach the feedback; the rest are counted
MAX_NOTE_CHARS = 300
# The compiler flags of every `from __future__` import.
_FUTURE_FLAGS = functools.reduce(
    operator.or_, (getattr(__future__, f).compiler_flag for f in __future__.all_feature_names)
)
# Per module file run as cells, in this process: the listing line (0-based) each cell
# starts at, and the cells' labels, for `place`.
_CELLS: dict[str, tuple[list[int], list[str]]] = {}


def run_cells(namespace: dict[str, Any], cells: Sequence[tuple[str, str]]) -> None:
    """Runs cells, as (label, source), in a module's `namespace`, one by one; a cell that
    raises is skipped and noted in `namespace[NOTES]`. Runs in the submission's process.

    Each cell is compiled with the module's file name, at the lines it holds in the
    cells' listing (the cells one after another, a blank line between), and that
    listing stands for the file in `linecache`: an error's place in the feedback
    (grader.runner.probes.describe_exception) names the line of the student's code, as
    its cell and the line within it (`place`)."""
    file = namespace["__file__"]
    starts, listing = [], []
    for _, source in cells:
        starts.append(len(listing))
        listing += (source + "\n").splitlines(keepends=True)
    # No modification time: linecache.checkcache keeps the entry, as for a loader's source.
    linecache.cache[file] = (sum(map(len, listing)), None, listing, file)
    _CELLS[file] = (starts, [label for label, _ in cells])
    notes: list[str] = []
    flags = 0  # `from __future__` imports, which a cell passes on to the next, as IPython does
    for (label, source), start in zip(cells, starts, strict=True):
        try:
            # Padded, so that the cell's lines are numbered as in the listing.
            code = compile("\n" * start + source, file, "exec", flags=flags, dont_inherit=True)
            flags |= code.co_flags & _FUTURE_FLAGS
            exec(code, namespace)
        except BaseException as error:  # sys.exit() in a cell ends that cell, not the module
            notes.append(skipped_note(label, error, file))
    namespace[NOTES] = bounded_notes(notes)


def place(file: str, lineno: int) -> str:
    """Where line `lineno` of `file` is, for feedback: 'cell 7, line 3' in a notebook's
    module (the line within the cell), else 'line 40'. Errors raised later, when a probe
    calls a function a cell defined, are placed the same way."""
    starts, labels = _CELLS.get(file, ([], []))
    cell = bisect.bisect_right(starts, lineno - 1) - 1
    if cell < 0:
        return f"line {lineno}"
    return f"{labels[cell]}, line {lineno - starts[cell]}"


def skipped_note(label: str, error: BaseException, file: str | None = None) -> str:
    """'cell 7 raised ZeroDivisionError: division by zero (line 3: 1/0); it was skipped':
    the line within that cell, or another cell's where the error was raised there."""
    if isinstance(error, SyntaxError):
        # Its message names the file (the staged copy), and its text is that file's line,
        # not the listing's, which is the student's (see run_cells).
        text = linecache.getline(file, error.lineno) if file and error.lineno else error.text
        where = f"{place(file or '', error.lineno)}: {(text or '').strip()}" if error.lineno else ""
        info = ErrorInfo(types=[type(error).__name__], message=str(error.msg), location=where)
    else:
        info = describe_exception(error, file)
    info.location = info.location.removeprefix(f"{label}, ")
    return f"{label} raised {info.summary}; it was skipped"


def bounded_notes(notes: Any) -> tuple[str, ...]:
    """At most MAX_NOTES notes of at most MAX_NOTE_CHARS each, from whatever `notes` is
    (a child's reply is untrusted): the rest counted in the last."""
    if not isinstance(notes, list | tuple):
        return ()
    cut = [
        n if len(n) <= MAX_NOTE_CHARS else n[: MAX_NOTE_CHARS - 4] + " ..."
        for n in (str(n) if isinstance(n, str) else "(a malformed note)" for n in notes)
    ]
    if len(cut) > MAX_NOTES:
        cut[MAX_NOTES - 1 :] = [f"... and {len(cut) - MAX_NOTES + 1} more cells were skipped"]
    return tuple(cut)
