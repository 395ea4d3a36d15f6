"""The names course.yml's lambdas run with, made only when a lambda runs.

Samplers, harnesses and outcome checks are lambdas evaluated with `jax`, `jnp`, `np`
and the reference module's names (or, in a student copy, the reference's exported
functions). Making those names starts JAX and, for the live solutions, runs the
solution module: most grades never evaluate a lambda in the grading process, and a
`Namespace` lets them do without both.

`sample` draws one sampled input (course.yml's `{sample: ...}`); with `remember`, a
store keyed by a hash of the question (expression, seed, sizes, dtype), a warm grade
takes the drawn array from the store and runs no sampler at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

# (key, compute) -> the value kept under key, computed (and kept) if there is none.
Remember = Callable[[str, Callable[[], Any]], Any]


def library_names() -> dict[str, Any]:
    """`jax`, `jnp` and `np`, which every lambda of course.yml may use."""
    import jax
    import jax.numpy as jnp

    return {"jax": jax, "jnp": jnp, "np": np}


class Namespace(Mapping[str, Any]):
    """A mapping of names made by `make` on first use (see the module's docstring).

    Attributes:
      make: returns the names; called at most once.
      remember: where given, keeps sampled inputs between grades.
    """

    def __init__(self, make: Callable[[], Mapping[str, Any]], remember: Remember | None = None):
        self.make = make
        self.remember = remember
        self._names: dict[str, Any] | None = None
        self._lock = threading.Lock()  # `prefetch`'s thread and the caller make them once

    def names(self) -> dict[str, Any]:
        with self._lock:
            if self._names is None:
                self._names = dict(self.make())
            return self._names

    def prefetch(self) -> None:
        """Makes the names in a thread of their own, for a grade that will need them after
        waiting for the submission's process: JAX imports while it waits, not after. A
        failure there is raised again where the names are used."""
        threading.Thread(target=self._quietly, daemon=True).start()

    def _quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.names()

    def __getitem__(self, name: str) -> Any:
        return self.names()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def function(self, expression: str) -> Callable[..., Any]:
        """The lambda `expression` (an outcome check's `of`), run as one compiled program
        where it traces: called op by op, a reference function dispatches (and looks up in
        the compilation cache) a program per operation, which costs a fit's check seconds.
        Where it does not trace (Python control flow on a value), it runs as written."""
        import jax

        function = self._evaluated(expression)
        compiled = jax.jit(function)

        def run(*args: Any) -> Any:
            try:
                return compiled(*args)
            except Exception:  # not traceable, or failing: as written, for its own error
                return function(*args)

        return run

    def sample(self, expression: str, seed: int, sizes: Sequence[int], dtype: str) -> np.ndarray:
        """`expression` (a lambda of a PRNG key and the sizes) called with the key of `seed`."""
        if self.remember is None:
            return self._draw(expression, seed, sizes, dtype)
        asked = json.dumps(["sample", expression, seed, [int(s) for s in sizes], dtype])
        key = hashlib.sha256(asked.encode()).hexdigest()
        return self.remember(key, lambda: self._draw(expression, seed, sizes, dtype))

    def _draw(self, expression: str, seed: int, sizes: Sequence[int], dtype: str) -> np.ndarray:
        import jax

        sampler = self._evaluated(expression)
        return np.asarray(sampler(jax.random.PRNGKey(seed), *sizes), dtype=dtype)

    def _evaluated(self, expression: str) -> Any:
        # A copy: eval adds __builtins__ to the globals it is given.
        return eval(expression, dict(self.names()))


def as_namespace(names: Mapping[str, Any]) -> Namespace:
    """`names` as a Namespace (a plain mapping, as the tests pass, is made at once)."""
    return names if isinstance(names, Namespace) else Namespace(lambda: names)
