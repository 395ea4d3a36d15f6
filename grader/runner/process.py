"""Running a submission in a process of its own, and surviving whatever it does.

The grading process never imports student code. `SubmissionProcess` starts
`python -I` running `grader.runner.child` in a `Jail` (grader.runner.sandbox) on one student's
submission, has it import the submitted modules one by one, sends it probes and
reads back their outcomes over a pair of pipes. One process serves the whole
submission, so JAX starts once per student.

Everything the grading process does with the child is bounded: a request is written
without blocking (a stopped child cannot stall it), replies are read by a poll loop
that parses frames as bytes arrive (grader.runner.wire bounds their size and shape), the
child's stdout and stderr come through a pipe of which a bounded head and tail is
kept per request, and the clock a request runs against is the CPU time of the
submission's whole process tree (a busy neighbour cannot fail correct code), with a
generous wall-clock bound behind it. A request that runs past its limit, a process
that dies or sends what is not a frame ends as a `Failure` for that request alone:
the process is killed with everything it started, and the next request starts a
fresh one, which imports again the modules it needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import grader
from grader.runner import protocol
from grader.runner.cache import ChildCache
from grader.runner.cells import bounded_notes
from grader.runner.intake import Submission
from grader.runner.probes import ErrorInfo, Outcome, Probe, ProbeKey
from grader.runner.sandbox import Jail, JailLimits, bubblewrap, current_sandbox
from grader.runner.wire import FrameReader, WireError, encode_frame

OUTPUT_HEAD_BYTES = 16 * 1024
OUTPUT_TAIL_BYTES = 16 * 1024
TAIL_IN_FEEDBACK = 2000
WALL_FACTOR = 3.0  # the wall-clock bound, as a multiple of a request's CPU limit
WALL_MARGIN_S = 10.0
POLL_S = 0.25
DRAIN_READS = 256  # of 64 KB each, at most, between two looks at the clock
IDLE_CPU_S = 0.02  # CPU seconds per poll below which a tree counts as idle
PIPE_BYTES = 1024 * 1024  # most requests fit whole, so a write rarely waits for the child
# The child runs this grader package, loaded by its path: whatever `grader` another
# installation or a student's folder offers, and without the folder around it (the
# course) on sys.path, then runs its entry: grader.runner.child for a submission,
# grader.runner.verifier for the grader's verifier. Before JAX starts, its private
# compilation cache is seeded with the trusted programs (grader.runner.cache).
CHILD_BOOTSTRAP = """\
import importlib.util, os, shutil, sys
seed, cache = os.environ.get("DIFFLEARN_CACHE_SEED"), os.environ.get("JAX_COMPILATION_CACHE_DIR")
if seed and cache and os.path.isdir(seed):
    try:
        shutil.copytree(seed, cache, dirs_exist_ok=True)
    except OSError:
        pass  # a cold cache, not a failure
package = sys.argv[1]
spec = importlib.util.spec_from_file_location(
    "grader", package + "/__init__.py", submodule_search_locations=[package])
sys.modules["grader"] = module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
entry = importlib.import_module("grader.runner." + sys.argv[2])
sys.exit(entry.main(sys.argv[3:]))
"""


@dataclass(frozen=True)
class Failure:
    """A request that produced no outcomes: it ran out of time, or the process ended."""

    kind: Literal["timeout", "crash"]
    message: str


@dataclass(frozen=True)
class ImportFailure:
    """The submitted module raised while being imported."""

    error: ErrorInfo


class OutputCapture:
    """What the child prints, per request: a bounded head and tail, the rest counted."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0

    def feed(self, data: bytes) -> None:
        room = OUTPUT_HEAD_BYTES - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        self._tail += data
        if len(self._tail) > OUTPUT_TAIL_BYTES:
            self._dropped += len(self._tail) - OUTPUT_TAIL_BYTES
            del self._tail[: len(self._tail) - OUTPUT_TAIL_BYTES]

    def take(self) -> str:
        """The output since the last `take`, and a fresh start."""
        text = self._head.decode("utf-8", errors="replace")
        if self._dropped:
            text += f"\n... ({self._dropped} bytes of output not shown) ...\n"
        text += self._tail.decode("utf-8", errors="replace")
        self._head, self._tail, self._dropped = bytearray(), bytearray(), 0
        return text

    def tail(self, size: int = TAIL_IN_FEEDBACK) -> str:
        """The last `size` bytes kept, for feedback on a crash."""
        kept = bytes(self._head + self._tail)
        text = kept[-size:].decode("utf-8", errors="replace").strip()
        return "..." + text if self._dropped or len(kept) > size else text


class SubmissionProcess:
    """One student's submitted modules, imported in a child process, answering probes."""

    ENTRY: Literal["child", "verifier"] = "child"  # the module of grader.runner the process runs
    WHO = "the submission's process"  # for feedback

    def __init__(
        self,
        submission: Submission,
        limits: JailLimits,
        hidden: tuple[Path, ...] | list[Path] = (),
        cache: ChildCache | None = None,
    ):
        """`submission` holds the modules (grader.runner.intake); they are staged as `.py` files
        and nothing else of the student's folder reaches the child. The submission's
        processes together may use `limits`; each module can ask for less memory
        (`load`). `hidden` folders (the course, the reference's cache, the other
        students) are kept from the child as the sandbox allows (grader.runner.sandbox)."""
        self.limits = limits
        self.sandbox = current_sandbox()
        self.cache = cache or ChildCache()
        self.jail = Jail(self.sandbox, limits, hidden=hidden)
        self.jail.stage({f"{m.name}.py": m.source for m in submission.modules.values()})
        self.cache.prepare(self.jail)
        self._names = set(submission.modules)
        self._process: subprocess.Popen[bytes] | None = None
        self._request_fd = -1
        self._response_fd = -1
        self._output_fd = -1
        self._reader = FrameReader()
        self._pending = b""
        self._cpu_at_send = 0.0
        self._loaded: set[str] = set()
        self.notes: dict[str, tuple[str, ...]] = {}  # per module loaded: cells it skipped
        self.output = OutputCapture()
        self._starting = False  # spawned by `begin`, not yet said it is ready

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
        if module_name not in self._names:
            return ImportFailure(
                ErrorInfo(types=["FileNotFoundError"], message=f"no {module_name}.py submitted")
            )
        started = self._started(time_limit)
        if started is not None:
            return started
        limit = min(memory_mb or self.limits.memory_mb, self.limits.memory_mb)
        self._send(protocol.load(module_name, limit))
        reply = self._receive(time_limit, f"importing {module_name}.py")
        if isinstance(reply, Failure):
            return reply
        if protocol.event_of(reply) == "import_error":
            self.stop()
            return ImportFailure(ErrorInfo.from_message(reply.get("error")))
        if protocol.event_of(reply) != "loaded":
            return self._unexpected()
        self._loaded.add(module_name)
        self.notes[module_name] = bounded_notes(reply.get("notes"))
        return None

    def begin(self) -> None:
        """Starts the process now, without waiting: JAX imports there while the grading
        process prepares the checks (or, for the verifier, while the submission runs)."""
        if self._process is None and self._spawn() is None:
            self._starting = True

    def _started(self, time_limit: float) -> Failure | None:
        """None once the process is ready: started now if need be, or one `begin` started."""
        if self._starting:
            self._starting = False
            return self._ready(time_limit)
        return self._start(time_limit) if self._process is None else None

    def _start(self, time_limit: float) -> Failure | None:
        """Starts the process, which imports JAX; None once it is ready."""
        return self._spawn() or self._ready(time_limit)

    def _spawn(self) -> Failure | None:
        """Starts the process without waiting for it (see `_ready`)."""
        self.stop()
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        output_read, output_write = os.pipe()
        for fd in (request_write, output_write):
            with contextlib.suppress(OSError):  # a larger pipe where the system allows
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        bwrapped = self.sandbox.mode == "bubblewrap"
        package = Path(grader.__file__).resolve().parent
        submission = bubblewrap.SUBMISSION if bwrapped else str(self.jail.submission)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
            "PYTHONDONTWRITEBYTECODE": "1",
            **self.jail.environment(),
            **self.cache.environment(self.jail, bwrapped),
        }
        command = [
            sys.executable,
            "-I",
            "-c",
            CHILD_BOOTSTRAP,
            str(package),
            self.ENTRY,
            str(request_read),
            str(response_write),
            submission,
            str(self.limits.memory_mb),
        ]
        confined = self.jail.command(
            command, grader_package=package, writable_cache=self.cache.writable(self.jail)
        )
        launch, cgroup_fds = self.jail.launch(confined)
        try:
            process = subprocess.Popen(
                launch,
                pass_fds=(request_read, response_write, *cgroup_fds),
                stdin=subprocess.DEVNULL,
                stdout=output_write,
                stderr=output_write,
                cwd="/",
                env=env,
                start_new_session=True,
            )
        except (OSError, subprocess.SubprocessError) as error:
            for fd in (request_write, response_read, output_read):
                os.close(fd)
            return Failure("crash", f"could not start {self.WHO}: {error}")
        finally:
            for fd in (request_read, response_write, output_write):
                os.close(fd)
            if self.jail.cgroup is not None:
                self.jail.cgroup.started()
        for fd in (request_write, response_read, output_read):
            os.set_blocking(fd, False)
        self._process = process
        self._request_fd, self._response_fd, self._output_fd = (
            request_write,
            response_read,
            output_read,
        )
        self._reader = FrameReader()
        self._pending = b""
        self._cpu_at_send = self._cpu()
        return None

    def _ready(self, time_limit: float) -> Failure | None:
        """Waits for a spawned process to say it is ready; None once it has."""
        reply = self._receive(time_limit, "starting")
        if isinstance(reply, Failure):
            return reply
        if protocol.event_of(reply) != "ready":
            return self._unexpected()
        return None

    def _unexpected(self) -> Failure:
        """A message the protocol does not allow: the process is stopped, as after a crash."""
        self.stop()
        return Failure("crash", f"{self.WHO} sent an unexpected message")

    def send(
        self, module: str, function: str, probes: list[Probe], harness: str | None = None
    ) -> None:
        """Asks the process to run `probes` on `module.function` (in `harness`), a module
        it has loaded; its clock starts now. What the pipe cannot take yet is written
        while `receive` waits."""
        self._send(protocol.call(module, function, harness, probes))

    def receive(self, time_limit: float) -> list[Outcome] | Failure:
        """The outcomes of the last request, if they came within `time_limit` CPU seconds."""
        reply = self._receive(time_limit, "running the function")
        if isinstance(reply, Failure):
            return reply
        results = reply.get("results")
        if protocol.event_of(reply) != "results" or not isinstance(results, list):
            return self._unexpected()
        try:
            return [protocol.outcome(r) for r in results]
        except WireError as error:
            self.stop()
            return Failure("crash", f"{self.WHO} returned a malformed result ({error})")

    def request_cpu_s(self) -> float:
        """The CPU seconds the process tree has used since the last request was sent: after
        `receive`, what answering it took (0 once the process is stopped)."""
        return max(0.0, self._cpu() - self._cpu_at_send) if self._process is not None else 0.0

    def _send(self, message: dict[str, Any]) -> None:
        self._cpu_at_send = self._cpu()
        self._pending = encode_frame(message)
        self._write_some()

    def _write_some(self) -> None:
        while self._pending and self._request_fd >= 0:
            try:
                written = os.write(self._request_fd, self._pending[: 1 << 20])
            except BlockingIOError:
                return
            except OSError:  # the process is gone: its end shows on the responses
                self._pending = b""
                return
            self._pending = self._pending[written:]

    def _cpu(self) -> float:
        if self._process is None:
            return 0.0
        return self.jail.usage(self._process.pid).cpu_s

    def _receive(self, time_limit: float, doing: str) -> dict[str, Any] | Failure:
        """The next frame, while the request's CPU time stays within `time_limit` and its
        wall time within a generous multiple of it."""
        process = self._process
        if process is None:
            return Failure("crash", f"{self.WHO} was not running while {doing}")
        wall_deadline = time.monotonic() + WALL_FACTOR * time_limit + WALL_MARGIN_S
        next_check = time.monotonic() + POLL_S
        last_cpu = self._cpu_at_send
        timed_out = (
            f"timed out after {time_limit:g} s of CPU time while {doing} "
            "(an infinite loop, or far too much work?)"
        )
        while True:
            poller = select.poll()
            poller.register(self._response_fd, select.POLLIN)
            if self._output_fd >= 0:
                poller.register(self._output_fd, select.POLLIN)
            if self._pending:
                poller.register(self._request_fd, select.POLLOUT)
            now = time.monotonic()
            for fd, _ in poller.poll(max(0.0, min(next_check, wall_deadline) - now) * 1000):
                if fd == self._output_fd:
                    self._drain_output()
                elif fd == self._request_fd:
                    self._write_some()
                elif fd == self._response_fd:
                    frame = self._read_response(doing)
                    if frame is not None:
                        self._drain_output()
                        return frame
            now = time.monotonic()
            if now >= wall_deadline:
                self.stop()
                wall = WALL_FACTOR * time_limit + WALL_MARGIN_S
                return Failure(
                    "timeout",
                    f"timed out after {wall:g} s of waiting while {doing}, with less than "
                    f"{time_limit:g} s of CPU time used (waiting for something that never "
                    "comes, such as input or a sleep?)",
                )
            if now >= next_check:
                next_check = now + POLL_S
                usage = self.jail.usage(process.pid)
                if usage.cpu_s - self._cpu_at_send > time_limit:
                    self.stop()
                    return Failure("timeout", timed_out)
                # An idle tree may be waiting for nothing: stopped, it would wait forever.
                if usage.cpu_s - last_cpu < IDLE_CPU_S and self.jail.stopped(process.pid):
                    self.stop()
                    return Failure("crash", f"{self.WHO} stopped itself (SIGSTOP) while {doing}")
                last_cpu = usage.cpu_s
                # A cgroup bounds memory itself (its count includes the page cache, which
                # the kernel reclaims); without one, the tree's resident memory is watched.
                limit = self.limits.memory_mb * 1024 * 1024
                if self.jail.cgroup is None and usage.memory_bytes > limit:
                    self.stop()
                    return Failure(
                        "crash",
                        f"ran out of memory while {doing}: its processes together held "
                        f"more than {self.limits.memory_mb} MB",
                    )

    def _read_response(self, doing: str) -> dict[str, Any] | Failure | None:
        """A whole frame, a Failure, or None while a frame is incomplete."""
        try:
            data = os.read(self._response_fd, 1 << 20)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            return Failure("crash", self._describe_exit(doing))
        try:
            frame = self._reader.feed(data)
        except WireError as error:
            self.stop()
            return Failure("crash", f"{self.WHO} sent a malformed message ({error})")
        if frame is None:
            return None
        if not isinstance(frame, dict):
            return self._unexpected()
        return frame

    def _drain_output(self) -> None:
        """Reads what is in the output pipe now; bounded, for a child still printing."""
        for _ in range(DRAIN_READS):
            if self._output_fd < 0:
                return
            try:
                data = os.read(self._output_fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # every writer closed it: nothing more can come
                os.close(self._output_fd)
                self._output_fd = -1
                return
            self.output.feed(data)

    def _describe_exit(self, doing: str) -> str:
        process = self._process
        code = None
        if process is not None:
            try:
                code = process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
        self._drain_output()
        tail = self.output.tail()
        self.stop()
        if code is not None and code > 128 and self.sandbox.mode == "bubblewrap":
            code = 128 - code  # bwrap reports a child killed by signal N as status 128 + N
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            what = {
                "SIGSEGV": "crashed with a segmentation fault (SIGSEGV)",
                "SIGKILL": "was killed (SIGKILL), perhaps for using too much memory",
                "SIGABRT": "aborted (SIGABRT)",
                "SIGXCPU": "used up its CPU time (SIGXCPU)",
            }.get(name, f"was stopped by signal {name}")
        elif code is not None:
            what = f"exited with status {code} (a call to sys.exit() or os._exit()?)"
        else:
            what = "stopped answering"
        message = f"{self.WHO} {what} while {doing}"
        if tail:
            message += f"; its last output: {tail}"
        return message

    def stop(self) -> None:
        """Kills the process and everything it started, and closes the pipes."""
        self._starting = False  # a process stopped before it said it was ready
        process, self._process = self._process, None
        self._loaded.clear()
        self._pending = b""
        self.jail.kill(process.pid if process is not None else None)
        self._drain_output()  # what it printed last, for the feedback
        for name in ("_request_fd", "_response_fd", "_output_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        self.cache.finish(self.jail)
        self.jail.close()


class Verifier(SubmissionProcess):
    """The grader's verifier (grader.runner.verifier) for one submission: it reads and runs the
    programs the submission's process exported. It runs in a jail of its own, under
    another uid where there are uids, so that nothing the submission runs can reach it.
    It starts at `begin`, or else at its first request."""

    ENTRY = "verifier"
    WHO = "the grader's run of the program"
    START_S = 60.0  # CPU seconds to start: importing JAX

    def __init__(
        self,
        limits: JailLimits,
        hidden: tuple[Path, ...] | list[Path] = (),
        cache: ChildCache | None = None,
    ):
        super().__init__(Submission(), limits, hidden, cache)
        self._asked: tuple[list[ProbeKey], float] = ([], 0.0)  # the request in flight
        self._early: Failure | None = None  # it failed to start: no request went

    def submit(self, programs: dict[ProbeKey, tuple[Probe, Outcome]], time_limit: float) -> None:
        """Sends `programs` to be verified, and returns while the verifier works; `collect`
        reads its answer (one request at a time: its CPU time counts from here)."""
        self._asked = (list(programs), time_limit)
        self._early = self._started(self.START_S)
        if self._early is None:
            self._send(protocol.programs(list(programs.values())))

    def collect(self) -> dict[ProbeKey, Outcome]:
        """The facts (grader.runner.programs) of each program last submitted, on its probe's
        arguments, by key; an error outcome for a program it refused, or that failed or
        timed out."""
        keys, time_limit = self._asked
        reply = self._early if self._early is not None else self.receive(time_limit)
        if not isinstance(reply, Failure) and len(reply) == len(keys):
            return dict(zip(keys, reply, strict=True))
        if not isinstance(reply, Failure):
            self.stop()
        message = reply.message if isinstance(reply, Failure) else "the verifier answered wrongly"
        error = ErrorInfo(types=["ProgramFailed"], message=message, by_grader=True)
        return {key: Outcome(error=error) for key in keys}
