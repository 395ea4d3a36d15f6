"""The results of grading: per check, per module and for a whole submission."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    module: str
    function: str
    check: str
    score: float
    max_score: float
    passed: bool
    message: str

    @property
    def name(self) -> str:
        """The check's full name, as in reports: 'bce.sigmoid: finite gradients'."""
        return f"{self.module}.{self.function}: {self.check}"


@dataclass(frozen=True)
class ModuleResult:
    name: str
    title: str
    checks: tuple[CheckResult, ...]

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    def function_score(self, function: str) -> tuple[float, float]:
        """(score, max_score) of one function's checks."""
        mine = [c for c in self.checks if c.function == function]
        return sum(c.score for c in mine), sum(c.max_score for c in mine)


@dataclass(frozen=True)
class GradeResult:
    modules: tuple[ModuleResult, ...]
    elapsed_s: float

    @property
    def score(self) -> float:
        return sum(m.score for m in self.modules)

    @property
    def max_score(self) -> float:
        return sum(m.max_score for m in self.modules)

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for m in self.modules for c in m.checks)
