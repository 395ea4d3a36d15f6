"""Fuzzing the wire format: whatever arrives decodes to a value or a `WireError`, and
whatever `encode` takes comes back the same."""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np
from conftest import needs

import grader.runner.wire as wire
from grader.runner.wire import WireError, decode, encode, read_frame

needs("hypothesis")  # the fuzzer; without it, this file is skipped
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

# Deterministic, quick, and leaving no example database in the repository.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text with what the depth scan cares about: brackets, quotes and backslashes.
TRICKY_TEXT = st.text(alphabet='[]{}"\\,: ab\u00e9\n', max_size=12)
NUMBERS = (
    st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
)
JSON_SCALARS = st.none() | NUMBERS | TRICKY_TEXT


def _json_like(max_leaves: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        JSON_SCALARS,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(TRICKY_TEXT, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


ANYTHING = _json_like(max_leaves=4)
DTYPES = sorted(wire.ALLOWED_DTYPES)
ARRAYS = hnp.arrays(
    dtype=st.sampled_from(DTYPES).map(np.dtype),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
)
# Small dimensions, and ones whose products overflow int64 or that NumPy refuses.
DIMS = st.integers(0, 4) | st.sampled_from([-1, 2**31, 2**61 + 1, 2**62, 2**63, 2**64])
# What to put in a field of an encoded array instead: likely troublemakers.
ARRAY_SPOILS = st.one_of(
    st.tuples(st.just("shape"), st.lists(DIMS, max_size=3)),
    st.tuples(st.just("shape"), st.lists(st.just(1), min_size=30, max_size=70)),
    st.tuples(st.just("dtype"), st.sampled_from([*DTYPES, "object", "<f4"])),
    st.tuples(st.just("data"), st.text(alphabet="AQgw+/=", max_size=16)),
)
# And in any field of any node: anything (None removes the field).
ANY_SPOILS = st.tuples(
    st.sampled_from(["t", "v", "type", "items", "keys", "dtype", "shape", "data"]), ANYTHING
)


def _spoil(node: dict[str, Any], spoil: tuple[str, Any]) -> dict[str, Any]:
    """`node` with one field replaced, or removed (by `None`)."""
    field, value = spoil
    spoiled = {k: v for k, v in node.items() if k != field}
    return spoiled if value is None else {**spoiled, field: value}


ENCODED_LEAVES = st.one_of(st.none(), NUMBERS, TRICKY_TEXT, ARRAYS, st.builds(object)).map(encode)
LEAF_NODES = st.one_of(
    ENCODED_LEAVES,
    st.builds(_spoil, ARRAYS.map(encode), ARRAY_SPOILS),
    st.builds(_spoil, ENCODED_LEAVES, ANY_SPOILS),
    ANYTHING,
)


def _inner_nodes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """List, tuple and dict nodes of `children`, maybe spoiled."""
    kinds = st.sampled_from(["list", "tuple"])
    nodes = st.builds(
        lambda t, items: {"t": t, "items": items}, kinds, st.lists(children, max_size=4)
    )
    nodes |= st.dictionaries(TRICKY_TEXT, children, max_size=4).map(
        lambda d: {"t": "dict", "keys": list(d), "items": list(d.values())}
    )
    return nodes | st.builds(_spoil, nodes, ANY_SPOILS)


def _nest(tree: Any, levels: int) -> Any:
    for _ in range(levels):
        tree = {"t": "list", "items": [tree]}
    return tree


# Encoded trees, spoiled here and there, some under thousands of levels of lists.
TREES = st.builds(
    _nest,
    st.recursive(LEAF_NODES, _inner_nodes, max_leaves=8),
    st.integers(0, 3) | st.integers(0, 1200),
)


@FUZZ
@given(TREES)
def test_decoding_any_json_like_tree_gives_a_value_or_a_wire_error(tree):
    with contextlib.suppress(WireError):
        decode(tree)


def _read_all(data: bytes) -> None:
    """Reads frames from `data` through a pipe until its end or a WireError."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, data)  # small: fits in the pipe
        os.close(write_fd)
        while read_frame(read_fd) is not None:
            pass
    except WireError:
        pass
    finally:
        os.close(read_fd)


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(8, "big") + payload


JSONISH_BYTES = st.text(alphabet='[]{}",:\\ 0123456789.eE-+tfnrulasNI\u00e9', max_size=300).map(
    lambda text: text.encode("utf-8")
)


# Nesting deeper than the recursion limit, then anything.
DEEP_BYTES = st.builds(lambda depth, tail: b"[" * depth + tail, st.integers(0, 3000), JSONISH_BYTES)


@FUZZ
@given(st.binary(max_size=2000) | JSONISH_BYTES | DEEP_BYTES, st.booleans())
def test_reading_any_bytes_gives_frames_or_a_wire_error(payload, framed):
    _read_all(_frame(payload) if framed else payload)


@FUZZ
@given(st.lists(JSONISH_BYTES | st.binary(max_size=50), max_size=5), st.integers(1, 50))
def test_a_frame_reader_fed_any_chunks_gives_frames_or_a_wire_error(payloads, chunk):
    data = b"".join(_frame(p) for p in payloads)
    reader = wire.FrameReader()
    try:
        for start in range(0, len(data), chunk):
            reader.feed(data[start : start + chunk])
    except WireError:
        pass


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@FUZZ
@given(_json_like(max_leaves=10), st.integers(0, wire.MAX_DEPTH + 10), st.booleans())
def test_a_frame_is_read_exactly_when_it_nests_at_most_max_depth(tree, wraps, in_dicts):
    for _ in range(wraps):
        tree = {'k"[\\': tree} if in_dicts else [tree, "]\\"]
    data = wire.encode_frame(tree)
    try:
        back = wire.FrameReader().feed(data)
    except WireError:
        assert _depth(tree) > wire.MAX_DEPTH
    else:
        assert _depth(tree) <= wire.MAX_DEPTH and back == tree


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=wire.MAX_STRING_CHARS)
    | ARRAYS
)
PYTREES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types, and for floats and arrays the same bits (NaN too)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


@FUZZ
@given(PYTREES)
def test_encodable_pytrees_round_trip_exactly_also_through_a_frame(tree):
    assert _same(decode(encode(tree)), tree)
    message = {"event": "results", "results": [{"value": encode(tree)}]}
    frame = wire.FrameReader().feed(wire.encode_frame(message))
    assert _same(decode(frame["results"][0]["value"]), tree)
