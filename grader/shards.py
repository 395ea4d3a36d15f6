"""A class graded on several machines: shards of the class, and their merge.

`grade-batch --shard I/N` grades the I-th of N slices of the class, counting from 0 as a
Kubernetes Indexed Job's JOB_COMPLETION_INDEX does (a SLURM array runs as
`--array=0-(N-1)`): the students in name order, every N-th from the I-th, so the slices
are as even as can be whatever the names. A shard writes its students' results and
feedback only; a summary of a slice would say nothing of the class.

`merge` gathers the students' results of the shards' output folders into one, where the
class's outputs are made from them as after a single run (grader.batch): the same bytes,
since every output is a function of the saved results alone (grader.output.exports).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.batch import RESULTS, STUDENTS
from grader.errors import UsageError

_SHARD = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True)
class Shard:
    """The `index`-th (from 0) of `count` slices of a class."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """'I/N' with 0 <= I < N; a UsageError that shows the form otherwise."""
    match = _SHARD.fullmatch(text.strip())
    shard = Shard(int(match[1]), int(match[2])) if match else None
    if shard is None or not 0 <= shard.index < shard.count:
        raise UsageError(
            f"--shard {text}: expected I/N, the I-th of N slices counted from 0 "
            "(0 <= I < N, as JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID with --array=0-(N-1))"
        )
    return shard


def shard_students(students: Sequence[Path], shard: Shard) -> list[Path]:
    """The students of one shard: in name order, every `count`-th from the `index`-th."""
    return sorted(students, key=lambda s: s.name)[shard.index :: shard.count]


def gather(outs: Sequence[Path]) -> dict[str, Path]:
    """Each student's results.json in the output folders `outs`, by name; a student
    found in two folders is a UsageError (shards that overlap, or a folder twice)."""
    found: dict[str, Path] = {}
    for out in outs:
        if not (out / STUDENTS).is_dir():
            raise UsageError(f"no {STUDENTS}/ in {out}: not the output of grade-batch")
        for path in sorted((out / STUDENTS).glob(f"*/{RESULTS}")):
            name = path.parent.name
            if name in found:
                raise UsageError(f"{name} was graded in both {found[name].parents[2]} and {out}")
            found[name] = path
    if not found:
        raise UsageError(f"no results in {', '.join(map(str, outs))}")
    return found


def merge(outs: Sequence[Path], to: Path, force: bool = False) -> list[str]:
    """Copies the students' results of `outs` into `to`/students (replacing what was there
    with `force`); returns the students' names."""
    if any(out.resolve() == to.resolve() for out in outs):
        raise UsageError(f"--to {to} is one of the folders merged; merge into another")
    found = gather(outs)
    if to.exists() and not to.is_dir():
        raise UsageError(f"--to {to} is a file; merge into a folder")
    if to.exists() and any(to.iterdir()) and not force:
        raise UsageError(f"{to} exists and is not empty; pass --force to replace its results")
    shutil.rmtree(to / STUDENTS, ignore_errors=True)
    for name, results in found.items():
        folder = to / STUDENTS / name
        folder.mkdir(parents=True)
        shutil.copyfile(results, folder / RESULTS)
    return sorted(found)
