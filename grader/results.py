"""The results of grading: per check, per module and for a whole submission.

Points are kept in hundredths: the manifest allocates each check a whole number of
them, sums are taken in whole hundredths (so 0.1 + 0.2 is 0.3, and a function's checks
add up to its points exactly), and every score is written by `format_points`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from grader.runner.sandbox import Sandbox

# Why a check failed without its answer being judged, where it was not: the function is a
# stub (NotImplementedError), its process crashed or ran out of time, its module could
# not be imported or its file was refused, the grader failed, or an assignment's module
# was not submitted. A class summary counts
# these apart from the mistakes that the checks judged (grader.output.exports).
Cause = Literal["not_implemented", "crash", "timeout", "not_imported", "grader", "not_submitted"]

HUNDREDTHS = 100  # the unit of points: a score has at most two decimals
MAX_MESSAGE_CHARS = 4000  # feedback quotes a submission's output: a bound for every report


def cut_message(message: str) -> str:
    """Feedback at most MAX_MESSAGE_CHARS long, marked where it was cut."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[:MAX_MESSAGE_CHARS] + " ... (cut)"


def to_hundredths(points: float) -> int:
    """`points` as a whole number of hundredths, to the nearest."""
    return round(points * HUNDREDTHS)


def round_points(points: float) -> float:
    """`points` to the nearest hundredth: the float that prints with at most two decimals."""
    return to_hundredths(points) / HUNDREDTHS


def sum_points(values: Iterable[float]) -> float:
    """The sum of point values, taken in whole hundredths so that no float noise
    (22.999899999999997 for 23) gets in."""
    return sum(map(to_hundredths, values)) / HUNDREDTHS


def format_points(points: float) -> str:
    """Points as every report writes them: at most two decimals, no trailing zeros
    ('23', '3.5', '0.67')."""
    # Through whole hundredths (an int), so that -0.001 reads '0', not '-0'.
    return f"{round_points(points):.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class CheckResult:
    module: str
    function: str
    check: str
    score: float
    max_score: float
    passed: bool
    message: str  # feedback, which may quote the submission: never read it as markup
    hidden: bool = False  # a hidden check: results.json may keep it from students for now
    cause: Cause | None = None  # why it failed unjudged; None for a judged answer

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", cut_message(self.message))

    @property
    def name(self) -> str:
        """The check's full name, as in reports: 'bce.sigmoid: finite gradients'."""
        return f"{self.module}.{self.function}: {self.check}"


def format_seconds(seconds: float) -> str:
    """A time as the report writes it: '48 s', '2.5 s', '0.03 s'."""
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"


SLOW_SHARE = 0.5  # of a function's time limit, past which the report hints at compiling


@dataclass(frozen=True)
class Timing:
    """The CPU time a function's probes took in the submission's process, and its limit
    (`time_s` in course.yml). It varies from run to run: reports show it, no score or
    check's message holds it."""

    cpu_s: float
    limit_s: float

    @property
    def slow(self) -> bool:
        """Whether it used more than SLOW_SHARE of its limit."""
        return self.cpu_s > SLOW_SHARE * self.limit_s

    def hint(self, function: str) -> str | None:
        """'fit_hmm took 48 s of its 120 s of CPU time: ...', where the function was slow."""
        if not self.slow:
            return None
        return (
            f"{function} took {format_seconds(self.cpu_s)} of its {format_seconds(self.limit_s)} "
            "of CPU time: is a Python loop doing what jax.lax.scan or jax.jit would compile?"
        )


@dataclass(frozen=True)
class ModuleResult:
    """One module's checks; `outputs` is what the submission printed, per function (a
    bounded head and tail of it, see grader.runner.process); `notes` say what of the module
    did not run (a notebook's cells that raised and were skipped, grader.course.notebooks);
    `times` what each function that answered took (not those that failed to)."""

    name: str
    title: str
    checks: tuple[CheckResult, ...]
    outputs: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    times: Mapping[str, Timing] = field(default_factory=dict)

    @property
    def hints(self) -> list[str]:
        """A line per function that came near its time limit."""
        return [h for f, t in self.times.items() if (h := t.hint(f)) is not None]

    @property
    def score(self) -> float:
        return sum_points(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum_points(c.max_score for c in self.checks)

    def function_score(self, function: str) -> tuple[float, float]:
        """(score, max_score) of one function's checks."""
        mine = [c for c in self.checks if c.function == function]
        return sum_points(c.score for c in mine), sum_points(c.max_score for c in mine)


@dataclass(frozen=True)
class GradeResult:
    """A whole submission's results; `sandbox` says how it was confined (for the report)."""

    modules: tuple[ModuleResult, ...]
    elapsed_s: float
    sandbox: Sandbox | None = None

    @property
    def score(self) -> float:
        return sum_points(m.score for m in self.modules)

    @property
    def max_score(self) -> float:
        return sum_points(m.max_score for m in self.modules)

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for m in self.modules for c in m.checks)
