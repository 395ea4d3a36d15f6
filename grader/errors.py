"""Errors that reach the user as one line and exit status 2."""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """A mistake in how difflearn was called: a missing path, an unknown module."""


class SubmissionError(UsageError):
    """What is wrong is one submission (a file it cannot read): in a batch, that student's
    failure, where any other mistake (the course, the sandbox) stops the batch."""


class NothingToGrade(SubmissionError):
    """A submission that holds no module of the course, or is not there at all."""


class ManifestError(UsageError):
    """A course manifest that breaks the schema; the message names file and key."""


def check_target(path: Path, force: bool) -> None:
    """A file difflearn is about to write: its folder must exist, and nothing of an
    instructor's is overwritten unless they pass --force."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.resolve().is_dir():
        raise UsageError(f"cannot write {path}: no folder {path.parent}")
