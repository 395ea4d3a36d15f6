"""Records the reference's outcomes for a student copy (see grader.reference.recorded).

JAX is imported where a recording is made, not with the module: the grading
process loads this module with the CLI, and grades without starting JAX.
"""

from __future__ import annotations

import base64
import gzip
import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.checks import make_checks
from grader.course.specs import Course
from grader.reference.base import CourseError
from grader.reference.live import LiveReference
from grader.reference.recorded import FORMAT, signature
from grader.runner.probes import Probe, ProbeKey
from grader.runner.wire import encode


class _Recorder:
    """A reference function that, while `active`, exports itself for each new signature."""

    def __init__(self, function: Any, programs: dict[str, str]):
        self.function = function
        self.programs = programs
        self.active = False

    def __call__(self, *args: Any) -> Any:
        if self.active:
            import jax
            import jax.numpy as jnp

            args = jax.tree_util.tree_map(jnp.asarray, args)
            key = signature(args)
            if key not in self.programs:
                shapes = jax.tree_util.tree_map(
                    lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), args
                )
                self.programs[key] = _export(self.function, shapes)
        return self.function(*args)


def _export(function: Any, shapes: Any) -> str:
    """`function` compiled for `shapes`, serialized, with no source locations in it: the
    same program whatever called it, and no file names or line numbers of the reference."""
    import jax

    limit = jax.config.jax_traceback_in_locations_limit
    jax.config.update("jax_traceback_in_locations_limit", 0)
    try:
        exported = jax.export.export(jax.jit(function))(*shapes)
    finally:
        jax.config.update("jax_traceback_in_locations_limit", limit)
    return base64.b64encode(exported.serialize()).decode("ascii")


def record(
    course: Course, reference: LiveReference, only: Sequence[str] | None = None
) -> dict[str, Any]:
    """Every check of the course (or of its modules `only`) run on the reference, recorded."""
    modules: dict[str, Any] = {}
    for module in course.modules:
        if only is not None and module.name not in only:
            continue
        live = reference.namespace(module.name)
        programs: dict[str, dict[str, str]] = {}
        recorders = {
            name: _Recorder(value, programs.setdefault(name, {}))
            for name, value in live.items()
            if inspect.isfunction(value) and value.__module__ == live.get("__name__")
        }
        namespace = {**live, **recorders}
        functions = {}
        for function in module.functions:
            # Hidden checks stay with the instructor: neither their inputs nor outcomes ship.
            # Neither hidden checks nor unseen cases: their seed stays with the instructor.
            checks = [
                c
                for c in make_checks(function, module.name, namespace, unseen=False)
                if not c.spec.hidden
            ]
            probes: dict[ProbeKey, Probe] = {}
            for check in checks:
                probes.update(check.probes())
            expected = reference.outcomes(module.name, function.name, probes, function.harness)
            for recorder in recorders.values():
                recorder.active = True
            for check in checks:
                verdict = check.judge(expected, expected)
                if not verdict.passed:
                    raise CourseError(
                        f"the reference fails its own check {module.name}.{function.name}: "
                        f"{check.title}: {verdict.message}"
                    )
            for recorder in recorders.values():
                recorder.active = False
            inputs = {key.label: probe.args for key, probe in probes.items()}
            functions[function.name] = {
                "inputs": encode(inputs),
                "outcomes": encode({str(key): o.value for key, o in expected.items()}),
            }
        modules[module.name] = {
            "functions": functions,
            "programs": {name: p for name, p in programs.items() if p},
        }
    return {"format": FORMAT, "seed": course.seed, "modules": modules}


def write_recording(data: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same course gives the same bytes, so a release is reproducible.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as file:
        file.write(json.dumps(data, sort_keys=True).encode("utf-8"))
