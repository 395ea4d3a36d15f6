"""Feedback of the comparisons: what was expected, what came, and the likely mistake."""

from __future__ import annotations

import numpy as np

from grader.checks.compare import name_outputs, nonfinite, structure_mismatch, value_mismatch
from grader.course.specs import Tolerance
from grader.runner.wire import Opaque

TOL = Tolerance(rtol=1e-5, atol=1e-6)
f32 = np.float32


def test_structure_names_the_leaf_and_both_shapes():
    expected = ({"w": np.zeros(3, f32), "b": np.zeros((), f32)}, np.zeros(4, f32))
    actual = ({"w": np.zeros(3, f32), "b": np.zeros((), f32)}, np.zeros(5, f32))
    assert structure_mismatch(expected, actual) == "output[1]: expected shape (4,), got (5,)"
    assert structure_mismatch(expected, expected) is None


def test_structure_reports_trees_dtypes_and_transposes():
    assert "expected a tuple of 2, got a float32 array" in structure_mismatch(
        (np.zeros(2, f32), np.zeros(2, f32)), np.zeros(2, f32)
    )
    assert "expected dtype float32, got int32" in structure_mismatch(
        np.zeros(2, f32), np.zeros(2, np.int32)
    )
    assert "(transposed?)" in structure_mismatch(np.zeros((2, 3), f32), np.zeros((3, 2), f32))
    assert "got a Python float" in structure_mismatch(np.zeros((), f32), 1.0)
    assert "got a generator" in structure_mismatch(np.zeros((), f32), Opaque("generator"))


def test_values_within_tolerance_pass_and_others_name_an_entry():
    expected = np.array([1.0, 2.0, 3.0], f32)
    assert value_mismatch(expected, expected * (1 + 1e-7), TOL, {}) is None
    message = value_mismatch(expected, np.array([1.0, 2.5, 3.0], f32), TOL, {})
    assert message.startswith("output: 1 of 3 entries differ; expected 2 at [1], got 2.5")


def test_hints_for_a_sum_a_flipped_sign_and_a_shift():
    expected = np.array(0.75, f32)
    assert "N = 8 times" in value_mismatch(expected, expected * 8, TOL, {"N": 8})
    assert "sign is flipped" in value_mismatch(expected, -expected, TOL, {"N": 8})
    losses = np.array([0.9, 0.7, 0.6, 0.55], f32)
    shifted = np.array([0.7, 0.6, 0.55, 0.52], f32)
    assert "one step ahead" in value_mismatch(losses, shifted, TOL, {})
    sums = np.array([1.0, 3.0, 6.0, 10.0], f32)
    exclusive = np.array([0.0, 1.0, 3.0, 6.0], f32)
    assert "one step behind" in value_mismatch(sums, exclusive, TOL, {})


def test_hints_for_half_and_twice_and_kept_dimensions():
    expected = np.array([0.5, 1.5, -2.0], f32)
    assert "half the expected" in value_mismatch(expected, expected / 2, TOL, {"N": 3})
    assert "twice the expected" in value_mismatch(expected, expected * 2, TOL, {"N": 3})
    assert "keepdims" in structure_mismatch(np.array(0.5, f32), np.array([0.5], f32))
    assert "missing mean" in structure_mismatch(np.array(0.5, f32), np.ones(3, f32))


def test_hints_for_entries_in_the_wrong_places():
    rng = np.random.default_rng(0)
    hs = rng.normal(size=(5, 3)).astype(f32)
    assert "reversed along axis 0" in value_mismatch(hs, hs[::-1], TOL, {})
    square = rng.normal(size=(3, 3)).astype(f32)
    assert "last two axes swapped: transposed?" in value_mismatch(square, square.T, TOL, {})
    batch = rng.normal(size=(2, 2, 3)).astype(f32)
    swapped = np.swapaxes(batch, 0, 1)
    assert "axes in the order (1, 0, 2)" in value_mismatch(batch, swapped, TOL, {})
    assert "axes in another order" in structure_mismatch(np.zeros((2, 4, 3)), np.zeros((4, 2, 3)))
    path = np.array([0, 1, 1, 2], np.int32)  # integers too: a Viterbi path read backwards
    assert "reversed along axis 0" in value_mismatch(path, path[::-1], TOL, {})


def test_a_tuple_in_another_order_is_named():
    h_t, hs = np.zeros(4, f32), np.zeros((5, 4), f32)
    message = structure_mismatch((h_t, hs), (hs, h_t))
    assert message.startswith("output[0]: expected shape (4,), got (5, 4)")
    assert "the items in another order?" in message
    assert "another order" not in structure_mismatch((h_t, hs), (h_t, h_t))


def test_an_argument_returned_unchanged_is_named():
    start = np.array([0.5, -1.0], f32)
    fitted = np.array([0.7, -1.3], f32)
    message = value_mismatch(fitted, start, TOL, {}, given={"params['w']": start})
    assert "It is params['w'] exactly as it was given: never updated" in message
    assert "exactly as" not in value_mismatch(fitted, start + 1e-3, TOL, {}, given={"w": start})


def test_hints_for_a_constant_factor_or_offset():
    expected = np.array([0.5, 1.5, -2.0, 4.0], f32)
    assert "3 times the expected value" in value_mismatch(expected, expected * 3, TOL, {})
    assert "1/4 of the expected value" in value_mismatch(expected, expected / 4, TOL, {})
    assert "1.7 times the expected one" in value_mismatch(expected, expected * 1.7, TOL, {})
    assert "off by the same amount, +0.25" in value_mismatch(expected, expected + 0.25, TOL, {})
    assert "off by the same amount, -1" in value_mismatch(expected, expected - 1, TOL, {})
    assert "It is 0 wherever" in value_mismatch(expected, 0 * expected, TOL, {})


def test_a_size_that_equals_a_plain_factor_is_offered_with_it():
    expected = np.array([0.5, 1.5, -2.0, 4.0], f32)
    message = value_mismatch(expected, expected * 2, TOL, {"K": 2})
    assert "K = 2 times" in message and "a factor of 2 too many" in message
    assert "a factor of" not in value_mismatch(expected, expected * 8, TOL, {"N": 8})


def test_states_one_step_behind_and_paths_compared_exactly():
    hs = np.arange(12, dtype=f32).reshape(4, 3) ** 1.5
    behind = np.concatenate([np.zeros((1, 3), f32), hs[:-1]])
    assert "one step behind" in value_mismatch(hs, behind, TOL, {})
    path = np.array([0, 1, 1, 2], np.int32)
    message = value_mismatch(path, np.array([0, 1, 2, 2], np.int32), TOL, {})
    assert "(compared exactly)" in message and "rtol" not in message


def test_no_hint_where_no_pattern_holds():
    expected = np.array([0.5, 1.5, -2.0, 4.0], f32)
    for wrong in (np.array([0.4, 1.9, -2.0, 4.0], f32), expected**2, np.sin(expected)):
        assert value_mismatch(expected, wrong, TOL, {}).endswith(")")  # no sentence after it
    # One number: any wrong value is some multiple of it, and off by something.
    assert value_mismatch(np.array(0.75, f32), np.array(1.3, f32), TOL, {}).endswith(")")
    assert value_mismatch(np.array(0.75, f32), np.array(2.25, f32), TOL, {}).endswith(
        "3 times the expected value: a constant factor in the formula?"
    )


def test_nonfinite_finds_nan_and_inf():
    assert (
        nonfinite({"a": np.array([1.0, np.nan], f32)})
        == "output['a'] is nan at [1] (1 of 2 entries)"
    )
    assert nonfinite(np.array(np.inf, f32)) == "output is inf"
    assert nonfinite((np.ones(2, f32), np.array([1, 2]))) is None


def test_where_the_reference_is_not_finite_nothing_is_asked():
    expected = np.array([np.inf, 2.0, np.nan], dtype=np.float32)
    # Anything goes where the reference overflows; a nan where it is finite fails.
    assert nonfinite(np.array([np.nan, 2.0, np.inf], np.float32), expected=expected) is None
    found = nonfinite(np.array([np.inf, np.nan, 0.0], np.float32), expected=expected)
    assert found is not None and "at [1]" in found


def test_values_compared_only_where_the_reference_is_finite():
    expected = np.array([np.inf, 2750.0], dtype=np.float32)
    assert (
        value_mismatch(expected, np.array([0.0, 2750.0], np.float32), TOL, {}, where_finite=True)
        is None
    )
    found = value_mismatch(
        expected, np.array([np.inf, 7.69], np.float32), TOL, {}, where_finite=True
    )
    assert found is not None and "expected 2750" in found and "got 7.69" in found
    assert value_mismatch(expected, np.array([0.0, 2750.0], np.float32), TOL, {}) is not None


def test_outputs_are_named_as_the_exercise_names_them():
    text = "output[1]: expected shape (5, 4), got (6, 4); output[0]['w'] and output[7]"
    assert (
        name_outputs(text, ("params", "hs"))
        == "hs: expected shape (5, 4), got (6, 4); params['w'] and output[7]"
    )
    assert name_outputs(text, ()) == text
