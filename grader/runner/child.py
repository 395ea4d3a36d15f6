"""The process that runs a submission: `python -I`, running `main` (see grader.runner.process).

It starts JAX, then answers requests from the grading process: to import
one of the submitted modules, or, for a function of an imported module and a
list of probes, the outcome of each probe.
It decides nothing about the score; it only reports what the student's code
did, over the file descriptors it was given (stdout and stderr are the
student's, and the grading process keeps them out of the protocol).
"""

from __future__ import annotations

import contextlib
import importlib.util
import resource
import signal
import sys
from pathlib import Path
from typing import Any

# Imported before the submission, so the probes hold their own references to JAX.
import jax

from grader.runner import protocol
from grader.runner.cells import NOTES, bounded_notes
from grader.runner.probes import ErrorInfo, Probe, describe_exception
from grader.runner.probing import ProbeRunner, resolve_target
from grader.runner.unwritten import stub_error
from grader.runner.wire import decode, read_frame, write_frame

OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024


def main(argv: list[str]) -> int:
    request_fd, response_fd = int(argv[0]), int(argv[1])
    submission, memory_mb = Path(argv[2]), int(argv[3])
    _limit_memory(memory_mb, memory_mb)
    # A flood of files ends in an error in the student's code, not a full disk (what it
    # prints goes to the grading process through a pipe, which keeps a bounded part).
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT_BYTES, OUTPUT_LIMIT_BYTES))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # The submission's folder goes last, so a file named like a library cannot shadow it.
    sys.path.append(str(submission))

    modules: dict[str, Any] = {}
    write_frame(response_fd, protocol.event("ready"))
    while True:
        request = read_frame(request_fd)
        if request is None:
            return 0
        if "load" in request:
            name = str(request["load"])
            _limit_memory(int(request.get("memory_mb", memory_mb)), memory_mb)
            reply, module = _import_submission(submission / f"{name}.py", name)
            if module is not None:
                modules[name] = module
            _reply(response_fd, reply)
            continue
        name = str(request.get("module"))
        results = _run_request(modules[name], str(submission / f"{name}.py"), request)
        _reply(response_fd, protocol.event("results", results=results))


def _reply(fd: int, message: dict[str, Any]) -> None:
    """Sends a reply after what the student printed, so the output is counted with it."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(BaseException):  # the student's streams may do anything
            stream.flush()  # type: ignore[union-attr]
    write_frame(fd, message)


def _limit_memory(soft_mb: int, hard_mb: int) -> None:
    soft, hard = min(soft_mb, hard_mb) * 1024 * 1024, hard_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _import_submission(module_file: Path, module_name: str) -> tuple[dict[str, Any], Any]:
    """Imports one submitted module: the reply for the grading process, and the module."""
    try:
        spec = importlib.util.spec_from_file_location(module_name, module_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {module_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as error:  # SystemExit and KeyboardInterrupt at import count too
        info = describe_exception(error, str(module_file))
        return protocol.event("import_error", error=info.to_message()), None
    try:  # a notebook's notes on the cells it skipped (grader.course.notebooks), bounded
        notes = list(bounded_notes(vars(module).get(NOTES)))
    except BaseException:  # the student's module may hold anything under that name
        notes = []
    return protocol.event("loaded", notes=notes), module


def _run_request(module: Any, module_file: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    probes = request.get("probes", [])
    try:
        function = resolve_target(vars(module), str(request["function"]), request.get("harness"))
    except LookupError as error:
        missing = ErrorInfo(types=["MissingFunction"], message=str(error))
        return [protocol.error(missing) for _ in probes]
    except BaseException as error:
        failure = protocol.error(describe_exception(error, module_file))
        return [failure for _ in probes]
    stub = stub_error(vars(module).get(str(request["function"])), module_file)
    if stub is not None:  # it raises this whatever it is given: no probe needs running
        return [protocol.error(stub) for _ in probes]
    runner = ProbeRunner(function)
    results: list[dict[str, Any]] = []
    for message in probes:
        _reset_config()
        try:
            probe = Probe.from_message(message, decode)
            results.append(protocol.value(runner.run(probe)))
        except BaseException as error:  # a student's sys.exit() fails the probe, not the process
            results.append(protocol.error(describe_exception(error, module_file)))
    return results


def _reset_config() -> None:
    """JAX's configuration as it was before any submission ran: what a module set at
    import (jit turned off, say) holds for none of the probes."""
    for name, value in _CONFIG.items():
        if jax.config.values.get(name) != value:
            with contextlib.suppress(Exception):  # a setting JAX no longer accepts
                jax.config.update(name, value)


_CONFIG = dict(jax.config.values)  # taken at start, before the submission is imported


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
