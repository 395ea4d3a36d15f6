"""Reporting: a table per module on the terminal, and Gradescope's results.json."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.results import GradeResult, ModuleResult

MAX_OUTPUT_CHARS = 4000


def print_report(result: GradeResult, console: Console) -> None:
    """Prints one table per module and the total."""
    for module in result.modules:
        console.print(module_table(module))
        console.print()
    total = Text(
        f"Total: {_points(result.score)} / {_points(result.max_score)} points", style="bold"
    )
    console.print(total)


def module_table(module: ModuleResult) -> Table:
    table = Table(
        title=f"{module.name}: {module.title}   {_points(module.score)} / "
        f"{_points(module.max_score)}",
        title_justify="left",
        expand=False,
    )
    table.add_column("function", style="bold", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("feedback")
    for function in dict.fromkeys(c.function for c in module.checks):
        checks = [c for c in module.checks if c.function == function]
        messages = {c.message for c in checks}
        if len(checks) > 1 and not any(c.passed for c in checks) and len(messages) == 1:
            # One cause failed every check (not implemented, an import error, a timeout).
            score, max_score = module.function_score(function)
            table.add_row(
                function,
                Text("✗ ", style="red") + Text(f"all {len(checks)} checks"),
                f"{_points(score)}/{_points(max_score)}",
                messages.pop(),
            )
            continue
        for i, check in enumerate(checks):
            mark = Text("✓ ", style="green") if check.passed else Text("✗ ", style="red")
            table.add_row(
                function if i == 0 else "",
                mark + Text(check.check),
                f"{_points(check.score)}/{_points(check.max_score)}",
                "" if check.passed else check.message,
            )
    return table


def gradescope_results(result: GradeResult) -> dict[str, Any]:
    """The results in Gradescope's results.json format."""
    tests = [
        {
            "name": check.name,
            "score": round(check.score, 4),
            "max_score": round(check.max_score, 4),
            "status": "passed" if check.passed else "failed",
            "output": _cut(check.message),
        }
        for check in result.checks
    ]
    return {
        "score": round(result.score, 4),
        "execution_time": round(result.elapsed_s, 1),
        "output": f"{_points(result.score)} / {_points(result.max_score)} points",
        "tests": tests,
    }


def write_json(result: GradeResult, path: Path) -> None:
    """Writes results.json atomically: a reader sees the old file or the whole new one."""
    atomic_write(Path(path), json.dumps(gradescope_results(result), indent=2) + "\n")


def atomic_write(path: Path, text: str) -> None:
    """Writes a text file through a temporary file and a rename, never half-written."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _points(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _cut(message: str) -> str:
    if len(message) <= MAX_OUTPUT_CHARS:
        return message
    return message[:MAX_OUTPUT_CHARS] + " ... (cut)"
