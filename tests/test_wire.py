"""The wire format: round trips, and refusal of anything `encode` does not make."""

from __future__ import annotations

import os

import numpy as np
import pytest

from grader.wire import Opaque, WireError, decode, encode, read_frame, write_frame


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
