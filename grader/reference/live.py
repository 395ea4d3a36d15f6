"""The live reference: the solutions, run in the grading process (trusted code), their
answers kept on disk for the next grade (grader.reference.memo).

Nothing here starts JAX or runs a solution module until an answer is not in the memo
or a lambda of course.yml runs (grader.course.namespace): a warm grade of most modules
never does.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from grader import __version__
from grader.course.namespace import Namespace, library_names
from grader.reference.base import CourseError
from grader.reference.memo import OutcomeMemo, question, version
from grader.runner.cache import REFERENCE, cache_dir, enable_in_this_process, library_versions
from grader.runner.probes import Outcome, Probe, ProbeKey


class LiveReference:
    """Runs the reference solutions in this process, remembering every outcome."""

    def __init__(self, solutions_dir: Path):
        self.cache = cache_dir(REFERENCE)
        self.solutions_dir = Path(solutions_dir)
        self._modules: dict[str, ModuleType] = {}
        self._cache: dict[tuple[str, str, ProbeKey], Outcome] = {}
        self.memo = (
            None
            if self.cache is None
            else OutcomeMemo(
                self.cache
                / "outcomes"
                / version(self.solutions_dir, __version__, *library_versions())
            )
        )

    def outcomes(
        self,
        module: str,
        function: str,
        probes: Mapping[ProbeKey, Probe],
        harness: str | None = None,
    ) -> dict[ProbeKey, Outcome]:
        answer: Callable[[Probe, ProbeKey], Any] | None = None  # the reference, run if need be
        results, computed = {}, []
        for key, probe in probes.items():
            cache_key = (module, function, key)
            if cache_key not in self._cache:
                asked = question(module, function, harness, probe)
                known, value = self.memo.get(module, asked) if self.memo else (False, None)
                if not known:
                    answer = answer or self._answerer(module, function, harness)
                    value = answer(probe, key)
                    computed.append((asked, value))
                self._cache[cache_key] = Outcome(value=value)
            results[key] = self._cache[cache_key]
        if self.memo is not None:
            self.memo.put(module, computed)
        return results

    def _answerer(
        self, module: str, function: str, harness: str | None
    ) -> Callable[[Probe, ProbeKey], Any]:
        """Answers probes by running the reference function (this starts JAX)."""
        from grader.runner.probing import ProbeRunner, resolve_target
        from grader.runner.programs import facts

        try:
            runner = ProbeRunner(resolve_target(vars(self._module(module)), function, harness))
        except LookupError:
            raise CourseError(
                f"{self.solutions_dir / (module + '.py')} has no function "
                f"{function!r}, which course.yml lists"
            ) from None

        def answer(probe: Probe, key: ProbeKey) -> Any:
            try:
                if probe.kind == "export":  # trusted: its facts without a round trip
                    return facts(runner.exported(probe), probe.args, probe.static)
                return runner.run(probe)
            except Exception as error:
                raise CourseError(
                    f"the reference {module}.{function} failed on probe {key}: "
                    f"{type(error).__name__}: {error}"
                ) from error

        return answer

    def inputs(self, module: str, function: str) -> Mapping[str, tuple[Any, ...]] | None:
        return None

    def namespace(self, module: str) -> Namespace:
        remember = None if self.memo is None else functools.partial(self.memo.remember, module)
        return Namespace(lambda: {**library_names(), **vars(self._module(module))}, remember)

    def private_paths(self) -> list[Path]:
        """The course folder around solutions/ (course.yml too), the git work tree that
        holds it (its .git has the solutions' history), and the cache."""
        course = self.solutions_dir.resolve().parent
        repository = next((p for p in (course, *course.parents) if (p / ".git").exists()), None)
        folders = [course] if repository is None else [course, repository]
        return folders + ([self.cache] if self.cache is not None else [])

    def solution_file(self, module: str) -> Path | None:
        return self.solutions_dir / f"{module}.py"

    def _module(self, name: str) -> ModuleType:
        """The solution module, run once (it imports JAX: the cache is set up first)."""
        if name not in self._modules:
            path = self.solutions_dir / f"{name}.py"
            if not path.is_file():
                raise CourseError(f"no reference solution {path} for module {name!r}")
            enable_in_this_process(self.cache)
            spec = importlib.util.spec_from_file_location(f"_difflearn_reference_{name}", path)
            if spec is None or spec.loader is None:
                raise CourseError(f"cannot load the reference solution {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._modules[name] = module
        return self._modules[name]
