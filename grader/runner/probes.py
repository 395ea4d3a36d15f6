"""Probes: a function run one of the ways the checks need, as data.

A probe is a call (`call`), a reverse-mode gradient (`vjp`), or the function's
program exported by `jax.export` (`export`), which the grader reads and runs itself
(grader.runner.programs). Its outcome is a value or an error. These types are what the
checks, the engine and the wire speak; running a probe is grader.runner.probing's.

This module does not import JAX: the grading process speaks probes without starting
JAX (it starts it only where it runs the reference), and a submission's process
loads it, so nothing reachable from it leads to the reference.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from grader.runner.wire import Tree

ProbeKind = Literal["call", "vjp", "export"]
PROBE_KINDS: tuple[ProbeKind, ...] = get_args(ProbeKind)
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, order=True)
class ProbeKey:
    """Which probe of a function: its kind, on the case labelled `label` (a call on
    'case0'). Its string, 'call/case0', names the probe in a recording; nothing parses it
    back."""

    kind: ProbeKind
    label: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.label}"


@dataclass(frozen=True)
class Probe:
    """One way of running a function on one set of positional arguments.

    `static` holds the positions of the arguments that `jax.jit` treats as
    static; `wrt` the positions `vjp` differentiates with respect to, and
    `cotangent` is "ones" or a seed for a standard normal cotangent. A `compiled`
    call or vjp runs under `jax.jit` where the function traces (see ProbeRunner).
    """

    kind: ProbeKind
    args: tuple[Tree, ...]
    static: tuple[int, ...] = ()
    wrt: tuple[int, ...] = ()
    cotangent: str | int = "ones"
    compiled: bool = False

    def to_message(self, encode: Callable[[Any], Any]) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "args": encode(tuple(self.args)),
            "static": list(self.static),
            "wrt": list(self.wrt),
            "cotangent": self.cotangent,
            "compiled": self.compiled,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any], decode: Callable[[Any], Any]) -> Probe:
        return cls(
            kind=message["kind"],
            args=tuple(decode(message["args"])),
            static=tuple(message["static"]),
            wrt=tuple(message["wrt"]),
            cotangent=message["cotangent"],
            compiled=bool(message.get("compiled", False)),
        )


@dataclass
class Outcome:
    """What a probe gave: a value, or the error it raised."""

    value: Tree = None
    error: ErrorInfo | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ErrorInfo:
    """An exception, described as data: class names (most derived first), message, place."""

    types: list[str]
    message: str
    location: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Made by the grading process itself (a verifier that timed out), never by a child:
    # `from_message` cannot set it, so a child cannot pass its words off as the grader's.
    by_grader: bool = False

    @property
    def type_name(self) -> str:
        return self.types[0] if self.types else "Exception"

    def is_a(self, name: str) -> bool:
        return name in self.types

    @property
    def where(self) -> str:
        """' (line 12: code)', or nothing where the place is not known."""
        return f" ({self.location})" if self.location else ""

    @property
    def summary(self) -> str:
        """'TypeError: the first line of the message (line 12: code)'."""
        lines = self.message.strip().splitlines()
        said = f": {lines[0]}" if lines else ""
        return f"{self.type_name}{said}{self.where}"

    def to_message(self) -> dict[str, Any]:
        return {"types": self.types, "message": self.message, "location": self.location}

    @classmethod
    def from_message(cls, data: Any) -> ErrorInfo:
        if not isinstance(data, dict):
            return cls(types=["Exception"], message="malformed error report")
        types = data.get("types")
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            types = ["Exception"]
        return cls(
            types=[t[:100] for t in types[:20]],
            message=str(data.get("message", ""))[:MAX_ERROR_CHARS],
            location=str(data.get("location", ""))[:300],
        )


def describe_exception(error: BaseException, source_file: str | None = None) -> ErrorInfo:
    """An ErrorInfo for `error`, located at the deepest frame in `source_file`."""
    types = [cls.__name__ for cls in type(error).__mro__ if cls not in (object, BaseException)]
    message = str(error)
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + " ..."
    location = ""
    if source_file is not None:
        # Imported here: grader.runner.cells imports this module (it knows a notebook's cells).
        from grader.runner.cells import place

        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            if frame.filename == source_file and frame.lineno is not None:
                location = f"{place(source_file, frame.lineno)}: {(frame.line or '').strip()}"
                break
    return ErrorInfo(types=types, message=message, location=location)
