"""How long grading takes, against the floor of one JAX process (issue #17's table).

Prints one Markdown table, every row measured in this run, on this machine:
  - the floor: a fresh Python that imports JAX and makes one array;
  - `difflearn grade solutions/` (a correct submission) with `--module bce`, with
    `--module hmm` and for the whole course, on a warm cache;
  - the whole course again, each run with an empty cache (cold);
  - a student's first run: `difflearn grade exercises/` (all stubs) in a released
    copy of the course, with an empty cache;
  - `difflearn grade-batch` over N copies of the reference, 2 workers, warm.
Each row is the median of `--repeats` runs of the whole command, wall time.

With `--against DIR` (another checkout of the course, e.g. `git worktree add /tmp/before
HEAD~1`), the warm whole-course grade is also timed with DIR's grader, alternating runs
with this one's, and the ratio printed: what a change costs, measured side by side.

Run: python benchmarks/grading.py [--repeats 3] [--batch 40] [--against DIR] [--skip-batch]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import jax, jax.numpy as jnp; jnp.ones(3).block_until_ready()"


def timed(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def median(runs: int, measure: Callable[[], float]) -> float:
    value = statistics.median(measure() for _ in range(runs))
    print(f"  measured: {value:.2f} s", file=sys.stderr, flush=True)  # progress, for long runs
    return value


def grader_command(checkout: Path) -> list[str]:
    """`difflearn` as a checkout's grader runs it (its own `grader` package)."""
    run = f"import sys; sys.path.insert(0, {str(checkout)!r}); from grader.cli import main; "
    return [sys.executable, "-c", run + "sys.exit(main())"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per median")
    parser.add_argument("--batch", type=int, default=40, help="submissions in the batch")
    parser.add_argument("--against", type=Path, help="another checkout to compare warm runs with")
    parser.add_argument("--skip-batch", action="store_true", help="leave the batch row out")
    args = parser.parse_args(argv)
    difflearn = grader_command(ROOT)
    rows: list[tuple[str, float, str, str]] = []  # what, seconds (or a rate), unit, goal

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        counter = iter(range(10**6))

        def environment(cache: Path | None = None) -> dict[str, str]:
            cache = cache or scratch / f"cache-{next(counter)}"  # a new one: empty
            return {**os.environ, "DIFFLEARN_CACHE_DIR": str(cache)}

        warm_env = environment(scratch / "warm")
        grade = [*difflearn, "grade", "solutions/"]
        timed(grade, warm_env)  # fills the warm cache

        rows.append(
            (
                "`import jax; jnp.ones(3)` (the floor)",
                median(args.repeats, lambda: timed([sys.executable, "-c", FLOOR], warm_env)),
                "s",
                "-",
            )
        )
        for module, goal in (("bce", "1.5"), ("hmm", "3")):
            seconds = median(
                args.repeats, lambda m=module: timed([*grade, "--module", m], warm_env)
            )
            rows.append((f"grade solutions/ --module {module}, warm", seconds, "s", f"≤ {goal} s"))
        rows.append(
            (
                "grade solutions/ (whole course), warm",
                median(args.repeats, lambda: timed(grade, warm_env)),
                "s",
                "≤ 4 s",
            )
        )
        rows.append(
            (
                "the same, empty cache (cold)",
                median(args.repeats, lambda: timed(grade, environment())),
                "s",
                "≤ 15 s",
            )
        )

        copy = scratch / "copy"
        subprocess.run(
            [*difflearn, "release", "--to", str(copy)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env=environment(),
        )
        stubs = [*grader_command(copy), "grade", "exercises/"]
        rows.append(("grade the stubs in a released copy, empty cache (a student's first run)",
                     median(args.repeats, lambda: timed(stubs, environment(), cwd=copy)), "s",
                     "≤ 3 s"))  # fmt: skip

        if not args.skip_batch:
            submissions = scratch / "class"
            for i in range(args.batch):
                shutil.copytree(ROOT / "solutions", submissions / f"student{i:03d}")
            out = iter(range(10**6))
            batch = median(args.repeats, lambda: timed(
                [*difflearn, "grade-batch", str(submissions), "--out",
                 str(scratch / f"out{next(out)}"), "--workers", "2"], warm_env))  # fmt: skip
            rows.append((f"grade-batch of {args.batch} correct submissions, 2 workers",
                         args.batch / batch, "students/s", "≥ 1 students/s"))  # fmt: skip

        against: list[tuple[float, float]] = []
        if args.against is not None:
            other = args.against.resolve()
            other_env = environment(scratch / "other-warm")
            other_grade = [*grader_command(other), "grade", "solutions/"]
            timed(other_grade, other_env, cwd=other)  # fills its warm cache
            for _ in range(args.repeats):  # alternating, so both see the same machine
                against.append((timed(grade, warm_env), timed(other_grade, other_env, cwd=other)))

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"{machine}; Python {sys.version.split()[0]}; median of {args.repeats} runs each")
    print()
    print("| what | measured | goal |")
    print("|---|---:|---:|")
    for what, value, unit, goal in rows:
        shown = f"{value:.2f} {unit}" if unit != "s" else f"{value:.1f} s"
        print(f"| {what} | {shown} | {goal} |")
    if against:
        mine = statistics.median(a for a, _ in against)
        theirs = statistics.median(b for _, b in against)
        print(
            f"| warm whole course, {args.against}'s grader | {theirs:.1f} s | this checkout "
            f"takes {mine / theirs:.2f}x its time ({mine:.1f} s; runs alternated) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
