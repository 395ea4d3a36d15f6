"""The wire format between the grading process and a submission's process.

Messages are JSON documents in length-prefixed frames. Pytrees of arrays are
encoded as plain JSON (arrays as base64 of their bytes), never pickled: the
grading process must be able to read what an untrusted process sends without
running anything it chose. `decode` accepts only the shapes of data `encode`
makes, and only plain numeric dtypes.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from typing import Any

import numpy as np

MAX_FRAME_BYTES = 256 * 1024 * 1024
MAX_STRING_CHARS = 1000
ALLOWED_DTYPES = frozenset(
    [
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    ]
)
_HEADER = struct.Struct(">Q")


class WireError(Exception):
    """A message that breaks the format: truncated, too large or malformed."""


class Opaque:
    """A leaf that was not an array, kept by its type name for feedback."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.type_name == self.type_name

    def __hash__(self) -> int:
        return hash(self.type_name)


def encode(tree: Any) -> Any:
    """Encodes a pytree of arrays, numbers, strings, tuples, lists, dicts and None as JSON."""
    if tree is None:
        return {"t": "none"}
    if isinstance(tree, bool | int | float) and not isinstance(tree, np.generic):
        return {"t": "py", "v": tree, "type": type(tree).__name__}
    if isinstance(tree, str):
        return {"t": "str", "v": tree[:MAX_STRING_CHARS]}
    if isinstance(tree, tuple | list):
        return {"t": type(tree).__name__, "items": [encode(x) for x in tree]}
    if isinstance(tree, dict):
        keys = list(tree)
        if not all(isinstance(k, str) for k in keys):
            return {"t": "opaque", "type": "dict with non-string keys"}
        return {"t": "dict", "keys": keys, "items": [encode(tree[k]) for k in keys]}
    if isinstance(tree, Opaque):
        return {"t": "opaque", "type": tree.type_name}
    try:
        array = np.asarray(tree)
    except Exception:
        return {"t": "opaque", "type": type(tree).__name__}
    if array.dtype.kind == "O":
        return {"t": "opaque", "type": type(tree).__name__}
    if array.dtype.name not in ALLOWED_DTYPES:
        return {"t": "opaque", "type": f"{type(tree).__name__} of dtype {array.dtype}"}
    return {
        "t": "array",
        "dtype": array.dtype.name,
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes(order="C")).decode("ascii"),
    }


def decode(data: Any) -> Any:
    """Decodes what `encode` made; anything else raises `WireError`."""
    if not isinstance(data, dict):
        raise WireError("malformed tree node")
    kind = data.get("t")
    if kind == "none":
        return None
    if kind == "py":
        value = data.get("v")
        if not isinstance(value, bool | int | float):
            raise WireError("malformed Python number")
        return value
    if kind == "str":
        value = data.get("v")
        if not isinstance(value, str):
            raise WireError("malformed string")
        return value[:MAX_STRING_CHARS]
    if kind in ("tuple", "list"):
        items = [decode(x) for x in _list(data.get("items"))]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        keys = _list(data.get("keys"))
        items = _list(data.get("items"))
        if len(keys) != len(items) or not all(isinstance(k, str) for k in keys):
            raise WireError("malformed dict")
        return {k: decode(v) for k, v in zip(keys, items, strict=True)}
    if kind == "opaque":
        return Opaque(str(data.get("type", "object"))[:200])
    if kind == "array":
        return _decode_array(data)
    raise WireError(f"unknown tree node {kind!r}")


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise WireError("expected a list")
    return value


def _decode_array(data: dict[str, Any]) -> np.ndarray:
    dtype = data.get("dtype")
    shape = data.get("shape")
    if dtype not in ALLOWED_DTYPES:
        raise WireError(f"dtype {dtype!r} not allowed")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise WireError("malformed shape")
    try:
        raw = base64.b64decode(data.get("data", ""), validate=True)
    except (ValueError, TypeError) as error:
        raise WireError("malformed array data") from error
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if len(raw) != expected:
        raise WireError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(shape)).copy()


def write_frame(fd: int, message: Any) -> None:
    """Writes one JSON message to a file descriptor."""
    payload = json.dumps(message, allow_nan=True).encode("utf-8")
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_frame(fd: int) -> Any:
    """Reads one JSON message; returns None at end of stream."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise WireError(f"message of {size} bytes is larger than allowed")
    payload = _read_exactly(fd, size)
    if payload is None:
        raise WireError("message cut short")
    try:
        return json.loads(payload)
    except ValueError as error:
        raise WireError("message is not JSON") from error


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            if remaining == size:
                return None
            raise WireError("message cut short")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
