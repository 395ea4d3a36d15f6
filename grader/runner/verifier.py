"""The grader's verifier: the process that reads and runs what a submission exported.

A submission's process sends the function's programs, serialized by `jax.export`
(grader.runner.programs), not facts about them. This process answers, for each program and
the arguments the grading process gives, its facts: the values it computes and the
operations it holds. It runs only the grader's code, but on bytes a student could
craft against the readers of StableHLO and XLA, so it runs confined like a submission,
in a jail of its own beside it (grader.runner.process.Verifier). The grading process reads
its answers as it reads a submission's: bounded, and checked before use.
"""

from __future__ import annotations

import sys
from typing import Any

from grader.runner import protocol
from grader.runner.probes import Probe, describe_exception
from grader.runner.programs import run_serialized
from grader.runner.wire import decode, read_frame, write_frame


def main(argv: list[str]) -> int:
    request_fd, response_fd = int(argv[0]), int(argv[1])
    write_frame(response_fd, protocol.event("ready"))
    while True:
        request = read_frame(request_fd)
        if request is None:
            return 0
        results = [answer(item) for item in request["programs"]]
        write_frame(response_fd, protocol.event("results", results=results))


def answer(item: dict[str, Any]) -> dict[str, Any]:
    """The reply to one program of a request: its facts, or the error it raised."""
    try:
        probe = Probe.from_message(item["probe"], decode)
        facts = run_serialized(decode(item["program"]), probe.args, probe.static)
        return protocol.value(facts)
    except Exception as error:
        return protocol.error(describe_exception(error))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
