"""The pictures in summary.md: the scores per module, and the most failed checks.

matplotlib is imported here, inside the functions that draw, and only when a batch
writes its summary: `difflearn grade` and the students' runs never pay its import. Each
figure is drawn on its own Agg canvas (no pyplot, no interactive backend), with
matplotlib's default style whatever the machine's matplotlibrc says, at a fixed size and
dpi, and saved without the metadata that would carry a version or a date: the same
class gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from grader.output.exports import ClassStats, ModuleStats

DPI = 100
WIDTH_IN = 8.0
# Heights in binary fractions of an inch, so that every size is a whole number of pixels.
PANEL_IN = 1.5  # the height of a module's histogram
BAR_IN = 0.5  # the height of a failed check's bar
MARGIN_IN = 1.0  # titles and axes around the panels or bars
BINS = 10  # of the scores, in tenths of full marks
PERCENT_TICKS = range(0, 101, 20)
# Stable rendering settings: never read text as mathtext (a `$` in a check's title).
STYLE = {"text.parse_math": False, "font.size": 10}


def scores_png(stats: ClassStats) -> bytes:
    """A histogram per module of the scores of the students who submitted it, in percent
    of full marks: WIDTH_IN wide, PANEL_IN per module plus MARGIN_IN tall."""
    modules = stats.modules
    figure, canvas = new_figure(scores_height(len(modules)))
    axes = figure.subplots(len(modules), 1, sharex=True, squeeze=False)[:, 0]
    for ax, module in zip(axes, modules, strict=True):
        _histogram(ax, module)
    axes[-1].set_xlabel("score, of the module's full marks")
    figure.suptitle(f"Scores per module ({stats.students} students)")
    return png_bytes(canvas)


def _histogram(ax: Any, module: ModuleStats) -> None:
    percents = [100 * s / module.max_score if module.max_score else 0.0 for s in module.submitted]
    edges = [100 * i / BINS for i in range(BINS + 1)]
    ax.hist(percents, bins=edges, color="#4c72b0", edgecolor="white")
    ax.set_xlim(0, 100)
    ax.set_xticks(PERCENT_TICKS, labels=[f"{t}%" for t in PERCENT_TICKS])
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(
        f"{module.name}: {len(module.submitted)} of {module.students} submitted",
        loc="left",
        fontsize=10,
    )


def failed_png(stats: ClassStats) -> bytes:
    """A bar per check of the most failed, the share of the students judged who failed
    it: WIDTH_IN wide, BAR_IN per check plus MARGIN_IN tall."""
    failed = stats.most_failed
    figure, canvas = new_figure(failed_height(len(failed)))
    ax = figure.subplots()
    names = [name for name, _, _ in failed][::-1]  # the most failed at the top
    shares = [100 * count / judged for _, count, judged in failed][::-1]
    bars = ax.barh(range(len(failed)), shares, color="#c44e52")
    ax.set_yticks(range(len(failed)), labels=_short(names))
    ax.bar_label(bars, labels=[f"{c} of {j}" for _, c, j in failed][::-1], padding=3)
    ax.set_xlim(0, 115)  # room for the last label
    ax.set_xticks(PERCENT_TICKS, labels=[f"{t}%" for t in PERCENT_TICKS])
    ax.set_xlabel("students who failed it, of those whose function was judged")
    ax.set_title("Most failed checks", loc="left")
    return png_bytes(canvas)


def scores_height(modules: int) -> float:
    return PANEL_IN * modules + MARGIN_IN


def failed_height(checks: int) -> float:
    return BAR_IN * checks + MARGIN_IN


def _short(names: Sequence[str], width: int = 48) -> list[str]:
    return [n if len(n) <= width else n[: width - 3] + "..." for n in names]


def new_figure(height_in: float, width_in: float = WIDTH_IN) -> tuple[Any, Any]:
    """A figure on its own Agg canvas, of a fixed size at DPI (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    return figure, FigureCanvasAgg(figure)


def png_bytes(canvas: Any) -> bytes:
    buffer = io.BytesIO()
    # No "Software" (matplotlib's version) and no date: the bytes depend on the class only.
    canvas.figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def pictures(stats: ClassStats) -> dict[str, bytes]:
    """The summary's pictures by kind (exports.PICTURES): the scores where a module was
    graded, the failed checks where a judged check failed."""
    import matplotlib.style

    drawn: dict[str, bytes] = {}
    with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        if stats.modules:
            drawn["scores"] = scores_png(stats)
        if stats.most_failed:
            drawn["failed"] = failed_png(stats)
    return drawn
