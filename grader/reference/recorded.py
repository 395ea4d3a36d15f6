"""Recorded reference outcomes: what a released student copy grades against.

`difflearn release` runs every check of the course against the reference once and
records what the checks need: the inputs of every case, as the instructor's grader
drew them (so another NumPy cannot draw others), and the reference's outcome of
every probe. An outcome check whose lambda calls a reference function (a fit's
final loss is the reference's negative log-likelihood of the fitted parameters)
gets that function as a program compiled by `jax.export` for the shapes it was
called with: StableHLO, not the function's Python source.

The recording is gzipped JSON in the wire format (arrays as base64 of their bytes).
Loading it runs nothing it holds but those exported programs, through jax.export.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grader.course.namespace import Namespace, library_names
from grader.course.schema import load_course
from grader.course.specs import Course
from grader.errors import UsageError
from grader.reference.base import CourseError
from grader.reference.live import LiveReference
from grader.runner.probes import Outcome, Probe, ProbeKey
from grader.runner.wire import decode

FORMAT = 1


def signature(args: tuple[Any, ...]) -> str:
    """The structure, shapes and dtypes of a call's arguments, as one string."""
    import jax
    import jax.numpy as jnp

    leaves, treedef = jax.tree_util.tree_flatten(args)
    shapes = ",".join(f"{jnp.result_type(leaf)}{list(np.shape(leaf))}" for leaf in leaves)
    return f"{treedef}|{shapes}"


class ExportedFunction:
    """A reference function in a student copy: exported programs, one per signature."""

    def __init__(self, name: str, programs: Mapping[str, str]):
        self.name = name
        self.programs = programs
        self._deserialized: dict[str, Any] = {}  # each program read once, reused per call

    def __call__(self, *args: Any) -> Any:
        import jax
        import jax.numpy as jnp

        args = jax.tree_util.tree_map(jnp.asarray, args)
        key = signature(args)
        if key not in self.programs:
            raise ValueError(
                f"{self.name} is recorded only for the structures and shapes the "
                "reference's outputs have"
            )
        if key not in self._deserialized:
            data = bytearray(base64.b64decode(self.programs[key]))
            self._deserialized[key] = jax.export.deserialize(data)
        return self._deserialized[key].call(*args)


class RecordedReference:
    """A `Reference` that serves recorded outcomes, for a copy with no solutions/."""

    def __init__(self, path: Path):
        try:
            with gzip.open(path, "rb") as file:
                data = json.loads(file.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"cannot read the recorded reference {path}: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UsageError(
                f"{path} is not a recording this grader reads (format {FORMAT}); "
                "release the course again"
            )
        self.path = path
        self._modules: dict[str, Any] = data["modules"]
        self._decoded: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}

    def _function(self, module: str, function: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if (module, function) not in self._decoded:
            try:
                entry = self._modules[module]["functions"][function]
            except KeyError:
                raise CourseError(
                    f"{self.path} has no recording of {module}.{function}; release the course again"
                ) from None
            self._decoded[(module, function)] = (
                decode(entry["inputs"]),
                decode(entry["outcomes"]),
            )
        return self._decoded[(module, function)]

    def inputs(self, module: str, function: str) -> Mapping[str, tuple[Any, ...]] | None:
        return self._function(module, function)[0]

    def outcomes(
        self,
        module: str,
        function: str,
        probes: Mapping[ProbeKey, Probe],
        harness: str | None = None,
    ) -> dict[ProbeKey, Outcome]:
        recorded = self._function(module, function)[1]
        missing = [str(key) for key in probes if str(key) not in recorded]
        if missing:
            raise CourseError(
                f"{self.path} has no outcome for {module}.{function} {', '.join(missing)}; "
                "course.yml changed since the release"
            )
        return {key: Outcome(value=recorded[str(key)]) for key in probes}

    def namespace(self, module: str) -> Namespace:
        programs = self._modules.get(module, {}).get("programs", {})
        exported = {name: ExportedFunction(name, p) for name, p in programs.items()}
        return Namespace(lambda: {**library_names(), **exported})

    def private_paths(self) -> list[Path]:
        return []

    def solution_file(self, module: str) -> Path | None:
        return None


@functools.cache
def open_course(course_file: Path) -> tuple[Course, LiveReference | RecordedReference]:
    """A course and its reference, loaded once per process (for test cells and tests that
    grade one function or module at a time)."""
    course = load_course(course_file)
    return course, reference_for(course)


def reference_for(course: Course) -> LiveReference | RecordedReference:
    """The recording where course.yml names one (a student copy), else the live solutions."""
    if course.recorded_file is not None:
        return RecordedReference(course.recorded_file)
    return LiveReference(course.solutions_dir)
