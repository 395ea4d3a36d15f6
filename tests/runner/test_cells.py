"""A notebook's cells, run one by one: an error's place is its cell and the line within it."""

from __future__ import annotations

from grader.runner.cells import NOTES, run_cells
from grader.runner.probes import describe_exception

CELLS = [
    ("cell 1", "import math\n"),
    ("cell 3", "def f(x):\n    y = x + 1\n    return y / 0\n"),
    ("cell 4", "z = 1\nf(z)\n"),
]


def test_an_error_is_placed_in_its_cell_at_import_and_when_called_later(tmp_path):
    file = str(tmp_path / "nb.py")
    namespace = {"__file__": file, "__name__": "nb"}
    run_cells(namespace, CELLS)
    # Raised in cell 3's function, called from cell 4: the place is where it was raised.
    assert namespace[NOTES] == (
        "cell 4 raised ZeroDivisionError: division by zero (cell 3, line 3: return y / 0); "
        "it was skipped",
    )
    try:
        namespace["f"](2)
    except ZeroDivisionError as error:
        info = describe_exception(error, file)
    assert info.location == "cell 3, line 3: return y / 0"


def test_a_module_not_run_as_cells_keeps_its_line_numbers(tmp_path):
    file = tmp_path / "plain.py"
    file.write_text("x = 1\ny = x / 0\n", encoding="utf-8")
    try:
        exec(compile(file.read_text(), str(file), "exec"), {})
    except ZeroDivisionError as error:
        assert describe_exception(error, str(file)).location == "line 2: y = x / 0"
