"""How long grading takes: the whole course, cold and warm, against the in-process floor,
and a batch with 1 and 2 workers.

Prints one Markdown table:
  - `difflearn grade solutions/` with an empty compilation cache (cold) and again with
    the cache filled (warm), median of several runs;
  - the floor: the same checks with the "submission" run in the grading process, no
    child and no sandbox (trusted code only), in a fresh process with a warm cache;
  - `difflearn grade-batch` over N copies of the reference with 1 and 2 workers, warm.

With `--against DIR` (another checkout of the course, e.g. `git worktree add /tmp/before
HEAD~1`), it also grades solutions/ warm with DIR's grader, alternating runs with this
one's, and prints the ratio: what a change costs, measured side by side.

Run: python benchmarks/grading.py [--repeats 3] [--batch 40] [--modules bce ...]
     [--against DIR] [--skip-batch]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOOR = """
import sys
from pathlib import Path
from grader.checks import make_checks
from grader.engine import _judge, _score
from grader.course.schema import load_course
from grader.reference.live import LiveReference

course = load_course(Path(sys.argv[1]) / "course.yml")
expected_side = LiveReference(course.solutions_dir)
student_side = LiveReference(course.solutions_dir)  # the "submission", in this process
for module in course.modules:
    if sys.argv[2:] and module.name not in sys.argv[2:]:
        continue
    for function in module.functions:
        checks = make_checks(function, module.name, expected_side.namespace(module.name))
        probes = {}
        for check in checks:
            probes.update(check.probes())
        expected = expected_side.outcomes(module.name, function.name, probes, function.harness)
        actual = student_side.outcomes(module.name, function.name, probes, function.harness)
        _score(module, function, checks, [_judge(c, expected, actual) for c in checks])
"""


def timed(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def grader_command(checkout: Path) -> list[str]:
    """`difflearn` as another checkout's grader runs it (its own `grader` package)."""
    run = f"import sys; sys.path.insert(0, {str(checkout)!r}); from grader.cli import main; "
    return [sys.executable, "-c", run + "sys.exit(main())"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=40, help="submissions in the batch")
    parser.add_argument("--modules", nargs="*", default=[], help="default: the whole course")
    parser.add_argument("--against", type=Path, help="another checkout to compare warm runs with")
    parser.add_argument("--skip-batch", action="store_true", help="leave the batch rows out")
    args = parser.parse_args(argv)
    difflearn = shutil.which("difflearn") or str(Path(sys.executable).parent / "difflearn")
    selection = [flag for m in args.modules for flag in ("--module", m)]

    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "DIFFLEARN_CACHE_DIR": str(Path(scratch) / "cache")}
        grade = [difflearn, "grade", "solutions/", *selection]
        cold = timed(grade, env)
        warm = statistics.median(timed(grade, env) for _ in range(args.repeats))
        floor_command = [sys.executable, "-c", FLOOR, str(ROOT), *args.modules]
        floor = statistics.median(timed(floor_command, env) for _ in range(args.repeats))
        against: list[tuple[float, float]] = []
        if args.against is not None:
            other = args.against.resolve()
            other_env = {**env, "DIFFLEARN_CACHE_DIR": str(Path(scratch) / "other-cache")}
            other_grade = [*grader_command(other), "grade", "solutions/", *selection]
            timed(other_grade, other_env, cwd=other)  # its cold run
            for _ in range(args.repeats):  # alternating, so both see the same machine
                against.append((timed(grade, env), timed(other_grade, other_env, cwd=other)))

        submissions = Path(scratch) / "class"
        for i in range(args.batch):
            folder = submissions / f"student{i:03d}"
            folder.mkdir(parents=True)
            for module in args.modules or [p.stem for p in (ROOT / "solutions").glob("*.py")]:
                shutil.copy(ROOT / "solutions" / f"{module}.py", folder)
        batch = {}
        for workers in () if args.skip_batch else (1, 2):
            out = Path(scratch) / f"out{workers}"
            batch[workers] = timed(
                [
                    difflearn,
                    "grade-batch",
                    str(submissions),
                    "--out",
                    str(out),
                    "--workers",
                    str(workers),
                ],
                env,
            )

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    what = ", ".join(args.modules) or "the whole course"
    print(f"{what}; {machine}; Python {sys.version.split()[0]}; median of {args.repeats}")
    print()
    print("| measurement | seconds | note |")
    print("|---|---:|---|")
    print(f"| grade solutions/, cold cache | {cold:.1f} | goal: under 30 |")
    print(f"| grade solutions/, warm cache | {warm:.1f} | goal: under 10 |")
    print(
        f"| same checks in process (floor), warm | {floor:.1f} | "
        f"isolation costs {warm / floor:.2f}x the floor (goal: under 1.5x) |"
    )
    for workers, seconds in batch.items():
        print(
            f"| batch of {args.batch}, {workers} worker(s) | {seconds:.1f} | "
            f"{args.batch / seconds:.2f} submissions/s |"
        )
    if batch:
        print(
            f"| 2 workers against 1 | | {batch[1] / batch[2]:.2f}x the throughput "
            "(goal: at least 1.7x) |"
        )
    if against:
        mine = statistics.median(a for a, _ in against)
        theirs = statistics.median(b for _, b in against)
        print(
            f"| warm, {args.against}'s grader | {theirs:.1f} | this checkout takes "
            f"{mine / theirs:.2f}x its time ({mine:.1f} s; runs alternated) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
