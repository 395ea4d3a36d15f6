"""The reference's outcomes, kept on disk: computed once per version of the solutions.

Tracing and lowering the reference's probes is most of a warm grade's time, and the
answers do not change until the solutions, the grader or the numerical libraries do.
So `LiveReference` keeps every outcome it computes in a folder named by a hash of
those (`version`), one gzipped JSON file per module, in the grading process's own
cache folder, which no submission's process ever sees (grader.runner.cache).

An entry's key is a hash of the whole question: module, function, harness and the
probe as it goes on the wire (kind, arguments, options). A change to course.yml's
inputs or checks therefore asks new questions rather than reading stale answers,
and hidden and unseen cases are kept like any other (the folder is the instructor's).

Several graders may share the folder (grade-batch's workers): a module's file is
replaced whole (write, then rename), and one that another process replaced in between
only loses answers that are computed again.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from grader.runner.probes import Probe
from grader.runner.wire import Tree, decode, encode


def version(solutions_dir: Path, *parts: str) -> str:
    """A hash of every file of `solutions_dir` (names and bytes) and of `parts` (the
    versions of the grader and of the libraries that compute the answers)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    for path in sorted(p for p in solutions_dir.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(solutions_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def question(module: str, function: str, harness: str | None, probe: Probe) -> str:
    """The key of one probe's answer: a hash of everything the reference is asked."""
    asked = [module, function, harness, probe.to_message(encode)]
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


class OutcomeMemo:
    """The answers of one version of the reference, by module, read and written whole."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._modules: dict[str, dict[str, Any]] = {}  # encoded answers, by question

    def get(self, module: str, key: str) -> tuple[bool, Tree]:
        """(True, the answer) if `key` was answered; (False, None) otherwise."""
        answers = self._load(module)
        if key not in answers:
            return False, None
        return True, decode(answers[key])

    def remember(self, module: str, key: str, compute: Callable[[], Tree]) -> Tree:
        """The answer kept under `key`, or `compute`'s, kept now (a sampled input)."""
        known, value = self.get(module, key)
        if not known:
            value = compute()
            self.put(module, [(key, value)])
        return value

    def put(self, module: str, answers: Iterable[tuple[str, Tree]]) -> None:
        """Keeps new answers: merged with what another process may have written since."""
        new = {key: encode(value) for key, value in answers}
        if not new:
            return
        merged = {**self._read(module), **self._load(module), **new}
        self._modules[module] = merged
        with contextlib.suppress(OSError):  # a full or read-only disk costs speed only
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{module}-")
            try:
                with open(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as file:
                    file.write(json.dumps(merged).encode())
                os.replace(temporary, self._file(module))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)

    def _load(self, module: str) -> dict[str, Any]:
        if module not in self._modules:
            self._modules[module] = self._read(module)
        return self._modules[module]

    def _read(self, module: str) -> dict[str, Any]:
        try:
            with gzip.open(self._file(module), "rb") as file:
                data = json.loads(file.read().decode())
        except (OSError, ValueError, EOFError):  # none yet, or torn: answered again
            return {}
        return data if isinstance(data, dict) else {}

    def _file(self, module: str) -> Path:
        return self.folder / f"{module}.json.gz"
