"""Running a submission in a process of its own.

The grading process never imports student code. `SubmissionProcess` starts
`python -I` running `grader.child` on one student's submission, has it import the
submitted modules one by one, sends it probes and reads back their outcomes
over a pair of pipes. One process serves the whole submission, so JAX starts
once per student. A request that runs past its time limit, or a process that
dies (`os._exit`, a segfault, the memory limit), ends as a `Failure` for that
request alone: the process is killed and the next request starts a fresh one,
which imports again the modules it needs.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grader
from grader.cache import SUBMISSIONS, cache_dir, jax_cache_environment
from grader.errors import UsageError
from grader.notebooks import module_source
from grader.probes import ErrorInfo, Outcome, Probe
from grader.sandbox import current_sandbox
from grader.wire import WireError, decode, encode, read_frame, write_frame

OUTPUT_TAIL_BYTES = 2000
# The child runs this grader package, loaded by its path: whatever `grader` another
# installation or a student's folder offers, and without the folder around it (the
# course) on sys.path.
CHILD_BOOTSTRAP = """\
import importlib.util, sys
package = sys.argv[1]
spec = importlib.util.spec_from_file_location(
    "grader", package + "/__init__.py", submodule_search_locations=[package])
sys.modules["grader"] = module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from grader.child import main
sys.exit(main(sys.argv[2:]))
"""
_END = object()


@dataclass(frozen=True)
class Failure:
    """A request that produced no outcomes: `kind` is 'timeout' or 'crash'."""

    kind: str
    message: str


@dataclass(frozen=True)
class ImportFailure:
    """The submitted module raised while being imported."""

    error: ErrorInfo


class SubmissionProcess:
    """One student's submitted modules, imported in a child process, answering probes."""

    def __init__(self, submission: Path, memory_mb: int, hidden: Sequence[Path] = ()):
        """`submission` is a folder of modules, or one module file (the Python files
        beside it are copied too, for its own imports). Notebooks become modules
        (grader.notebooks) where no `.py` file of the same name is there. The process may use
        `memory_mb` of address space at most; each module can ask for less (`load`).
        `hidden` folders (the course, the reference's cache) are kept from the child
        where the sandbox allows (see grader.sandbox)."""
        self.memory_mb = memory_mb
        self.hidden = tuple(hidden)
        self.sandbox = current_sandbox()
        # The grading process's own folder holds the output log; the child gets a
        # working folder inside it, with a copy of the submission's Python files.
        self._private = tempfile.TemporaryDirectory(prefix="difflearn-")
        self._workdir = Path(self._private.name) / "work"
        self._submission = self._workdir / "submission"
        self._submission.mkdir(parents=True)
        folder = Path(submission).resolve()
        _copy_submission(folder.parent if folder.is_file() else folder, self._submission)
        self.sandbox.grant(self._workdir)
        self._process: subprocess.Popen[bytes] | None = None
        self._request_fd = -1
        self._responses: queue.Queue[tuple[float, Any]] = queue.Queue()
        self._sent_at = 0.0
        self._loaded: set[str] = set()

    def __enter__(self) -> SubmissionProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def loaded(self, module_name: str) -> bool:
        """Whether the running process has imported `module_name`."""
        return module_name in self._loaded

    def load(
        self, module_name: str, time_limit: float, memory_mb: int | None = None
    ) -> Failure | ImportFailure | None:
        """Imports one submitted module, starting the process first if need be; None
        once it is imported. Its functions then run under `memory_mb` (at most the
        process's limit). A module that fails to import stops the process, so that
        what its top-level code did cannot reach the next module."""
        if self._process is None:
            started = self._start(time_limit)
            if started is not None:
                return started
        path = self._submission / f"{module_name}.py"
        if not path.is_file():
            return ImportFailure(
                ErrorInfo(types=["FileNotFoundError"], message=f"no {module_name}.py submitted")
            )
        limit = min(memory_mb or self.memory_mb, self.memory_mb)
        self._sent_at = time.monotonic()
        with contextlib.suppress(OSError):
            write_frame(self._request_fd, {"load": module_name, "memory_mb": limit})
        reply = self._receive(time_limit, f"importing {module_name}.py")
        if isinstance(reply, Failure):
            return reply
        if reply.get("event") == "import_error":
            self.stop()
            return ImportFailure(ErrorInfo.from_message(reply.get("error")))
        if reply.get("event") != "loaded":
            self.stop()
            return Failure("crash", "the submission's process sent an unexpected message")
        self._loaded.add(module_name)
        return None

    def _start(self, time_limit: float) -> Failure | None:
        """Starts the process, which imports JAX; None once it is ready."""
        self.stop()
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        output = open(self._output_path, "wb")  # noqa: SIM115
        # A shared cache folder would be writable by nobody; the user mode goes without.
        cache = cache_dir(SUBMISSIONS) if self.sandbox.mode != "user" else None
        env = {
            **os.environ,
            "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
            **jax_cache_environment(cache),
        }
        command = [
            sys.executable,
            "-I",
            "-c",
            CHILD_BOOTSTRAP,
            str(Path(grader.__file__).resolve().parent),
            str(request_read),
            str(response_write),
            str(self._submission),
            str(self.memory_mb),
        ]
        try:
            process = subprocess.Popen(
                self.sandbox.wrap(
                    command,
                    workdir=self._workdir,
                    writable=[cache] if cache is not None else [],
                    hidden=self.hidden,
                    visible=_runtime_folders(),
                ),
                pass_fds=(request_read, response_write),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
                env=env,
                start_new_session=True,
                **self.sandbox.popen_options(),
            )
        except OSError as error:
            os.close(request_write)
            os.close(response_read)
            return Failure("crash", f"could not start the submission's process: {error}")
        finally:
            os.close(request_read)
            os.close(response_write)
            output.close()
        self._process = process
        self._request_fd = request_write
        # Each process gets a queue of its own: a dead one's reader must not answer for it.
        self._responses = queue.Queue()
        reader = threading.Thread(
            target=_read_responses, args=(response_read, self._responses), daemon=True
        )
        reader.start()
        self._sent_at = time.monotonic()
        reply = self._receive(time_limit, "starting")
        if isinstance(reply, Failure):
            return reply
        if reply.get("event") != "ready":
            self.stop()
            return Failure("crash", "the submission's process sent an unexpected message")
        return None

    def send(
        self, module: str, function: str, probes: list[Probe], harness: str | None = None
    ) -> None:
        """Asks the process to run `probes` on `module.function` (in `harness`), a module
        it has loaded; the clock starts now."""
        message = {
            "module": module,
            "function": function,
            "harness": harness,
            "probes": [p.to_message(encode) for p in probes],
        }
        self._sent_at = time.monotonic()
        # A dead process shows up as the end of its responses, so a failed write can wait.
        with contextlib.suppress(OSError):
            write_frame(self._request_fd, message)

    def receive(self, time_limit: float) -> list[Outcome] | Failure:
        """The outcomes of the last request, if they came within `time_limit` of sending it."""
        reply = self._receive(time_limit, "running the function")
        if isinstance(reply, Failure):
            return reply
        results = reply.get("results")
        if reply.get("event") != "results" or not isinstance(results, list):
            self.stop()
            return Failure("crash", "the submission's process sent an unexpected message")
        try:
            return [_outcome(r) for r in results]
        except WireError as error:
            self.stop()
            return Failure("crash", f"the submission's process sent a malformed result ({error})")

    def _receive(self, time_limit: float, doing: str) -> dict[str, Any] | Failure:
        deadline = self._sent_at + time_limit
        try:
            arrived, frame = self._responses.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            arrived, frame = time.monotonic(), None
        if frame is None or arrived > deadline:
            self.stop()
            return Failure(
                "timeout",
                f"timed out after {time_limit:g} s while {doing} "
                "(an infinite loop, or far too much work?)",
            )
        if frame is _END or isinstance(frame, WireError):
            return Failure("crash", self._describe_exit(doing))
        if not isinstance(frame, dict):
            self.stop()
            return Failure("crash", "the submission's process sent an unexpected message")
        return frame

    def _describe_exit(self, doing: str) -> str:
        process = self._process
        code = None
        if process is not None:
            try:
                code = process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
        tail = self.output_tail()
        self.stop()
        if code is not None and code > 128 and self.sandbox.mode == "bubblewrap":
            code = 128 - code  # bwrap reports a child killed by signal N as status 128 + N
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            what = {
                "SIGSEGV": "crashed with a segmentation fault (SIGSEGV)",
                "SIGKILL": "was killed (SIGKILL), perhaps for using too much memory",
                "SIGABRT": "aborted (SIGABRT)",
            }.get(name, f"was stopped by signal {name}")
        elif code is not None:
            what = f"exited with status {code} (a call to sys.exit() or os._exit()?)"
        else:
            what = "stopped answering"
        message = f"the submission's process {what} while {doing}"
        if tail:
            message += f"; its last output: {tail}"
        return message

    def output_tail(self) -> str:
        """The end of what the submission printed, for feedback on a crash."""
        try:
            with open(self._output_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                size = log.tell()
                log.seek(max(0, size - OUTPUT_TAIL_BYTES))
                data = log.read()
        except OSError:
            return ""
        text = data.decode("utf-8", errors="replace").strip()
        return ("..." + text) if size > OUTPUT_TAIL_BYTES else text

    def stop(self) -> None:
        """Kills the process (and anything it started) and closes the pipes."""
        process, self._process = self._process, None
        self._loaded.clear()
        if self._request_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._request_fd)
            self._request_fd = -1
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

    @property
    def _output_path(self) -> Path:
        return Path(self._private.name) / "output.log"

    def close(self) -> None:
        self.stop()
        self._private.cleanup()


def _read_responses(fd: int, responses: queue.Queue[tuple[float, Any]]) -> None:
    """Reads frames from a child until its end, each with the time it arrived."""
    try:
        while True:
            try:
                frame = read_frame(fd)
            except (WireError, OSError) as error:
                responses.put((time.monotonic(), WireError(str(error))))
                return
            if frame is None:
                responses.put((time.monotonic(), _END))
                return
            responses.put((time.monotonic(), frame))
    finally:
        os.close(fd)


def _copy_submission(folder: Path, target: Path) -> None:
    """The submission's modules as `.py` files in `target`: the Python files of `folder`,
    then its notebooks (grader.notebooks), then `<name>/<name>.py|.ipynb` (the layout of
    nbgrader's submitted/ folder); the first file found for a name wins."""
    nested = [
        sub / f"{sub.name}{suffix}"
        for sub in sorted(folder.iterdir())
        if sub.is_dir()
        for suffix in (".py", ".ipynb")
    ]
    sources = [*sorted(folder.glob("*.py")), *sorted(folder.glob("*.ipynb")), *nested]
    for source in sources:
        module = target / f"{source.stem}.py"
        if not source.is_file() or module.exists():
            continue
        if source.suffix == ".py":
            shutil.copyfile(source, module)
            continue
        try:
            text = module_source(source)
        except UsageError as error:  # a broken notebook fails at import, as a module would
            text = f"raise ImportError({str(error)!r})\n"
        module.write_text(text, encoding="utf-8")


def _runtime_folders() -> list[Path]:
    """What the child needs to run: Python, its packages and the grader's own package."""
    folders = {Path(sys.prefix), Path(sys.base_prefix), Path(grader.__file__).parent}
    folders.update(Path(p) for p in site.getsitepackages())
    return sorted(f for f in folders if f.exists())


def _outcome(result: Any) -> Outcome:
    if not isinstance(result, dict):
        raise WireError("malformed result")
    if "error" in result:
        return Outcome(error=ErrorInfo.from_message(result["error"]))
    if "value" not in result:
        raise WireError("result with neither value nor error")
    return Outcome(value=decode(result["value"]))
