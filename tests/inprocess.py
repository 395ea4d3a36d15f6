"""Grading in the test's own process: the checks' judgement, without the jail.

The breadth tests (many correct alternatives, many mistakes, generated variants) ask
one question of each submission: do the checks judge it right? Spawning a confined
child and a verifier for each would cost the suite minutes and test nothing new, so
they grade here: the submission is imported in this process, its probes run through
the child's own request handler (`grader.runner.child._run_request`) and its programs through
the verifier's (`grader.runner.verifier.answer`), and the engine judges the outcomes
as it judges a child's. `test_inprocess.py` checks that both ways give the same results.
Never for hostile code: nothing here is confined or timed.
"""

from __future__ import annotations

import itertools
import textwrap
import time
from pathlib import Path
from typing import Any

import jax

from grader import engine
from grader.course.specs import ModuleSpec
from grader.reference.base import Reference
from grader.results import ModuleResult
from grader.runner import child, protocol, verifier
from grader.runner.intake import read_submission
from grader.runner.probes import ErrorInfo, Outcome, Probe, ProbeKey
from grader.runner.process import ImportFailure, OutputCapture
from grader.runner.wire import FrameReader, encode_frame

_NAMES = itertools.count()


class InProcess:
    """A submission's process that is this one: the engine's `SubmissionProcess` calls."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.output = OutputCapture()
        self.notes: dict[str, tuple[str, ...]] = {}
        self._modules: dict[str, Any] = {}
        self._replies: list[Outcome] = []
        self._cpu_s = 0.0
        # What the child resets JAX's configuration to before each probe: here, this
        # process's (its compilation cache on), not what it was when grader.runner.child loaded.
        self._config = dict(jax.config.values)

    def loaded(self, module: str) -> bool:
        return module in self._modules

    def load(self, module: str, time_limit: float, memory_mb: int) -> Any:
        # A name of its own, so that no two submissions (or the reference) share a module.
        name = f"_difflearn_inprocess_{module}_{next(_NAMES)}"
        reply, loaded = child._import_submission(self.file, name)
        if loaded is None:
            return ImportFailure(ErrorInfo.from_message(reply["error"]))
        self._modules[module] = loaded
        self.notes[module] = tuple(reply.get("notes", ()))
        return None

    def send(self, module: str, function: str, probes: list[Probe], harness: Any = None) -> None:
        request = protocol.call(module, function, harness, probes)
        started = time.process_time()
        child._CONFIG = self._config
        results = child._run_request(self._modules[module], str(self.file), _wire(request))
        self._replies = [protocol.outcome(r) for r in _wire(results)]
        self._cpu_s = time.process_time() - started

    def receive(self, time_limit: float) -> list[Outcome]:
        return self._replies

    def request_cpu_s(self) -> float:
        """What the last request took: this process's CPU seconds, as the child's tree's."""
        return self._cpu_s

    def stop(self) -> None:
        pass


class InProcessVerifier:
    """The verifier's work (grader.runner.verifier), done here."""

    def submit(self, programs: dict[ProbeKey, tuple[Probe, Outcome]], time_limit: float) -> None:
        self._programs = programs

    def collect(self) -> dict[ProbeKey, Outcome]:
        request = _wire(protocol.programs(list(self._programs.values())))
        answers = [_wire(verifier.answer(item)) for item in request["programs"]]
        return {key: protocol.outcome(a) for key, a in zip(self._programs, answers, strict=True)}


def _wire(message: Any) -> Any:
    """`message` as the other end of a pipe reads it."""
    return FrameReader().feed(encode_frame(message))


def grade_here(
    module: ModuleSpec,
    reference: Reference,
    folder: Path,
    source: str,
    functions: list[str] | None = None,
) -> ModuleResult:
    """Grades `source` as `module` of a submission in `folder`, in this process."""
    file = folder / f"{module.name}.py"
    file.write_text(textwrap.dedent(source), encoding="utf-8")
    submitted = read_submission(folder, [module.name]).modules[module.name]
    return engine._grade_module(
        InProcess(file),
        module,
        reference,
        functions=functions,
        verifier=InProcessVerifier(),  # type: ignore[arg-type]
        submitted=submitted,
    )
