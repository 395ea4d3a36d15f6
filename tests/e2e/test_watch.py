"""`difflearn grade --watch`: the loop, driven without waiting, and its end on Ctrl-C."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from conftest import ROOT

from grader import cli
from grader.watch import watch


def test_watch_grades_everything_once_then_only_the_files_that_changed(tmp_path):
    first, second = tmp_path / "bce.py", tmp_path / "primitives.py"
    first.write_text("a = 1\n")
    second.write_text("b = 1\n")
    graded: list[list[Path]] = []
    # What the student does between two looks: save `second`, then nothing.
    edits = iter([lambda: second.write_text("b = 22\n"), lambda: None])
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        next(edits)()

    def grade_once(paths: Sequence[Path]) -> None:
        graded.append(list(paths))

    watch([first, second], grade_once, sleep=sleep, stop=lambda: len(sleeps) == 2)
    assert graded == [[first, second], [second]]
    assert sleeps == [1.0, 1.0]


def test_ctrl_c_ends_watching_with_a_short_line_and_status_0(monkeypatch, capsys):
    graded: list[Sequence[Path]] = []

    def interrupted(paths: Sequence[Path], grade_once: object) -> None:
        graded.append(paths)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "watch", interrupted)
    assert cli.main(["grade", "--watch", str(ROOT / "solutions" / "bce.py")]) == 0
    assert graded == [[ROOT / "solutions" / "bce.py"]]
    out = capsys.readouterr()
    assert out.out.strip().endswith("Stopped watching.") and out.err == ""
