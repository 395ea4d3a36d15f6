"""The wire format: round trips, and refusal of anything `encode` does not make.

What a submission's process sends is hostile: decoding it must end, soon, in a value
or a `WireError`, within memory of the order of the bytes received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import grader.runner.wire as wire
from grader.runner.wire import Opaque, WireError, decode, encode, read_frame, write_frame

ROOT = Path(__file__).resolve().parents[2]


def test_round_trip_keeps_structure_shapes_and_dtypes():
    tree = (
        {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float32(1.5)},
        [np.array(3, dtype=np.int32), None, 2.0, "scan"],
        np.array([True, False]),
    )
    back = decode(encode(tree))
    assert isinstance(back, tuple) and isinstance(back[1], list)
    np.testing.assert_array_equal(back[0]["w"], tree[0]["w"])
    assert back[0]["b"].shape == () and back[0]["b"].dtype == np.float32
    assert back[1][0].dtype == np.int32 and back[1][1] is None and back[1][2] == 2.0
    assert back[1][3] == "scan" and back[2].dtype == np.bool_


def test_unknown_objects_travel_as_opaque_type_names():
    assert decode(encode(object())) == Opaque("object")


@pytest.mark.parametrize(
    "data",
    [
        {"t": "array", "dtype": "object", "shape": [1], "data": ""},
        {"t": "array", "dtype": "float32", "shape": [2], "data": "AAAAAA=="},
        {"t": "array", "dtype": "float32", "shape": [-1], "data": ""},
        {"t": "pickle", "data": "gASVAAAAAAAAAACMCGJ1aWx0aW5zlC4="},
        {"t": "dict", "keys": ["a"], "items": []},
        ["not", "a", "node"],
    ],
)
def test_malformed_data_is_refused(data):
    with pytest.raises(WireError):
        decode(data)


def _array(shape: Any, data: Any = "", dtype: Any = "float32") -> dict[str, Any]:
    return {"t": "array", "dtype": dtype, "shape": shape, "data": data}


def test_a_size_that_overflows_int64_is_refused():
    # 2**62 * 4 elements wrap around to 0 in int64, which matched the empty data.
    with pytest.raises(WireError):
        decode(_array([2**62, 4]))


def test_shapes_must_be_lists_of_small_natural_numbers():
    shapes = [
        [-1],
        [True],
        [2.0],
        "3",
        None,
        [2**64],  # beyond int64
        [0, 2**62],  # empty, but NumPy refuses its size
        [0, 2**63],
        [1] * (wire.MAX_NDIM + 1),
        [0] * 65,  # more dimensions than NumPy allows
    ]
    for shape in shapes:
        with pytest.raises(WireError):
            decode(_array(shape))


def test_data_must_have_exactly_the_size_of_the_shape():
    four_bytes = "AAAAAA=="
    cases = [
        _array([2], four_bytes),  # too short
        _array([], "AAAAAAAA"),  # too long
        _array([2**62 + 1, 4], four_bytes, "int8"),  # matches only modulo 2**64
        _array([2**61 + 1, 8], four_bytes, "int8"),
        _array([1], 4),  # not text
        _array([1], ["AAAAAA=="]),
        _array([1], "AAAA\u00e9AA="),  # not base64
    ]
    for data in cases:
        with pytest.raises(WireError):
            decode(data)
    assert decode(_array([1], four_bytes)).tolist() == [0.0]


def test_odd_node_fields_are_refused_not_crashed_on():
    cases = [
        _array([1], "AAAAAA==", dtype=["float32"]),  # unhashable dtype
        {"t": ["list"]},
        {"t": "opaque", "type": [[["deep"]]]},
    ]
    for data in cases:
        with pytest.raises(WireError):
            decode(data)


def test_deeply_nested_trees_are_refused_not_a_recursion_error():
    tree: Any = {"t": "none"}
    for _ in range(10_000):
        tree = {"t": "list", "items": [tree]}
    with pytest.raises(WireError, match="deeply"):
        decode(tree)


def test_frames_round_trip_and_end_of_stream():
    read_fd, write_fd = os.pipe()
    write_frame(write_fd, {"event": "ready", "n": [1, 2]})
    os.close(write_fd)
    assert read_frame(read_fd) == {"event": "ready", "n": [1, 2]}
    assert read_frame(read_fd) is None
    os.close(read_fd)


def test_truncated_frame_is_an_error():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, (100).to_bytes(8, "big") + b"{}")
    os.close(write_fd)
    with pytest.raises(WireError, match="cut short"):
        read_frame(read_fd)
    os.close(read_fd)


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(8, "big") + payload


def _read_in_thread(data: bytes, close: bool = True) -> Any:
    """What read_frame gives (or raises) in a thread, as the grading process reads,
    with `data` written from this one through a real pipe."""
    read_fd, write_fd = os.pipe()
    outcome: list[Any] = []

    def read() -> None:
        try:
            outcome.append(read_frame(read_fd))
        except BaseException as error:  # the test looks at whatever it was
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(write_fd, view) :]
    except BrokenPipeError:
        pass
    if close:
        os.close(write_fd)
    reader.join(timeout=30)
    assert not reader.is_alive(), "read_frame is still reading"
    if not close:
        os.close(write_fd)
    os.close(read_fd)
    return outcome[0]


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    ],
    ids=["open", "balanced", "dicts"],
)
def test_deep_nesting_in_a_frame_is_a_wire_error_in_a_reading_thread(payload):
    outcome = _read_in_thread(_frame(payload))
    assert isinstance(outcome, WireError), repr(outcome)


def test_depth_counts_only_brackets_outside_strings():
    def nested(depth: int, inner: bytes = b"1") -> bytes:
        return b"[" * depth + inner + b"]" * depth

    limit = wire.MAX_DEPTH
    assert _read_in_thread(_frame(nested(limit))) is not None
    assert isinstance(_read_in_thread(_frame(nested(limit + 1))), WireError)
    # Brackets in strings, after an escaped quote, are text.
    text = b'"\\"' + b"[" * 1000 + b'"'
    assert _read_in_thread(_frame(nested(limit, text))) is not None
    # An escaped backslash ends in the quote that closes the string.
    deep_after_string = b'["\\\\", ' + nested(limit) + b"]"
    assert isinstance(_read_in_thread(_frame(deep_after_string)), WireError)


_FLOOD = """
import json, os, resource, sys, threading, time
from grader.runner.wire import WireError, read_frame

payload = b"[" + b"{}," * int(sys.argv[1]) + b"{}]"
read_fd, write_fd = os.pipe()

def pump():
    os.write(write_fd, len(payload).to_bytes(8, "big"))
    view = memoryview(payload)
    try:
        while view:
            view = view[os.write(write_fd, view):]
    except OSError:
        pass
    os.close(write_fd)

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
threading.Thread(target=pump, daemon=True).start()
try:
    outcome = type(read_frame(read_fd)).__name__
except Exception as error:
    outcome = type(error).__name__
elapsed = time.monotonic() - start
growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({"bytes": len(payload), "outcome": outcome, "s": elapsed, "growth": growth}))
"""


def test_a_flood_of_tiny_values_is_refused_quickly_in_little_memory():
    # Each `{},` parses to a dict of 64 bytes: 63 MB of them took 1.5 GB and 9 s.
    pairs = 21_000_000
    assert 3 * pairs + 3 <= wire.MAX_FRAME_BYTES
    run = subprocess.run(
        [sys.executable, "-c", _FLOOD, str(pairs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["bytes"] > 60e6
    assert report["outcome"] == "WireError"
    assert report["s"] < 5
    assert report["growth"] < 3 * report["bytes"] + 100e6


def test_a_header_above_the_bound_is_refused_before_the_payload():
    # The writer stays open: reading the payload would wait for ever.
    header = (wire.MAX_FRAME_BYTES + 1).to_bytes(8, "big")
    assert isinstance(_read_in_thread(header, close=False), WireError)
    assert wire.MAX_FRAME_BYTES <= 64 * 1024 * 1024


def test_frames_are_ascii_json():
    outcome = _read_in_thread(_frame('{"a": "\u00e9"}'.encode()))
    assert isinstance(outcome, WireError)
    assert _read_in_thread(wire.encode_frame({"a": "\u00e9"})) == {"a": "\u00e9"}


def test_frame_reader_takes_bytes_as_they_come():
    data = wire.encode_frame({"event": "ready"}) + wire.encode_frame([1, 2])
    reader = wire.FrameReader()
    frames = [reader.feed(data[i : i + 1]) for i in range(len(data))]
    assert [f for f in frames if f is not None] == [{"event": "ready"}, [1, 2]]
    reader = wire.FrameReader()
    assert reader.feed(data) == {"event": "ready"}
    assert reader.feed(b"") == [1, 2]
    assert reader.feed(b"") is None


def test_frame_reader_refuses_a_large_header_at_once_and_a_deep_frame():
    with pytest.raises(WireError, match="larger"):
        wire.FrameReader().feed((wire.MAX_FRAME_BYTES + 1).to_bytes(8, "big"))
    with pytest.raises(WireError):
        wire.FrameReader().feed(_frame(b"[" * 100_000 + b"]" * 100_000))


def test_a_large_write_waits_for_a_slow_reader():
    read_fd, write_fd = os.pipe()
    message = {"data": "y" * 500_000}
    received: list[Any] = []
    reader = threading.Thread(target=lambda: received.extend(read_frame(read_fd) for _ in range(2)))
    reader.start()
    write_frame(write_fd, message)
    write_frame(write_fd, message)
    reader.join(timeout=30)
    assert received == [message, message]
    os.close(read_fd)
    os.close(write_fd)


def test_a_write_to_a_closed_reader_is_an_os_error():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    with pytest.raises(BrokenPipeError):
        write_frame(write_fd, {"data": "z" * 200_000})
    os.close(write_fd)
