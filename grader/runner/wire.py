"""The wire format between the grading process and a submission's process.

Messages are JSON documents in length-prefixed frames. Pytrees of arrays are
encoded as plain JSON (arrays as base64 of their bytes), never pickled: the
grading process must be able to read what an untrusted process sends without
running anything it chose. `decode` accepts only the shapes of data `encode`
makes, and only plain numeric dtypes.

What the other process sends is hostile until decoded: `read_frame` and `decode`
take time and memory bounded by the bytes received, and fail only with `WireError`.
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
from typing import Any

import numpy as np

# Honest frames are at most a few hundred KB, a few hundred values and 9 levels deep
# (grading the course's solutions); the bounds leave a wide margin above that.
MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_NODES = 200_000  # JSON values per frame, as counted by `_check_structure`
MAX_DEPTH = 64  # JSON nesting in a frame; pytree nesting in `decode`
MAX_NDIM = 32  # what every NumPy version supports
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
# For the depth scan: keeps only brackets, and makes `{}` look like `[]`.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# What a malformed tree can make the decoder raise, besides WireError.
_DECODING_ERRORS = (
    ArithmeticError,
    LookupError,
    MemoryError,
    RecursionError,
    TypeError,
    ValueError,
)


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


# A pytree of what the wire carries: arrays, numbers, strings, None, and lists, tuples
# and dicts of them. Any, as JAX's own pytrees are: named once so that a signature says
# where a tree is meant (and where Any means something else, such as a JSON message).
Tree = Any


def encode(tree: Tree) -> Any:
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


def decode(data: Any) -> Tree:
    """Decodes what `encode` made; anything else raises `WireError`."""
    try:
        return _decode(data, 0)
    except _DECODING_ERRORS as error:  # a backstop: the checks below should leave none
        raise WireError(f"malformed tree ({type(error).__name__})") from error


def _decode(data: Any, depth: int) -> Tree:
    if depth > MAX_DEPTH:
        raise WireError("tree nested too deeply")
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
        items = [_decode(x, depth + 1) for x in _list(data.get("items"))]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        keys = _list(data.get("keys"))
        items = _list(data.get("items"))
        if len(keys) != len(items) or not all(isinstance(k, str) for k in keys):
            raise WireError("malformed dict")
        return {k: _decode(v, depth + 1) for k, v in zip(keys, items, strict=True)}
    if kind == "opaque":
        type_name = data.get("type", "object")
        if not isinstance(type_name, str):
            raise WireError("malformed opaque leaf")
        return Opaque(type_name[:200])
    if kind == "array":
        return _decode_array(data)
    # Only a string is quoted back: the repr of anything else may be huge.
    name = kind[:50] if isinstance(kind, str) else type(kind).__name__
    raise WireError(f"unknown tree node {name!r}")


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise WireError("expected a list")
    return value


def _decode_array(data: dict[str, Any]) -> np.ndarray:
    dtype, shape, text = data.get("dtype"), data.get("shape"), data.get("data", "")
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise WireError("dtype not allowed")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise WireError("malformed shape")
    if len(shape) > MAX_NDIM:
        raise WireError("array with too many dimensions")
    itemsize = np.dtype(dtype).itemsize
    # Python ints, so no size wraps around. An empty array counts as if its zero
    # dimensions were 1, which keeps NumPy from refusing its other dimensions.
    if math.prod(max(d, 1) for d in shape) * itemsize > MAX_FRAME_BYTES:
        raise WireError("array larger than a frame")
    size = math.prod(shape) * itemsize
    # Checked on the text first, so that no wrong-sized data is decoded at all.
    if not isinstance(text, str) or len(text) != 4 * -(-size // 3):
        raise WireError("array data does not match its shape")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as error:
        raise WireError("malformed array data") from error
    if len(raw) != size:
        raise WireError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(shape)).copy()


def encode_frame(message: Any) -> bytes:
    """One JSON message as a frame: its length, then its text (ASCII)."""
    payload = json.dumps(message, allow_nan=True).encode("ascii")
    return _HEADER.pack(len(payload)) + payload


def write_frame(fd: int, message: Any) -> None:
    """Writes one JSON message to a file descriptor (blocking: the child's end, whose
    reader, the grading process, always reads; that side writes with encode_frame and
    a poll loop of its own, see grader.runner.process). A closed reader raises OSError."""
    view = memoryview(encode_frame(message))
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
    return _parse_payload(payload)


class FrameReader:
    """Frames from bytes as they arrive, for a reader that polls (read_frame blocks)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._size: int | None = None  # of the payload, once its header is in

    def feed(self, data: bytes) -> Any:
        """Adds `data`; returns the next whole message, or None while it is incomplete
        (a message `null` looks the same). What follows a message waits for the next
        call, which may pass b"". After a WireError the stream is lost."""
        self._buffer += data
        if self._size is None:
            if len(self._buffer) < _HEADER.size:
                return None
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME_BYTES:
                raise WireError(f"message of {size} bytes is larger than allowed")
            # Deleting from the front of a bytearray moves no bytes.
            del self._buffer[: _HEADER.size]
            self._size = size
        if len(self._buffer) < self._size:
            return None
        payload, self._buffer = self._buffer, self._buffer[self._size :]
        del payload[self._size :]
        self._size = None
        return _parse_payload(payload)


def _parse_payload(payload: bytes | bytearray) -> Any:
    """The JSON document of a frame's payload, if it is within the bounds of a frame."""
    _check_structure(payload)
    try:
        return json.loads(payload.decode("ascii"))
    except (ValueError, RecursionError, MemoryError) as error:
        raise WireError("message is not JSON") from error


def _check_structure(payload: bytes | bytearray) -> None:
    """Refuses, before parsing, a payload that would parse into too many values or
    nest too deeply: what json.loads builds can be ten times the text's size, and
    it recurses once per level."""
    # `write_frame` escapes everything else, and ASCII text decodes to a str of its size.
    if not payload.isascii():
        raise WireError("message is not ASCII JSON")
    containers = payload.count(b"{") + payload.count(b"[")
    # Every value but the first of a container follows a comma. Counting the bytes
    # inside strings too over-counts, which is safe, and strings are short.
    values = containers + payload.count(b",")
    if values > MAX_NODES:
        raise WireError(f"message of more than {MAX_NODES} values")
    if containers > MAX_DEPTH and _depth(payload, values, containers) > MAX_DEPTH:
        raise WireError(f"message nested more than {MAX_DEPTH} deep, or not JSON")


def _depth(payload: bytes | bytearray, values: int, containers: int) -> int:
    """How deep the containers of a JSON text nest, or MAX_DEPTH + 1 when deeper or
    unbalanced; in bytes operations, so a frame of 64 MB takes a fraction of a second."""
    # Escaped backslashes, then escaped quotes: then every quote left opens or closes
    # a string (or the text is not JSON, which json.loads finds out before nesting).
    plain = payload
    if b"\\" in plain:  # a bytearray's replace copies it even when nothing matches
        plain = plain.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Each value, and each key, is at most one string of two quotes.
    if plain.count(b'"') > 4 * values + 2:
        return MAX_DEPTH + 1
    outside = b"".join(plain.split(b'"')[::2])
    brackets = outside.translate(_BRACKETS, delete=_NOT_BRACKETS)
    if len(brackets) > 2 * containers:  # more closing brackets than opening ones
        return MAX_DEPTH + 1
    # Each round removes the innermost pairs, so the rounds it takes are the depth.
    for depth in range(MAX_DEPTH + 1):
        if not brackets:
            return depth
        brackets = brackets.replace(b"[]", b"")
    return MAX_DEPTH + 1


def _read_exactly(fd: int, size: int) -> bytearray | None:
    """`size` bytes from `fd`, read into one buffer (no second copy to join chunks);
    None at the end of the stream before the first byte."""
    buffer = bytearray(size)
    with memoryview(buffer) as view:
        done = 0
        while done < size:
            count = os.readv(fd, [view[done : done + (1 << 20)]])
            if not count:
                if done == 0:
                    return None
                raise WireError("message cut short")
            done += count
    return buffer
