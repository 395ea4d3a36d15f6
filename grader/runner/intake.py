"""What the grading process takes from a submission: the course's modules, read safely.

A submission is untrusted before any of it runs. Its folder may hold symbolic links
(to the solutions, to `/proc/self/pagemap`), devices, FIFOs, folders where a file
should be, or files of gigabytes. This is the one place that reads a submission:
`grade`, `grade-batch` (finding, fingerprinting, resuming), notebooks and Gradescope
all go through `read_submission`, and the child only ever sees what it returns,
staged as `<module>.py` files.

Only the course's names are taken, in this order of precedence (`candidates`):
`<module>.py`, `<module>.ipynb`, nbgrader's `<module>/<module>.py|.ipynb`, and the
student repository's `exercises/<module>.py|.ipynb`; for an assignment of one module
(Gradescope), also the submission's one notebook whatever its name (`Untitled.ipynb`).
The first name that exists decides: a link, a device, a FIFO, a folder in a file's
place or an oversized file refuses that module with a one-line reason; the other
modules are graded. Every component below the submission's folder is opened with
`O_NOFOLLOW`, and a file counts only if it is a regular file once opened.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.notebooks import notebook_module
from grader.errors import SubmissionError, UsageError

DEFAULT_MAX_BYTES = 1024 * 1024
SUFFIXES = (".py", ".ipynb")  # a module, or a notebook that defines it (the .py wins)
EXERCISES = "exercises"  # the student repository's folder, uploaded whole from GitHub


@dataclass(frozen=True)
class SubmittedModule:
    """One module as the child will import it.

    Attributes:
      name: the course module's name.
      origin: where it came from, relative to the submission (`bce.ipynb`).
      raw: the submitted file's bytes, as read (what a fingerprint hashes).
      source: the module's Python source (for a notebook, its code cells joined).
    """

    name: str
    origin: str
    raw: bytes
    source: bytes


@dataclass(frozen=True)
class Submission:
    """The modules taken from a submission, and those refused with the reason why."""

    modules: Mapping[str, SubmittedModule] = field(default_factory=dict)
    refused: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Every module found, taken or refused."""
        return sorted({*self.modules, *self.refused})

    def fingerprint(self) -> str:
        """A hash of what would be graded: a resumed batch regrades when it changes."""
        digest = hashlib.sha256()
        for name in self.names:
            module = self.modules.get(name)
            digest.update(name.encode() + b"\0")
            if module is not None:
                digest.update(os.fsencode(module.origin) + b"\0" + module.raw + b"\0")
            else:
                digest.update(b"refused\0" + self.refused[name].encode() + b"\0")
        return digest.hexdigest()


def candidates(name: str, notebooks: Sequence[str] = ()) -> list[tuple[str, ...]]:
    """Where module `name` may be in a submission folder, first found wins: the module's
    own names, then the one notebook of `notebooks` (the folder's, passed only for an
    assignment of this one module), whatever it is called: Gradescope keeps an upload's
    name, `Untitled.ipynb` or `bce (1).ipynb`. Two notebooks there name neither."""
    places = [(name + s,) for s in SUFFIXES]
    places += [(folder, name + s) for folder in (name, EXERCISES) for s in SUFFIXES]
    alone = [(notebooks[0],)] if len(notebooks) == 1 else []
    return places + alone


def read_submission(
    path: Path,
    names: Iterable[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
    course: Sequence[str] | None = None,
) -> Submission:
    """The course modules `names` at `path`: a submission folder, or one module file.
    With `course` (all the course's modules), `names` are an assignment, all that was
    asked for: where that is one module, the folder's one notebook not named after
    another module counts as it, whatever its name (`candidates`).

    `path` itself is the caller's (a command-line argument, a folder the batch listed
    and checked); everything below it is the student's and is never followed."""
    names = list(names)
    if path.is_file() or path.is_symlink() and not path.is_dir():
        name = path.stem
        if path.suffix not in SUFFIXES or name not in names:
            return Submission()
        return _collect({name: _read_file(path.parent, (path.name,), max_bytes, name)})
    try:
        root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise SubmissionError(f"cannot read the submission {path}: {error.strerror}") from None
    try:
        notebooks = _notebooks(root, course) if course is not None and len(names) == 1 else ()
        return _collect({name: _read_module(root, name, max_bytes, notebooks) for name in names})
    finally:
        os.close(root)


def _notebooks(root: int, course: Sequence[str]) -> tuple[str, ...]:
    """The notebooks in the folder `root` but those named after a module of `course`, by
    name (links among them too: they are refused when read); two at most, enough to
    know there is not one."""
    theirs = {name + ".ipynb" for name in course}
    found: list[str] = []
    with os.scandir(root) as entries:
        for entry in entries:
            name = entry.name
            if name.endswith(".ipynb") and not name.startswith(".") and name not in theirs:
                found.append(name)
                if len(found) == 2:
                    break
    return tuple(found)


def _collect(found: Mapping[str, SubmittedModule | str | None]) -> Submission:
    modules = {n: m for n, m in found.items() if isinstance(m, SubmittedModule)}
    refused = {n: m for n, m in found.items() if isinstance(m, str)}
    return Submission(modules=modules, refused=refused)


def _read_module(
    root: int, name: str, max_bytes: int, notebooks: Sequence[str] = ()
) -> SubmittedModule | str | None:
    """The module, the reason it is refused, or None where the submission has no file."""
    for parts in candidates(name, notebooks):
        if _exists(root, parts):
            return _read_file(root, parts, max_bytes, name)
    return None


def _exists(root: int, parts: tuple[str, ...]) -> bool:
    """Whether something (of any type) stands at `parts`, looked up without following."""
    folder, opened = root, []
    try:
        for i, part in enumerate(parts):
            info = os.lstat(part, dir_fd=folder)
            if i == len(parts) - 1 or stat.S_ISLNK(info.st_mode):
                return True  # a linked folder stands there too, and is refused when read
            if not stat.S_ISDIR(info.st_mode):
                return False
            folder = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            opened.append(folder)
    except OSError:
        return False
    finally:
        for fd in opened:
            os.close(fd)
    return False


def _read_file(
    root: int | Path, parts: tuple[str, ...], max_bytes: int, name: str
) -> SubmittedModule | str:
    """Reads one file below `root` without following any link; a reason if it is refused."""
    origin = "/".join(parts)
    shown = displayed(origin)  # what messages and a notebook's labels say
    opened: list[int] = []
    try:
        if isinstance(root, Path):
            root = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            opened.append(root)
        folder = root
        for part in parts[:-1]:
            folder = _open(part, folder, directory=True)
            opened.append(folder)
        fd = _open(parts[-1], folder, directory=False)
        opened.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return f"{shown} is not a regular file; submit the file itself"
        if info.st_size > max_bytes:
            return f"{shown} is larger than {_size(max_bytes)} ({_size(info.st_size)})"
        raw = _read_bounded(fd, max_bytes)
        if raw is None:
            return f"{shown} is larger than {_size(max_bytes)}"
    except OSError as error:
        # O_NOFOLLOW says ELOOP for a linked file and O_DIRECTORY ENOTDIR for a linked folder.
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            linked = _linked_part(root, parts)
            if linked:
                return f"{displayed(linked)} is a symbolic link; submit the file itself"
        return f"{shown} cannot be read: {error.strerror}"
    finally:
        for fd in reversed(opened):
            os.close(fd)
    source = raw
    if parts[-1].endswith(".ipynb"):
        try:
            source = notebook_module(raw, shown).encode("utf-8")
        except UsageError as error:  # a broken notebook fails at import, as a module would
            source = f"raise ImportError({str(error)!r})\n".encode()
    return SubmittedModule(name=name, origin=origin, raw=raw, source=source)


def displayed(name: str) -> str:
    """A file name as text that prints anywhere: bytes that are not UTF-8 (which Python
    keeps as lone surrogates) shown as escapes, `\\xff`."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def _linked_part(root: int | Path, parts: tuple[str, ...]) -> str:
    """The first part of `parts` that is a symbolic link ('' if none is)."""
    for i in range(1, len(parts) + 1):
        path = "/".join(parts[:i])
        try:
            at = root if isinstance(root, int) else None
            info = os.lstat(path if at is not None else Path(root) / path, dir_fd=at)
        except OSError:
            return ""
        if stat.S_ISLNK(info.st_mode):
            return path
    return ""


def _open(name: str, folder: int, directory: bool) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused after fstat.
    flags |= os.O_DIRECTORY if directory else os.O_NONBLOCK
    return os.open(name, flags, dir_fd=folder)


def _read_bounded(fd: int, max_bytes: int) -> bytes | None:
    """At most `max_bytes`; None if the file holds more (it grew after fstat)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return None


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"
