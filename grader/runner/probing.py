"""Running probes (grader.runner.probes) with JAX.

The same code runs the student's function in its own process and the reference in
the grading process, so both are measured in exactly the same way.

This module imports only JAX, NumPy, the wire and the probes' types: it is what a
submission's process loads, and nothing reachable from it leads to the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from grader.runner.probes import Probe
from grader.runner.wire import Tree


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
            jax.device_put(rng.standard_normal(np.shape(leaf)).astype(jnp.result_type(leaf)))
            for leaf in leaves
        ]
    return jax.tree_util.tree_unflatten(treedef, new)


def _to_jax(tree: Tree) -> Tree:
    """NumPy arrays as JAX arrays, put on the device as they are (their dtype made JAX's
    canonical one, as `jnp.asarray` would): no conversion is compiled per shape."""
    return jax.tree_util.tree_map(
        lambda leaf: jax.device_put(leaf) if isinstance(leaf, np.ndarray) else leaf, tree
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
