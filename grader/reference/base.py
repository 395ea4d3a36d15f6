"""Where the expected outputs come from.

The engine asks a `Reference` for the outcomes of probes and never touches the
reference code itself, so a student's copy of the course serves recorded
outcomes where there is no `solutions/` folder (grader.reference.recorded). `LiveReference` runs
the reference solutions, loaded by path, in the grading process (trusted code).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from grader.course.namespace import Namespace
from grader.errors import UsageError
from grader.runner.probes import Outcome, Probe, ProbeKey


class CourseError(UsageError):
    """The course itself is broken: a reference that is missing or fails."""


class Reference(Protocol):
    """The expected outcomes of a course, whoever computes them: the live solutions
    (grader.reference.live) or a student copy's recording (grader.reference.recorded)."""

    def outcomes(
        self,
        module: str,
        function: str,
        probes: Mapping[ProbeKey, Probe],
        harness: str | None = None,
    ) -> dict[ProbeKey, Outcome]:
        """The expected outcome of each probe (run in `harness`, if any), by the probe's key."""
        ...

    def namespace(self, module: str) -> Namespace:
        """The names that course.yml's lambdas (samplers, outcome checks) run with, made
        when one first runs (grader.course.namespace)."""
        ...

    def inputs(self, module: str, function: str) -> Mapping[str, tuple[Any, ...]] | None:
        """Recorded arguments by case label; None where course.yml's specs draw them."""
        ...

    def private_paths(self) -> list[Path]:
        """Folders a submission's process must not see (the reference, its cache)."""
        ...

    def solution_file(self, module: str) -> Path | None:
        """The reference solution's file, where this reference has the code (not a copy)."""
        ...
