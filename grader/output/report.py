"""Reporting: a table per module on the terminal, and Gradescope's results.json.

Feedback quotes submissions (their exception messages, their source lines), so no text
that reaches a report is ever interpreted: on the terminal it goes into rich as `Text`,
never parsed as markup, with its control characters shown escaped (`plain`); in
Markdown its significant characters are escaped (`markdown_text`); results.json keeps
it as it is, JSON's escaping being enough there.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.course.specs import GradescopeSettings
from grader.results import (
    Cause,
    CheckResult,
    GradeResult,
    ModuleResult,
    format_points,
    format_seconds,
    round_points,
)

# Every C0 and C1 control character but tab and newline, as its escape: rich lets ESC and
# CSI (\x9b) through to the terminal, where they clear, move, recolour or retitle it, and
# drops a carriage return or backspace without a trace.
_CONTROL_ESCAPES = {
    code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if chr(code) not in "\t\n"
}
# What Markdown reads anywhere in a line: emphasis, code, links, strikethrough, math, and
# the pipe that ends a table cell. An underscore inside a word is inert (CommonMark), so
# function names keep theirs unescaped. HTML's own three go as entities, which every
# renderer honours (not all take a backslash before `<`).
_MARKDOWN_SPECIAL = re.compile(r"[\\`*{}\[\]#|~$]|(?<![^\W_])_|_(?![^\W_])")
_HTML_ENTITIES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}
# What starts a block at the start of a line: a list item ('-', '+', '1.', '1)') or the
# rule under a setext heading ('=').
_MARKDOWN_BLOCK_START = re.compile(r"^(\s*\d*)([-+=.)])")


def print_report(result: GradeResult, console: Console, show_output: bool = False) -> None:
    """Prints one table per module and the total; with `show_output`, what each function
    printed under its rows."""
    for module in result.modules:
        console.print(module_table(module, show_output))
        for note in module.notes:
            console.print(plain(f"Note: {note}", "yellow"))
        for hint in module.hints:
            console.print(plain(f"Hint: {hint}", "yellow"))
        console.print()
    console.print(plain(f"Total: {_scored(result.score, result.max_score)} points", "bold"))
    if result.sandbox is not None:
        console.print(plain(f"Sandbox: {result.sandbox.description}", "dim"))


def module_table(module: ModuleResult, show_output: bool = False) -> Table:
    table = Table(
        title=plain(
            f"{module.name}: {module.title}   {_scored(module.score, module.max_score)}",
            "table.title",
        ),
        title_justify="left",
        expand=False,
    )
    table.add_column("function", style="bold", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("CPU", justify="right", no_wrap=True)  # the function's, on its first row
    table.add_column("feedback")
    for function in module_functions(module):
        for i, row in enumerate(function_rows(module, function)):
            mark = Text("✓ ", style="green") if row.passed else Text("✗ ", style="red")
            timing = module.times.get(function)
            table.add_row(
                plain(function if i == 0 else ""),
                mark + plain(row.check),
                plain(row.points),
                plain(format_seconds(timing.cpu_s) if timing and i == 0 else "", "dim"),
                plain(row.feedback),
            )
        output = module.outputs.get(function)
        if show_output and output:
            table.add_row("", plain("printed", "dim"), "", "", plain(output.rstrip(), "dim"))
    return table


@dataclass(frozen=True)
class Row:
    """A line of a module's report: a check (or all of a function's, failed for one
    cause), its points as 'score/max' and the feedback on a failure."""

    passed: bool
    check: str
    points: str
    feedback: str


def module_functions(module: ModuleResult) -> list[str]:
    """The functions of a module's results, in course order."""
    return list(dict.fromkeys(c.function for c in module.checks))


def function_rows(module: ModuleResult, function: str) -> list[Row]:
    """The report's lines for one function: a line per check, or one line where a single
    cause (not implemented, an import error, a timeout) failed every check."""
    checks = [c for c in module.checks if c.function == function]
    messages = {c.message for c in checks}
    if len(checks) > 1 and not any(c.passed for c in checks) and len(messages) == 1:
        score, max_score = module.function_score(function)
        return [Row(False, f"all {len(checks)} checks", _scored(score, max_score, "/"), *messages)]
    return [
        Row(
            c.passed,
            c.check,
            _scored(c.score, c.max_score, "/"),
            "" if c.passed else c.message,
        )
        for c in checks
    ]


def printable(text: str) -> str:
    """`text` with its control characters, tab and newline apart, shown escaped (`\\x1b`), so
    that text from a submission cannot clear, move, recolour or retitle a terminal."""
    return text.translate(_CONTROL_ESCAPES)


def plain(text: str, style: str = "") -> Text:
    """`text` for rich, as it reads: never parsed as markup, its control characters escaped."""
    return Text(printable(text), style=style)


def markdown_text(text: str) -> str:
    """`text` for a line of Markdown, a table cell included, shown as it reads: no markup,
    HTML, entity or line break of its own, its control characters escaped."""
    text = " ".join(printable(text).split("\n")).translate(_HTML_ENTITIES)
    text = _MARKDOWN_SPECIAL.sub(lambda special: "\\" + special[0], text)
    return _MARKDOWN_BLOCK_START.sub(r"\1\\\2", text)


def gradescope_results(
    result: GradeResult, settings: GradescopeSettings | None = None
) -> dict[str, Any]:
    """The results in Gradescope's results.json format; hidden checks carry the
    visibility of `settings` (after the due date by default)."""
    settings = settings or GradescopeSettings()
    tests = []
    for check in result.checks:
        test: dict[str, Any] = {
            "name": check.name,
            "score": round_points(check.score),
            "max_score": round_points(check.max_score),
            "status": "passed" if check.passed else "failed",
            "output": check.message,
        }
        if check.hidden:
            test["visibility"] = settings.hidden_checks
        tests.append(test)
    notes = [f"{m.name}: {note}" for m in result.modules for note in m.notes]
    data: dict[str, Any] = {
        "score": round_points(result.score),
        "execution_time": round(result.elapsed_s, 1),
        "output": "\n".join([f"{_scored(result.score, result.max_score)} points", *notes]),
        "tests": tests,
    }
    if settings.results is not None:
        data["visibility"] = settings.results
    # Gradescope ignores extra_data: for the instructor, how the submission was confined;
    # for `results_checks`, each test's check as data (its name is for people) and why it
    # failed unjudged, where it did.
    extra: dict[str, Any] = {
        "checks": [
            {"module": c.module, "function": c.function, "check": c.check, "cause": c.cause}
            for c in result.checks
        ]
    }
    # CPU seconds per function: they vary from run to run, so no score or message has them.
    extra["times"] = {
        m.name: {f: round(t.cpu_s, 2) for f, t in m.times.items()} for m in result.modules
    }
    if result.sandbox is not None:
        extra["sandbox"] = result.sandbox.mode
        extra["sandbox_note"] = result.sandbox.why
        extra["cgroups"] = result.sandbox.cgroups
    data["extra_data"] = extra
    return data


def results_checks(data: dict[str, Any]) -> tuple[CheckResult, ...]:
    """The checks of results.json's data, as `gradescope_results` wrote them; ValueError
    if they are not."""
    checks = []
    try:
        identities = data["extra_data"]["checks"]
        for test, identity in zip(data["tests"], identities, strict=True):
            checks.append(
                CheckResult(
                    module=str(identity["module"]),
                    function=str(identity["function"]),
                    check=str(identity["check"]),
                    score=float(test["score"]),
                    max_score=float(test["max_score"]),
                    passed=test["status"] == "passed",
                    message=str(test["output"]),
                    hidden="visibility" in test,
                    cause=_cause(identity.get("cause")),
                )
            )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"malformed results ({type(error).__name__}: {error})") from None
    return tuple(checks)


def _cause(value: object) -> Cause | None:
    return value if value in get_args(Cause) else None  # type: ignore[return-value]


def function_feedback(module: ModuleResult, function: str) -> list[str]:
    """What a notebook's test cell shows of one function: the module's notes, a line per
    check, and the points as its last line."""
    score, max_score = module.function_score(function)
    lines = [f"Note: {note}" for note in module.notes]
    lines += [
        f"{'✓' if c.passed else '✗'} {c.check}: {c.message}"
        for c in module.checks
        if c.function == function
    ]
    points = f"{format_points(score)} of {format_points(max_score)} points"
    return [*lines, f"{module.name}.{function}: {points}"]


def write_json(result: GradeResult, path: Path, settings: GradescopeSettings | None = None) -> None:
    """Writes results.json atomically: a reader sees the old file or the whole new one."""
    data = gradescope_results(result, settings)
    atomic_write(Path(path), json.dumps(data, indent=2) + "\n")


def atomic_write(path: Path, content: str | bytes) -> None:
    """Writes a file (text as UTF-8) through a temporary file and a rename, never
    half-written."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _scored(score: float, max_score: float, between: str = " / ") -> str:
    """'3.5 / 4': a score out of its maximum."""
    return f"{format_points(score)}{between}{format_points(max_score)}"
