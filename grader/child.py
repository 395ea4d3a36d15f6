"""The process that runs a submission: `python -I -m grader.child ...`.

It imports one submitted module, then answers requests from the grading
process: for a function name and a list of probes, the outcome of each probe.
It decides nothing about the score; it only reports what the student's code
did, over the file descriptors it was given (stdout and stderr are the
student's, and the grading process keeps them out of the protocol).
"""

from __future__ import annotations

import importlib.util
import resource
import signal
import sys
from pathlib import Path
from typing import Any

# Imported before the submission, so the probes hold their own references to JAX.
from grader.probes import ErrorInfo, Probe, describe_exception, resolve_target, run_probe
from grader.wire import decode, encode, read_frame, write_frame

OUTPUT_LIMIT_BYTES = 16 * 1024 * 1024


def main(argv: list[str]) -> int:
    request_fd, response_fd = int(argv[0]), int(argv[1])
    module_file, module_name, memory_mb = argv[2], argv[3], int(argv[4])
    limit_bytes = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    # A flood of output ends in an error in the student's code, not a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT_BYTES, OUTPUT_LIMIT_BYTES))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    module = _import_submission(module_file, module_name, response_fd)
    if module is None:
        return 0
    while True:
        request = read_frame(request_fd)
        if request is None:
            return 0
        results = _run_request(module, module_file, request)
        write_frame(response_fd, {"event": "results", "results": results})


def _import_submission(module_file: str, module_name: str, response_fd: int) -> Any:
    """Imports the submitted module, reporting the outcome to the grading process."""
    # The submission's folder goes last, so a file named like a library cannot shadow it.
    sys.path.append(str(Path(module_file).parent))
    try:
        spec = importlib.util.spec_from_file_location(module_name, module_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {module_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as error:  # SystemExit and KeyboardInterrupt at import count too
        info = describe_exception(error, module_file)
        write_frame(response_fd, {"event": "import_error", "error": info.to_message()})
        return None
    write_frame(response_fd, {"event": "ready"})
    return module


def _run_request(module: Any, module_file: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    probes = request.get("probes", [])
    try:
        function = resolve_target(vars(module), str(request["function"]), request.get("harness"))
    except LookupError as error:
        missing = ErrorInfo(types=["MissingFunction"], message=str(error))
        return [{"error": missing.to_message()} for _ in probes]
    except BaseException as error:
        failure = describe_exception(error, module_file).to_message()
        return [{"error": failure} for _ in probes]
    results: list[dict[str, Any]] = []
    for message in probes:
        try:
            probe = Probe.from_message(message, decode)
            results.append({"value": encode(run_probe(function, probe))})
        except BaseException as error:  # a student's sys.exit() fails the probe, not the process
            results.append({"error": describe_exception(error, module_file).to_message()})
    return results


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
