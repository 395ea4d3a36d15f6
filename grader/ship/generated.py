"""Files difflearn generates, and whether anyone has edited them since.

A generated file (a stub in exercises/, nbgrader_config.py) may be regenerated
whenever it is byte for byte what difflearn wrote last time; one that someone edited
holds their work and is never overwritten without their say. What was written is
remembered as a hash in a record beside it (`.difflearn-generated.json`, one per
folder), so the files themselves carry no marks.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

RECORD = ".difflearn-generated.json"

State = Literal["missing", "current", "untouched", "edited"]


def state(path: Path, text: str) -> State:
    """Where `path` stands against the newly generated `text`: missing; already `text`
    (current); what difflearn wrote last time, unedited (untouched, safe to replace); or
    anything else (edited: someone's work, or a file difflearn has no record of)."""
    if not path.is_file():
        return "missing"
    data = path.read_bytes()
    if data == text.encode("utf-8"):
        return "current"
    return "untouched" if _record(path.parent).get(path.name) == _digest(data) else "edited"


def refresh(path: Path, text: str, force: bool = False) -> bool:
    """Brings `path` to `text` where that loses nobody's work (missing, or untouched; an
    edited file only with `force`), keeping the record current; whether it wrote."""
    now = state(path, text)
    if now == "current":
        remember(path, text.encode("utf-8"))  # a file from before the record was kept
        return False
    if now == "edited" and not force:
        return False
    write(path, text)
    return True


def write(path: Path, text: str) -> None:
    """Writes `text` to `path` and records it as difflearn's own."""
    data = text.encode("utf-8")
    path.write_bytes(data)
    remember(path, data)


def remember(path: Path, data: bytes) -> None:
    """Records `data` as what difflearn wrote to `path` (a file already in place)."""
    record = _record(path.parent)
    record[path.name] = _digest(data)
    (path.parent / RECORD).write_text(
        json.dumps(dict(sorted(record.items())), indent=1) + "\n", encoding="utf-8"
    )


def _record(folder: Path) -> dict[str, str]:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict):
        return {}
    return {k: v for k, v in record.items() if isinstance(v, str)}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
