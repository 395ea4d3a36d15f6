"""Probes: a function run one of the ways the checks need.

A probe is a call (`call`), a reverse-mode gradient (`vjp`), or the function's
program exported by `jax.export` (`export`), which the grader reads and runs itself
(grader.runner.programs). The same code runs the student's function in its own process
and the reference in the grading process, so both are measured in exactly the
same way.

This module imports only JAX, NumPy and the wire: it is what a submission's process
loads, and nothing reachable from it leads to the reference.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np

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


def resolve_target(namespace: dict[str, Any], name: str, harness: str | None) -> Callable[..., Any]:
    """The function the probes run: `name` from the namespace, or the harness around it.

    A harness is a lambda from course.yml that calls the exercise function the way
    its checks need, e.g. `lambda x: jax.vmap(derivative(jnp.sin))(x)` for an exercise
    that returns a function. It sees `jax`, `jnp`, `lax` and the module's names.
    Raises LookupError when the module has no callable `name`.
    """
    function = namespace.get(name)
    if not callable(function):
        raise LookupError(f"the module defines no function named {name!r}")
    if harness is None:
        return function
    return eval(harness, {"jax": jax, "jnp": jnp, "lax": jax.lax, **namespace})


def run_probe(function: Callable[..., Any], probe: Probe) -> Any:
    """Runs one probe and returns its result as NumPy data (exceptions propagate)."""
    return ProbeRunner(function).run(probe)


class ProbeRunner:
    """Runs probes on one function, compiling each program once.

    A `call` or `vjp` probe with `compiled` set runs as one program under `jax.jit`
    when the function traces, and op by op (eagerly) only when it does not: on the
    CPU, a compiled program, once in JAX's persistent cache, takes milliseconds where
    the same operations dispatched one by one take a compilation each. Code that
    cannot be traced (Python control flow on values) still gets its values, and its
    error is the eager one, which points at the line that raised.
    """

    def __init__(self, function: Callable[..., Any]):
        self.function = function
        self._jitted: dict[tuple[int, ...], Callable[..., Any]] = {}

    def run(self, probe: Probe) -> Tree:
        # Whatever the submission did to JAX's configuration at import (such as turning
        # jit off), a probe runs with jit on.
        with jax.disable_jit(False):
            return self._run(probe)

    def exported(self, probe: Probe) -> Any:
        """The function traced by `jax.jit` at the probe's arguments (`jax.export`)."""
        return jax.export.export(self._jit(probe.static))(*self._args(probe))

    @staticmethod
    def _args(probe: Probe) -> tuple[Tree, ...]:
        return tuple(_to_jax(a) if i not in probe.static else a for i, a in enumerate(probe.args))

    def _run(self, probe: Probe) -> Any:
        args = self._args(probe)
        if probe.kind in ("call", "vjp"):
            if probe.compiled:
                try:
                    return _to_numpy(self._compiled(probe, args))
                except Exception:
                    pass  # not traceable: run it op by op below, for its values or its error
            if probe.kind == "call":
                return _to_numpy(self.function(*args))
            return _to_numpy(_vjp(self.function, args, probe))
        if probe.kind == "export":
            return np.frombuffer(bytes(self.exported(probe).serialize()), dtype=np.uint8)
        raise ValueError(f"unknown probe kind {probe.kind!r}")

    def _jit(self, static: tuple[int, ...]) -> Callable[..., Any]:
        if static not in self._jitted:
            self._jitted[static] = jax.jit(self.function, static_argnums=static)
        return self._jitted[static]

    def _compiled(self, probe: Probe, args: tuple[Any, ...]) -> Any:
        if probe.kind == "call":
            return self._jit(probe.static)(*args)

        def gradients(*traced: Any) -> Any:
            return _vjp(self.function, traced, probe)

        return jax.jit(gradients, static_argnums=probe.static)(*args)


def _vjp(function: Callable[..., Any], args: tuple[Any, ...], probe: Probe) -> tuple[Any, ...]:
    """The pullback of `probe.cotangent` through `function`, for the arguments `probe.wrt`."""

    def restricted(*diff_args: Any) -> Any:
        full = list(args)
        for position, value in zip(probe.wrt, diff_args, strict=True):
            full[position] = value
        return function(*full)

    primals = tuple(args[i] for i in probe.wrt)
    output, pullback = jax.vjp(restricted, *primals)
    return pullback(cotangent_like(output, probe.cotangent))


def cotangent_like(output: Tree, spec: str | int) -> Tree:
    """Ones, or standard normal values from the seed `spec`, shaped like `output`."""
    leaves, treedef = jax.tree_util.tree_flatten(output)
    if spec == "ones":
        new = [jnp.ones_like(leaf) for leaf in leaves]
    else:
        rng = np.random.default_rng(int(spec))
        new = [
            jnp.asarray(rng.standard_normal(np.shape(leaf)), dtype=jnp.result_type(leaf))
            for leaf in leaves
        ]
    return jax.tree_util.tree_unflatten(treedef, new)


def _to_jax(tree: Tree) -> Tree:
    return jax.tree_util.tree_map(
        lambda leaf: jnp.asarray(leaf) if isinstance(leaf, np.ndarray) else leaf, tree
    )


def _to_numpy(tree: Tree) -> Tree:
    """Concrete outputs as NumPy arrays; tuples, lists and dicts kept as they are."""
    if isinstance(tree, tuple):
        return tuple(_to_numpy(x) for x in tree)
    if isinstance(tree, list):
        return [_to_numpy(x) for x in tree]
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, jax.Array):
        return np.asarray(tree)
    return tree
