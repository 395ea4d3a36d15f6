"""`difflearn grade --watch`: grade, then grade again the modules whose files change.

Files are polled (their modification time and size, every second) rather than watched by
the operating system: no dependency, and the same on every system and file system. The
loop takes its sleep and its stop as arguments, so that a test drives it without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

POLL_S = 1.0

Stamp = tuple[int, int]  # a file's modification time (ns) and size; (-1, -1) when it is gone


def stamp(path: Path) -> Stamp:
    """What tells that `path` changed: its modification time and size."""
    try:
        info = path.stat()
    except OSError:
        return (-1, -1)
    return (info.st_mtime_ns, info.st_size)


def changed(paths: Sequence[Path], before: Mapping[Path, Stamp]) -> list[Path]:
    """The `paths` whose stamp is not the one `before` holds."""
    return [path for path in paths if stamp(path) != before.get(path)]


def watch(
    paths: Sequence[Path],
    grade_once: Callable[[Sequence[Path]], None],
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Grades `paths` once (`grade_once`), then, every POLL_S, those of them that changed,
    until `stop()` says so or Ctrl-C (KeyboardInterrupt, for the caller) ends it. A file
    saved while it is graded is graded again at the next look."""
    seen = {path: stamp(path) for path in paths}
    grade_once(paths)
    while not stop():
        sleep(POLL_S)
        if due := changed(paths, seen):
            seen.update({path: stamp(path) for path in due})
            grade_once(due)
