"""The messages between the grading process and its children, in one place.

A child (a submission's process, or the verifier) says `ready`, then answers requests
until its pipe closes: a submission's process loads modules (`load`, answered by
`loaded` or `import_error`) and runs probes on a function (`call`); the verifier runs
exported programs (`programs`); both answer those with `results`, one `value` or `error`
per item, in order. Every message travels as a wire frame (grader.runner.wire); the
grading process reads what a child sends as untrusted (`event`, `outcome`).
"""

from __future__ import annotations

from typing import Any, Literal

from grader.runner.probes import ErrorInfo, Outcome, Probe
from grader.runner.wire import WireError, decode, encode

Message = dict[str, Any]
Event = Literal["ready", "loaded", "import_error", "results"]


def event(name: Event, **fields: Any) -> Message:
    """A child's message: 'ready', or an answer to a request."""
    return {"event": name, **fields}


def event_of(reply: Message) -> str | None:
    """The event a child's message says it is (untrusted: anything but a string is None)."""
    name = reply.get("event")
    return name if isinstance(name, str) else None


def load(module: str, memory_mb: int) -> Message:
    """Import the submitted module `module`, within `memory_mb`."""
    return {"load": module, "memory_mb": memory_mb}


def call(module: str, function: str, harness: str | None, probes: list[Probe]) -> Message:
    """Run `probes` on `module.function`, in `harness` if given."""
    return {
        "module": module,
        "function": function,
        "harness": harness,
        "probes": [p.to_message(encode) for p in probes],
    }


def programs(items: list[tuple[Probe, Outcome]]) -> Message:
    """Run each exported program on its probe's arguments (the verifier's request)."""
    return {
        "programs": [
            {"probe": probe.to_message(encode), "program": encode(exported.value)}
            for probe, exported in items
        ]
    }


def value(result: Any) -> Message:
    """One item of `results`: what a probe or program gave."""
    return {"value": encode(result)}


def error(info: ErrorInfo) -> Message:
    """One item of `results`: the exception it raised."""
    return {"error": info.to_message()}


def outcome(item: Any) -> Outcome:
    """An item of a child's `results`, read as untrusted; WireError if malformed."""
    if not isinstance(item, dict):
        raise WireError("malformed result")
    if "error" in item:
        return Outcome(error=ErrorInfo.from_message(item["error"]))
    if "value" not in item:
        raise WireError("result with neither value nor error")
    return Outcome(value=decode(item["value"]))
