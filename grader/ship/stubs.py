"""Student stubs generated from reference solutions.

A reference marks what students write with nbgrader's markers:

    def square(x):
        \"\"\"docstring\"\"\"
        ### BEGIN SOLUTION
        return x * x
        ### END SOLUTION

`make_stub` replaces each marked region, markers included, with nbgrader's
placeholder at the indentation of the BEGIN marker. A region at module level
becomes the comment alone, so the stub still imports.
"""

from __future__ import annotations

from pathlib import Path

from grader.course.specs import Course
from grader.errors import UsageError

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
PLACEHOLDER = ("# YOUR CODE HERE", "raise NotImplementedError()")


class StubError(ValueError):
    """A solution file whose markers do not pair up."""


def make_stub(source: str, filename: str = "<solution>") -> str:
    """Returns `source` with every marked solution region replaced by a placeholder."""
    out: list[str] = []
    begin_line: int | None = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN_MARKER:
            if begin_line is not None:
                raise StubError(
                    f"{filename}:{number}: {BEGIN_MARKER} inside the region opened at line "
                    f"{begin_line}"
                )
            begin_line = number
            indent = line[: len(line) - len(line.lstrip())]
            placeholder = PLACEHOLDER if indent else PLACEHOLDER[:1]
            out.extend(f"{indent}{text}\n" for text in placeholder)
        elif stripped == END_MARKER:
            if begin_line is None:
                raise StubError(f"{filename}:{number}: {END_MARKER} without a {BEGIN_MARKER}")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise StubError(f"{filename}:{begin_line}: {BEGIN_MARKER} is never closed")
    return "".join(out)


def stub_for(solution_file: Path) -> str:
    """The stub generated from one solution file."""
    return make_stub(solution_file.read_text(encoding="utf-8"), filename=str(solution_file))


def course_stubs(course: Course) -> dict[str, str]:
    """The stub of every module of the course, by module name; a one-line error for a
    missing solution or markers that do not pair up."""
    stubs = {}
    for module in course.modules:
        solution = course.solutions_dir / f"{module.name}.py"
        if not solution.is_file():
            raise UsageError(f"no reference solution {solution} for module {module.name!r}")
        try:
            stubs[module.name] = stub_for(solution)
        except StubError as error:
            raise UsageError(str(error)) from None
    return stubs
