"""Confinement: what a submission may read, spend and leave behind, in each sandbox mode.

Every attack runs in each mode (`mode` forces DIFFLEARN_SANDBOX) and asserts what that
mode promises (grader/runner/sandbox/README.md). Most attacks are oracles: the attacking
`double` returns the right answer (2x) only if the forbidden thing worked, and a wrong
one (3x) otherwise, so its score tells whether the sandbox held. The other functions
are the reference's, so a complete report with their full marks shows that the attack
cost nobody else anything.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from conftest import ROOT, TOY
from test_security import difflearn

from grader.batch import results_file, run_batch
from grader.course.specs import Course
from grader.engine import grade
from grader.reference.live import LiveReference
from grader.results import ModuleResult
from grader.runner import cache
from grader.runner.sandbox import JailLimits, cgroups

SOLUTION = (TOY / "solutions" / "toy.py").read_text(encoding="utf-8")
DOUBLE_POINTS = 2.0
TOY_POINTS = 9.0
NO_PROMISE = "the none mode promises no confinement"
GRADE_BOUND_S = 60.0

# The attacking double: `_forbidden()` is defined by each attack, and runs once per
# process (all of double's probes share one request and one time limit).
ORACLE = """

_outcome = None


def double(x):
    global _outcome
    if _outcome is None:
        _outcome = bool(_forbidden())
    return (2.0 if _outcome else 3.0) * x
"""


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder every user may pass through: pytest's own tmp_path is closed to other
    users, which would stop a user-mode attack for a reason the grader did not give."""
    folder = Path(tempfile.mkdtemp(prefix="confinement-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def skip_unless_confined(mode: str) -> None:
    if mode == "none":
        pytest.skip(NO_PROMISE)


@functools.cache
def cgroups_work() -> bool:
    """Whether the grader can make a cgroup here (as root, on most machines)."""
    group = cgroups.create(64 * 1024 * 1024, 8)
    if group is not None:
        group.remove()
    return group is not None


def skip_unless_tree_bounded(mode: str) -> None:
    """The none mode finds a submission's processes by its cgroup alone: without one, a
    daemon leaves its process tree and nothing bounds the number of processes."""
    if mode == "none" and not cgroups_work():
        pytest.skip(f"{NO_PROMISE} without a cgroup, which cannot be made here")


def attack(body: str) -> str:
    """The reference module with an oracle `double` whose `_forbidden` is `body`."""
    return SOLUTION + ORACLE + "\n\n" + dedent(body)


def submit(folder: Path, source: str, name: str = "toy.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(source, encoding="utf-8")
    return folder


def expected_checks(course: Course) -> set[tuple[str, str]]:
    return {(f.name, c.title) for f in course.module("toy").functions for c in f.checks}


def assert_complete(result: ModuleResult, course: Course) -> None:
    """Every check of every function has a result."""
    assert {(c.function, c.check) for c in result.checks} == expected_checks(course)


def grade_folder(
    course: Course, reference: LiveReference, folder: Path, bound_s: float = GRADE_BOUND_S
) -> ModuleResult:
    """Grades a submission folder: its complete toy module, within `bound_s` seconds."""
    started = time.monotonic()
    result = grade(course, folder, reference)
    elapsed = time.monotonic() - started
    assert elapsed < bound_s, f"grading took {elapsed:.1f} s"
    (module,) = result.modules
    assert_complete(module, course)
    return module


def double_score(result: ModuleResult) -> float:
    return result.function_score("double")[0]


def others_keep_their_points(result: ModuleResult) -> None:
    for function in ("cumulative_sum", "batched_dot"):
        score, max_score = result.function_score(function)
        failed = [c.message for c in result.checks if c.function == function and not c.passed]
        assert score == pytest.approx(max_score), failed


def attack_processes(argument: str) -> list[int]:
    """Live processes whose command line has `argument` (the attacks' `sleep` lengths are
    odd numbers of their own, so they are found whatever namespace they ran in)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if argument.encode() in arguments and state != b"Z":
            found.append(int(entry.name))
    return found


def wait_for_no_processes(argument: str, timeout_s: float = 10.0) -> list[int]:
    """The attack's processes still alive after `timeout_s` (a kill takes a moment)."""
    deadline = time.monotonic() + timeout_s
    while (left := attack_processes(argument)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture
def reap() -> Iterator[Callable[[str], None]]:
    """Kills, after the test, what an attack the test started left running (by pid)."""
    arguments: list[str] = []
    yield arguments.append
    for argument in arguments:
        for pid in attack_processes(argument):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def batch_results(out: Path, student: Path) -> dict[str, Any]:
    return json.loads(results_file(out, student).read_text(encoding="utf-8"))


def assert_batch_complete(data: dict[str, Any], course: Course) -> None:
    names = {f"toy.{function}: {check}" for function, check in expected_checks(course)}
    assert {t["name"] for t in data["tests"]} == names, data.get("output")


def assert_only_double_lost(data: dict[str, Any], course: Course, why: object) -> None:
    """A batch student's report is complete, and the attacking `double` earned nothing."""
    assert_batch_complete(data, course)
    assert batch_double_score(data) == 0, why
    assert data["score"] == pytest.approx(TOY_POINTS - DOUBLE_POINTS)


def batch_double_score(data: dict[str, Any]) -> float:
    return sum(t["score"] for t in data["tests"] if t["name"].startswith("toy.double:"))


def largest_file(folder: Path) -> int:
    sizes = [p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return max(sizes, default=0)


# --- what the grading process reads ----------------------------------------------------


def test_a_linked_module_is_refused(
    mode: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """A link to the solutions, as the module or as nbgrader's module folder, is refused."""
    linked_file = tmp_path / "file"
    linked_file.mkdir()
    (linked_file / "toy.py").symlink_to(TOY / "solutions" / "toy.py")
    linked_folder = tmp_path / "folder"
    linked_folder.mkdir()
    (linked_folder / "toy").symlink_to(TOY / "solutions", target_is_directory=True)
    for folder in (linked_file, linked_folder):
        result = grade_folder(toy_course, toy_reference, folder, bound_s=30)
        assert result.score == 0
        assert all("symbolic link" in c.message for c in result.checks), result.checks


@pytest.fixture(scope="module")
def class_batches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One class batch per mode, shared by the tests that read it (a batch starts JAX in
    every worker: shared, it costs its seconds once)."""
    made: dict[str, Any] = {"folders": []}
    yield made
    for folder in made["folders"]:
        shutil.rmtree(folder, ignore_errors=True)


def class_batch(mode: str, course: Course, batches: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """An nbgrader course folder (`source/` holds the solutions' notebook) and its
    `submitted/` class, graded with two workers:

    - alice: the reference, right;
    - mallory: doubles only if it can read alice's file;
    - linker: `toy.py` is a link to /proc/self/pagemap;
    - nosy (nbgrader's `toy/toy.py`): doubles only if it can read `source/`.
    """
    if mode not in batches:
        batches[mode] = _run_class_batch(mode, course, batches, tmp)
    # Checked by every test that reads it: a batch that finished late finished wrong.
    assert batches[mode]["elapsed"] < 180
    return batches[mode]


def _run_class_batch(
    mode: str, course: Course, batches: dict[str, Any], tmp: Path
) -> dict[str, Any]:
    course_dir = Path(tempfile.mkdtemp(prefix="confinement-course-"))
    course_dir.chmod(0o755)  # as an instructor's folder usually is: open to read
    batches["folders"].append(course_dir)
    notebook = course_dir / "source" / "toy" / "toy.ipynb"
    notebook.parent.mkdir(parents=True)
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "source": SOLUTION}
    notebook.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4}))
    submitted = course_dir / "submitted"
    alice = submit(submitted / "alice", SOLUTION)
    mallory = submit(
        submitted / "mallory",
        attack(f"""
            import glob
            import os

            def _forbidden():
                paths = [
                    {str(alice / "toy.py")!r},
                    os.path.join(os.path.dirname(__file__), "..", "alice", "toy.py"),
                    os.path.join("..", "alice", "toy.py"),
                    *glob.glob({str(submitted / "*" / "toy.py")!r}),
                ]
                for path in paths:
                    if "mallory" in path or os.path.islink(path):
                        continue  # its own file, and the linker's /proc/self/pagemap
                    try:
                        with open(path, "rb") as file:
                            if b"def double" in file.read(1 << 20):
                                return True
                    except OSError:
                        pass
                return False
            """),
    )
    linker = submitted / "linker"
    linker.mkdir()
    (linker / "toy.py").symlink_to("/proc/self/pagemap")
    nosy = submit(
        submitted / "nosy",
        attack(f"""
            def _forbidden():
                try:
                    with open({str(notebook)!r}) as file:
                        return "def double" in file.read()
                except OSError:
                    return False
            """),
        name="toy/toy.py",
    )
    out = tmp / f"grades-{mode}"
    started = time.monotonic()
    run_batch(course, submitted, out, workers=2)
    return {
        "elapsed": time.monotonic() - started,
        "out": out,
        **{s.name: batch_results(out, s) for s in (alice, mallory, linker, nosy)},
    }


def test_a_link_to_proc_pagemap_is_refused_quickly(
    mode: str,
    toy_course: Course,
    toy_reference: LiveReference,
    tmp_path: Path,
    class_batches: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """/proc/self/pagemap reads as a file of many gigabytes: refused, never read."""
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "toy.py").symlink_to("/proc/self/pagemap")
    result = grade_folder(toy_course, toy_reference, folder, bound_s=10)
    assert result.score == 0
    assert all("symbolic link" in c.message for c in result.checks)

    batch = class_batch(mode, toy_course, class_batches, tmp_path_factory.mktemp("batch"))
    assert_batch_complete(batch["alice"], toy_course)
    assert batch["alice"]["score"] == pytest.approx(TOY_POINTS)
    linker = batch["linker"]
    assert_batch_complete(linker, toy_course)
    assert linker["score"] == 0
    assert all("symbolic link" in t["output"] for t in linker["tests"])
    assert largest_file(batch["out"]) < 1024 * 1024


@pytest.mark.parametrize("kind", ["fifo", "folder", "two megabytes"])
def test_what_is_not_a_small_regular_file_is_refused_in_one_line(
    mode: str, kind: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """A FIFO (which would block a reader), a folder, or a file past the size bound."""
    module = tmp_path / "toy.py"
    if kind == "fifo":
        os.mkfifo(module)
    elif kind == "folder":
        module.mkdir()
    else:
        module.write_text(SOLUTION + "#" * (2 * 1024 * 1024) + "\n")
    result = grade_folder(toy_course, toy_reference, tmp_path, bound_s=10)
    assert result.score == 0
    messages = {c.message for c in result.checks}
    assert len(messages) == 1, messages
    message = messages.pop()
    assert "\n" not in message and "toy.py" in message, message
    reason = "larger than" if kind == "two megabytes" else "not a regular file"
    assert reason in message


# --- what the child reads ---------------------------------------------------------------


def test_a_classmates_files_cannot_be_read(
    mode: str,
    toy_course: Course,
    class_batches: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """mallory doubles only if it can read alice's file (absolute, relative, globbed)."""
    skip_unless_confined(mode)
    batch = class_batch(mode, toy_course, class_batches, tmp_path_factory.mktemp("batch"))
    assert batch["alice"]["score"] == pytest.approx(TOY_POINTS)
    assert_only_double_lost(batch["mallory"], toy_course, batch["mallory"]["tests"])


COURSE_FILES = {
    "toy solutions": TOY / "solutions" / "toy.py",
    "toy course.yml": TOY / "course.yml",
    "the repository's .git": ROOT / ".git" / "HEAD",
    "the repository's solutions": ROOT / "solutions" / "bce.py",
}


@pytest.mark.parametrize("target", list(COURSE_FILES))
def test_the_course_cannot_be_read(
    mode: str, target: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """The course folder, the repository around it (its .git holds the solutions' history)."""
    skip_unless_confined(mode)
    path = COURSE_FILES[target]
    source = attack(f"""
        def _forbidden():
            try:
                with open({str(path)!r}, "rb") as file:
                    return len(file.read(64)) > 0
            except OSError:
                return False
        """)
    result = grade_folder(toy_course, toy_reference, submit(tmp_path, source))
    others_keep_their_points(result)
    assert double_score(result) == 0, f"{path} was readable in the {mode} mode"


def test_an_nbgrader_source_folder_cannot_be_read_in_a_batch(
    mode: str,
    toy_course: Course,
    class_batches: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """grade-batch course/submitted/: source/ beside it holds the solutions' notebooks."""
    skip_unless_confined(mode)
    batch = class_batch(mode, toy_course, class_batches, tmp_path_factory.mktemp("batch"))
    assert_only_double_lost(batch["nosy"], toy_course, "source/toy/toy.ipynb was readable")


def test_the_child_is_not_root_and_cannot_read_shadow(
    mode: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """double doubles if it runs as root or can read /etc/shadow."""
    skip_unless_confined(mode)
    source = attack("""
        import os

        def _forbidden():
            if os.getuid() == 0 or os.geteuid() == 0:
                return True
            try:
                with open("/etc/shadow", "rb") as file:
                    return len(file.read(1)) > 0
            except OSError:
                return False
        """)
    result = grade_folder(toy_course, toy_reference, submit(tmp_path, source))
    others_keep_their_points(result)
    assert double_score(result) == 0


def test_the_network_cannot_be_reached(
    mode: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """Only bubblewrap has a network namespace; the other modes do not promise this."""
    if mode != "bubblewrap":
        pytest.skip(f"the {mode} mode does not confine the network (see the sandbox README)")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        source = attack(f"""
            import socket

            def _forbidden():
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                    return True
                except OSError:
                    return False
            """)
        result = grade_folder(toy_course, toy_reference, submit(tmp_path, source))
    others_keep_their_points(result)
    assert double_score(result) == 0


# --- the compilation cache --------------------------------------------------------------


def cache_layers() -> list[Path]:
    """The grader's own cache folders (the trusted layer and the reference's)."""
    layers = [cache.cache_dir(cache.CHILDREN), cache.cache_dir(cache.REFERENCE)]
    return [layer for layer in layers if layer is not None]


def marked(folders: list[Path], marker: str) -> list[Path]:
    return [p for folder in folders for p in folder.rglob(f"*{marker}*")]


def test_the_compilation_cache_cannot_be_poisoned(
    mode: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """A leaves a marker everywhere it can guess a cache is; B and C are graded after.
    B doubles only if it sees no marker (an honest student must not lose points), C only
    if it sees one (a planted answer must not lift a wrong one)."""
    # Without confinement the child runs as the grading user and may write whatever that
    # user may, its caches included: the none mode promises nothing here.
    skip_unless_confined(mode)
    marker = f"poison-{secrets.token_hex(6)}"
    layers = cache_layers()
    # A knows the layout (the real folders of this run) and guesses the rest.
    poisoner = SOLUTION + dedent(f"""

        import glob
        import os

        def _plant():
            own = os.environ.get("JAX_COMPILATION_CACHE_DIR", "")
            guesses = {{
                own,
                os.environ.get("DIFFLEARN_CACHE_SEED", ""),
                os.environ.get("DIFFLEARN_CACHE_DIR", ""),
                *{[str(layer) for layer in layers]!r},
            }}
            patterns = [
                os.path.join(own, "..", "*"),
                os.path.expanduser("~/.cache/difflearn/*"),
                os.path.join(os.environ.get("DIFFLEARN_CACHE_DIR", "/nonexistent"), "*"),
            ]
            for pattern in patterns:
                guesses.update(glob.glob(pattern))
            for folder in filter(None, guesses):
                try:
                    with open(os.path.join(folder, "{marker}"), "w") as file:
                        file.write("2x")
                except OSError:
                    pass

        _plant()
        """)
    looks = dedent("""
        import os

        def _seen():
            for variable in ("JAX_COMPILATION_CACHE_DIR", "DIFFLEARN_CACHE_SEED"):
                for _, _, files in os.walk(os.environ.get(variable, "/nonexistent")):
                    if any("{marker}" in name for name in files):
                        return True
            return False
        """).replace("{marker}", marker)
    honest = attack(looks + "\n\ndef _forbidden():\n    return not _seen()\n")
    lifted = attack(looks + "\n\ndef _forbidden():\n    return _seen()\n")
    try:
        planted = grade_folder(toy_course, toy_reference, submit(tmp_path / "a", poisoner))
        assert planted.score == pytest.approx(TOY_POINTS)
        victim = grade_folder(toy_course, toy_reference, submit(tmp_path / "b", honest))
        beneficiary = grade_folder(toy_course, toy_reference, submit(tmp_path / "c", lifted))
        # All three at once, so that a failure shows how far the poison went.
        found = {
            "markers in the grader's cache": marked(layers, marker),
            "the honest double's points": double_score(victim),
            "the lifted double's points": double_score(beneficiary),
        }
        assert found == {
            "markers in the grader's cache": [],
            "the honest double's points": pytest.approx(DOUBLE_POINTS),
            "the lifted double's points": 0,
        }
    finally:
        for path in marked(layers, marker):
            path.unlink(missing_ok=True)


def test_the_reference_answers_can_be_neither_read_nor_forged(
    mode: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """The kept answers (grader.reference.memo), hidden and unseen cases among them, are
    the grading process's: a child that finds them could copy the answers, and one that
    writes them would set what everyone after it is compared with."""
    skip_unless_confined(mode)
    assert toy_reference.memo is not None, "the tests run with the cache on"
    grade_folder(toy_course, toy_reference, submit(tmp_path / "first", SOLUTION))
    kept = sorted(toy_reference.memo.folder.glob("*.json.gz"))
    assert kept, "grading filled the memo"
    before = {path: path.read_bytes() for path in kept}
    source = attack(f"""
        import os

        def _forbidden():
            touched = False
            for path in {[str(path) for path in kept]!r}:
                for how in ("rb", "ab"):
                    try:
                        with open(path, how) as file:
                            file.write(b"forged") if how == "ab" else file.read(1)
                        touched = True
                    except OSError:
                        pass
            return touched or os.path.exists({str(toy_reference.memo.folder)!r})
        """)
    result = grade_folder(toy_course, toy_reference, submit(tmp_path / "attack", source))
    others_keep_their_points(result)
    assert double_score(result) == 0
    assert {path: path.read_bytes() for path in kept} == before


# --- what the child spends --------------------------------------------------------------


def test_forked_children_share_one_memory_bound(
    mode: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """Three processes each holding half the module's memory: together, over its bound.
    They are fresh Pythons (a fork of the child would hit RLIMIT_AS on its own), so only
    a bound on the whole tree can stop them."""
    hold_mb = toy_course.module("toy").limits.memory_mb // 2
    holder = (
        "import os, sys, time\n"
        "import numpy as np\n"
        f"held = np.ones({hold_mb} * 1024 * 1024 // 8)\n"
        "os.write(int(sys.argv[1]), b'1')\n"
        "time.sleep(3)\n"
    )
    source = attack(f"""
        import os
        import subprocess
        import sys
        import time

        def _forbidden():
            read, write = os.pipe()
            holders = [
                subprocess.Popen([sys.executable, "-I", "-c", {holder!r}, str(write)],
                                 pass_fds=(write,))
                for _ in range(3)
            ]
            os.close(write)
            held = b""
            deadline = time.monotonic() + 20
            while len(held) < 3 and time.monotonic() < deadline:
                chunk = os.read(read, 3)
                if not chunk:
                    break  # every holder has ended
                held += chunk
            at_once = len(held) == 3 and all(p.poll() is None for p in holders)
            for process in holders:
                process.kill()
                process.wait()
            return at_once
        """)
    result = grade_folder(toy_course, toy_reference, submit(tmp_path, source))
    others_keep_their_points(result)
    assert double_score(result) == 0, [c.message for c in result.checks]


BOMB_SLEEP = "731.5"
# The bomb forks from a small Python of its own: forking JAX's large process takes
# milliseconds each, too slow to reach the bound within the time limit. Each child
# sleeps with its output on /dev/null (holding the pipe open would hang the count).
BOMBER = f"""
import os, time
started = 0
deadline = time.monotonic() + 3
for _ in range(1500):
    if time.monotonic() > deadline:
        break
    try:
        pid = os.fork()
    except OSError:
        continue
    if pid == 0:
        try:
            null = os.open("/dev/null", os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.execv("/bin/sleep", ["sleep", "{BOMB_SLEEP}"])
        finally:
            os._exit(0)
    started += 1
print(started)
"""


def test_a_fork_bomb_ends_with_its_submission(
    mode: str,
    toy_course: Course,
    toy_reference: LiveReference,
    tmp_path: Path,
    reap: Callable[[str], None],
) -> None:
    """double forks as fast as it can for a few seconds, each child sleeping; it doubles
    only if it got more processes than the submission's bound. Bounded by the attack
    itself too (1500 forks, 3 s): a grader without a bound must not take the machine
    down with it."""
    skip_unless_tree_bounded(mode)
    reap(BOMB_SLEEP)
    processes = JailLimits(memory_mb=1).processes
    source = attack(f"""
        import subprocess
        import sys

        def _forbidden():
            run = subprocess.run([sys.executable, "-I", "-S", "-c", {BOMBER!r}],
                                 capture_output=True, text=True, timeout=30)
            return int(run.stdout or 0) > {processes}
        """)
    result = grade_folder(toy_course, toy_reference, submit(tmp_path, source), bound_s=90)
    others_keep_their_points(result)
    assert double_score(result) == 0, [c.message for c in result.checks]
    assert wait_for_no_processes(BOMB_SLEEP) == []


DAEMON_SLEEP = "923.25"


def test_a_daemon_does_not_outlive_its_submission(
    mode: str,
    toy_course: Course,
    toy_reference: LiveReference,
    tmp_path: Path,
    reap: Callable[[str], None],
) -> None:
    """double starts a daemon (a double fork and setsid) and returns the right answer."""
    skip_unless_tree_bounded(mode)
    reap(DAEMON_SLEEP)
    source = attack(f"""
        import os

        def _forbidden():
            pid = os.fork()
            if pid == 0:
                try:
                    os.setsid()
                    if os.fork() == 0:
                        os.execv("/bin/sleep", ["sleep", "{DAEMON_SLEEP}"])
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
            return True
        """)
    result = grade_folder(toy_course, toy_reference, submit(tmp_path, source))
    assert result.score == pytest.approx(TOY_POINTS)
    assert wait_for_no_processes(DAEMON_SLEEP) == []


def shared_temporary_leftovers(token: str) -> list[Path]:
    return [p for folder in ("/tmp", "/dev/shm") for p in Path(folder).glob(f"*{token}*")]


def test_filling_tmp_is_bounded_and_swept(
    mode: str, toy_course: Course, toy_reference: LiveReference, tmp_path: Path
) -> None:
    """600 MB into /tmp and into /dev/shm, in 16 MB files, at the top and in a folder."""
    skip_unless_confined(mode)
    token = f"fill-{secrets.token_hex(6)}"
    source = attack(f"""
        import os

        def _forbidden():
            block = b"x" * 16_000_000
            written = True
            for top in ("/tmp", "/dev/shm"):
                folder = os.path.join(top, "{token}-folder")
                os.makedirs(folder, exist_ok=True)
                for i in range(38):
                    where = folder if i % 2 else top
                    try:
                        with open(os.path.join(where, f"{token}-{{i}}"), "wb") as file:
                            file.write(block)
                    except OSError:
                        written = False
                        break  # full: on to the other folder
            return written
        """)
    try:
        result = grade_folder(toy_course, toy_reference, submit(tmp_path, source))
        others_keep_their_points(result)
        if mode == "bubblewrap":
            # Its /tmp and /dev/shm are tmpfs mounts of 256 MB of its own.
            assert double_score(result) == 0
        else:
            # The host's /tmp takes it all: the writes succeeded, and were swept after.
            assert double_score(result) == pytest.approx(DOUBLE_POINTS)
        assert shared_temporary_leftovers(token) == []
    finally:
        for path in shared_temporary_leftovers(token):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def test_a_cpu_burning_classmate_costs_nobody_points(
    mode: str, toy_course: Course, open_tmp: Path
) -> None:
    """mallory starts 16 busy loops at import and stalls in its functions while they run;
    alice's right double needs 2.5 s of CPU, which her time limit counts, not the wall."""
    alice = submit(
        open_tmp / "class" / "alice",
        SOLUTION
        + dedent("""

            import time

            _burnt = False

            def double(x):
                global _burnt
                if not _burnt:  # once: every probe of a request shares its time limit
                    started = time.process_time()
                    while time.process_time() - started < 2.5:
                        pass
                    _burnt = True
                return 2.0 * x
            """),
    )
    submit(
        open_tmp / "class" / "mallory",
        dedent("""
            import os
            import time

            for _ in range(16):
                if os.fork() == 0:
                    while True:
                        pass

            def cumulative_sum(xs):
                time.sleep(60)

            def batched_dot(A, B):
                time.sleep(60)

            def double(x):
                return 3.0 * x
            """),
    )
    out = open_tmp / "grades"
    started = time.monotonic()
    run_batch(toy_course, open_tmp / "class", out, workers=2)
    assert time.monotonic() - started < 150
    data = batch_results(out, alice)
    assert_batch_complete(data, toy_course)
    failed = [f"{t['name']}: {t['output']}" for t in data["tests"] if t["status"] != "passed"]
    assert data["score"] == pytest.approx(TOY_POINTS), failed


# --- what the child prints --------------------------------------------------------------


def test_printing_50_megabytes_costs_no_points(
    mode: str, toy_course: Course, tmp_path: Path
) -> None:
    """The output is drained while it comes (a full pipe would stall the child), and the
    report shows a bounded part of it, its head included."""
    head = f"FLOODHEAD{secrets.token_hex(4)}"
    source = SOLUTION + dedent(f"""

        def double(x):
            print("{head}")
            line = "y" * 99
            for _ in range(500_000):
                print(line)
            return 2.0 * x
        """)
    folder = submit(tmp_path / "submission", source)
    out = tmp_path / "results.json"
    started = time.monotonic()
    run = difflearn("grade", str(folder), "--show-output", "--json", str(out))
    assert time.monotonic() - started < 120
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(out.read_text())
    names = {f"toy.{function}: {check}" for function, check in expected_checks(toy_course)}
    assert {t["name"] for t in results["tests"]} == names
    failed = [f"{t['name']}: {t['output']}" for t in results["tests"] if t["status"] != "passed"]
    assert results["score"] == pytest.approx(TOY_POINTS), failed
    assert len(run.stdout.encode()) < 100_000
    assert head in run.stdout
