"""The sandbox's choice is never silent, and its own safeguards hold.

The attacks themselves are in test_confinement.py; these are the rules around them: a
forced mode that cannot run refuses to grade, the report and results.json say which mode
graded, and the user mode never closes a system folder to other users.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TOY
from test_security import difflearn

from grader.errors import UsageError
from grader.runner.sandbox import bubblewrap, close_to_others, current_sandbox


def test_forcing_bubblewrap_where_it_cannot_run_refuses_to_grade(tmp_path):
    # A PATH with this Python and the difflearn command, but no bwrap.
    env = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent),
        "DIFFLEARN_SANDBOX": "bubblewrap",
    }
    run = difflearn("grade", str(TOY / "solutions"), env=env)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "difflearn: error: DIFFLEARN_SANDBOX=bubblewrap, but bubblewrap cannot run here: "
        "bwrap is not installed"
    )


def test_an_unknown_mode_is_a_one_line_error():
    env = {**os.environ, "DIFFLEARN_SANDBOX": "docker"}
    run = difflearn("grade", str(TOY / "solutions"), env=env)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "expected auto, bubblewrap, user, none" in run.stderr


def test_the_report_and_results_json_say_which_mode_graded(tmp_path):
    out = tmp_path / "results.json"
    run = difflearn("grade", str(TOY / "solutions"), "--json", str(out))
    assert run.returncode == 0, run.stderr
    mode = current_sandbox().mode
    assert f"Sandbox: {mode}" in run.stdout
    extra = json.loads(out.read_text())["extra_data"]
    assert extra["sandbox"] == mode and extra["cgroups"] == current_sandbox().cgroups


def test_a_forced_weaker_mode_says_why(monkeypatch):
    monkeypatch.setenv("DIFFLEARN_SANDBOX", "none")
    current_sandbox.cache_clear()
    try:
        sandbox = current_sandbox()
        bound = "a cgroup" if sandbox.cgroups else "no cgroup (per-process limits)"
        assert sandbox.description == f"none (forced by DIFFLEARN_SANDBOX); {bound} per submission"
    finally:
        current_sandbox.cache_clear()


@pytest.mark.parametrize("folder", ["/", "/tmp", "/usr", str(ROOT.anchor)])
def test_the_user_mode_never_closes_a_system_folder(folder):
    before = os.stat(folder).st_mode
    with pytest.raises(UsageError, match="top-level folder"):
        close_to_others([Path(folder)])
    assert os.stat(folder).st_mode == before


def test_closing_keeps_the_way_to_the_runtime_open(tmp_path, monkeypatch):
    """A course folder holding its virtual environment: closed, but passable to it."""
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "solutions" / "toy.py").write_text("secret = 1\n")
    (course / ".venv" / "lib").mkdir(parents=True)
    monkeypatch.setattr(bubblewrap, "runtime_folders", lambda: [course / ".venv"])
    close_to_others([course])
    assert course.stat().st_mode & 0o007 == 0o001  # passable, not listable
    assert (course / "solutions").stat().st_mode & 0o007 == 0
    assert (course / ".venv").stat().st_mode & 0o005 == 0o005
