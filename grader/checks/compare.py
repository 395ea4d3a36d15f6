"""Comparing output pytrees: structure, values and finiteness, with feedback.

Every function returns None when the comparison passes and otherwise one
sentence that says what was expected, what came and, where the numbers
suggest one, the likely mistake (a sum for a mean, a flipped sign, a sequence
shifted by one step).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from grader.course.specs import Tolerance
from grader.runner.wire import Opaque, Tree


def describe(tree: Tree) -> str:
    """A short description of a pytree, e.g. 'a tuple of 2', 'a float32 array of shape (3,)'."""
    if tree is None:
        return "None"
    if isinstance(tree, Opaque):
        return f"a {tree.type_name}"
    if isinstance(tree, bool | int | float):
        return f"a Python {type(tree).__name__}"
    if isinstance(tree, tuple | list):
        return f"a {type(tree).__name__} of {len(tree)}"
    if isinstance(tree, dict):
        return f"a dict with keys {', '.join(sorted(tree)) or '(none)'}"
    array = np.asarray(tree)
    if array.ndim == 0:
        return f"a {array.dtype} scalar (shape ())"
    return f"a {array.dtype} array of shape {tuple(array.shape)}"


def structure_mismatch(expected: Tree, actual: Tree, path: str = "output") -> str | None:
    """Where `actual` differs from `expected` in tree structure, shape or dtype."""
    if isinstance(expected, tuple | list):
        if not isinstance(actual, tuple | list) or len(actual) != len(expected):
            return f"{path}: expected {describe(expected)}, got {describe(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            found = structure_mismatch(e, a, f"{path}[{i}]")
            if found:
                if _reordered(expected, actual):
                    found += " (the items in another order?)"
                return found
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return f"{path}: expected {describe(expected)}, got {describe(actual)}"
        for key in sorted(expected):
            found = structure_mismatch(expected[key], actual[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if expected is None:
        return None if actual is None else f"{path}: expected None, got {describe(actual)}"
    if not isinstance(actual, np.ndarray):
        return f"{path}: expected {describe(expected)}, got {describe(actual)}"
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        hint = ""
        if actual.ndim > 1 and actual.shape == expected.shape[::-1]:
            hint = " (transposed?)"
        elif actual.ndim > 1 and sorted(actual.shape) == sorted(expected.shape):
            hint = " (the axes in another order? batch and time swapped, say)"
        elif actual.ndim == 0 and expected.ndim > 0:
            hint = " (reduced to a scalar where one value per entry is expected?)"
        elif actual.ndim > 0 and expected.ndim == 0 and actual.size == 1:
            hint = " (keepdims=True, or an index kept? one scalar of shape () is expected)"
        elif actual.ndim > 0 and expected.ndim == 0:
            hint = " (a value per example where one scalar is expected: a missing mean?)"
        return f"{path}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}{hint}"
    if actual.dtype != expected.dtype:
        return f"{path}: expected dtype {expected.dtype}, got {actual.dtype}"
    return None


def _reordered(expected: Sequence[Tree], actual: Sequence[Tree]) -> bool:
    """Whether `actual` holds `expected`'s items, each of the right structure, in another
    order."""
    for order in itertools.islice(itertools.permutations(range(len(expected))), 1, 121):
        if all(structure_mismatch(expected[j], actual[i]) is None for i, j in enumerate(order)):
            return True
    return False


def leaves(tree: Tree, path: str = "output") -> Iterator[tuple[str, Tree]]:
    """The leaves of a pytree with their paths, dict keys in sorted order."""
    if isinstance(tree, tuple | list):
        for i, item in enumerate(tree):
            yield from leaves(item, f"{path}[{i}]")
    elif isinstance(tree, dict):
        for key in sorted(tree):
            yield from leaves(tree[key], f"{path}[{key!r}]")
    elif tree is not None:
        yield path, tree


def value_mismatch(
    expected: Tree,
    actual: Tree,
    tolerance: Tolerance,
    sizes: Mapping[str, Any],
    path: str = "output",
    where_finite: bool = False,
    otherwise: str | None = None,
    given: Mapping[str, Any] | None = None,
) -> str | None:
    """Where `actual` is not close to `expected`; the structures must already match.
    With `where_finite`, only the entries where `expected` is finite are compared. The
    hint is a guess from the numbers, or that the value is one of the arguments `given`
    (by name) unchanged, or else `otherwise`."""
    pairs = zip(leaves(expected, path), leaves(actual, path), strict=True)
    for (name, e), (_, a) in pairs:
        e = np.asarray(e)
        a = np.asarray(a)
        if e.dtype.kind in "biu":
            close = a == e
        else:
            close = np.isclose(a, e, rtol=tolerance.rtol, atol=tolerance.atol)
            if where_finite:
                close |= ~np.isfinite(e)
        if np.all(close):
            continue
        bad = np.argwhere(~close) if e.ndim else np.zeros((1, 0), dtype=int)
        index = tuple(int(i) for i in bad[0])
        where = f" at {list(index)}" if e.ndim else ""
        count = f"{int(np.sum(~close))} of {e.size} entries differ; " if e.ndim else ""
        expected_value, actual_value = format_number(e[index]), format_number(a[index])
        compared = (
            "compared exactly"
            if e.dtype.kind in "biu"
            else f"tolerance: rtol {tolerance.rtol:g}, atol {tolerance.atol:g}"
        )
        got = f"expected {expected_value}{where}, got {actual_value}"
        message = f"{name}: {count}{got} ({compared})"
        hint = _hint(e, a, sizes, tolerance) or _unchanged(a, given or {}) or otherwise
        return f"{message}. {hint}" if hint else message
    return None


def nonfinite(tree: Tree, path: str = "output", expected: Tree = None) -> str | None:
    """The first leaf of `tree` holding a nan or an inf, described; with `expected` (of the
    same structure), only where the expected value is finite."""
    references = (leaf for _, leaf in leaves(expected, path)) if expected is not None else None
    for name, leaf in leaves(tree, path):
        array = np.asarray(leaf)
        reference = next(references) if references is not None else None
        if array.dtype.kind not in "fc":
            continue
        bad = ~np.isfinite(array)
        if reference is not None:
            bad &= np.isfinite(np.asarray(reference))
        if np.any(bad):
            index = tuple(int(i) for i in np.argwhere(bad)[0]) if array.ndim else ()
            where = f" at {list(index)}" if array.ndim else ""
            count = f" ({int(np.sum(bad))} of {array.size} entries)" if array.ndim else ""
            return f"{name} is {format_number(array[index])}{where}{count}"
    return None


def name_outputs(text: str, names: Sequence[str]) -> str:
    """`text` with the paths into a tuple of outputs (`output[1]`, `output[0]['w']`) given
    by the names the exercise uses for them (`hs`, `params['w']`)."""

    def named(match: re.Match[str]) -> str:
        index = int(match[1])
        return names[index] if index < len(names) else match[0]

    return re.sub(r"\boutput\[(\d+)\]", named, text) if names else text


def format_number(value: Any) -> str:
    """A number for feedback: integers as they are, floats to six significant digits."""
    value = np.asarray(value)
    if value.dtype.kind in "biu":
        return str(value.item())
    return f"{value.item():.6g}"


def _hint(
    expected: np.ndarray, actual: np.ndarray, sizes: Mapping[str, Any], tolerance: Tolerance
) -> str | None:
    """A guess at the mistake, from how the wrong values relate to the right ones: the
    right entries in the wrong places, or every entry off by one factor or one offset."""
    if expected.dtype.kind not in "biufc" or not np.all(np.isfinite(actual)):
        return None

    def same(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a, b, rtol=tolerance.rtol, atol=tolerance.atol))

    if expected.ndim >= 1 and expected.shape[0] >= 3:  # along the first axis: steps
        if same(actual[:-1], expected[1:]):
            return (
                "Each entry equals the expected next one: one step ahead, as a value taken "
                "after its step (or update) where the one before it is due?"
            )
        if same(actual[1:], expected[:-1]):
            return (
                "Each entry equals the expected previous one: one step behind, as a value "
                "taken before its step (an exclusive scan) where the one after it is due?"
            )
    if rearranged := _rearranged(expected, actual, same):
        return rearranged
    if expected.dtype.kind not in "fc":
        return None
    return _factor(expected, actual, sizes, tolerance) or _offset(expected, actual, tolerance)


def _rearranged(expected: np.ndarray, actual: np.ndarray, same: Any) -> str | None:
    """The expected entries in another order: an axis reversed, or axes swapped."""
    for axis in range(expected.ndim):
        if expected.shape[axis] > 1 and same(actual, np.flip(expected, axis)):
            return (
                f"It is the expected array reversed along axis {axis}: a scan run backwards "
                "(reverse=True), or a sequence read from its end?"
            )
    if 2 <= expected.ndim <= 4:
        for order in itertools.permutations(range(expected.ndim)):
            moved = np.transpose(expected, order)
            if list(order) != sorted(order) and moved.shape == actual.shape and same(actual, moved):
                n = expected.ndim
                if order == (*range(n - 2), n - 1, n - 2):
                    return "It is the expected array with its last two axes swapped: transposed?"
                return (
                    f"It is the expected array with its axes in the order {order}: "
                    "batch and time swapped, say?"
                )
    return None


def _factor(
    expected: np.ndarray, actual: np.ndarray, sizes: Mapping[str, Any], tolerance: Tolerance
) -> str | None:
    """Every entry the expected one times the same factor."""
    mask = np.abs(expected) > max(tolerance.atol, 1e-6) * 10
    if not np.any(mask):
        return None
    ratios = actual[mask] / expected[mask]
    ratio = float(np.median(ratios))
    if np.all(actual[mask] == 0):
        return (
            "It is 0 wherever the expected value is not: a term that vanishes, or a "
            "gradient that does not flow (stop_gradient, a clip, a step function)?"
        )
    if not np.allclose(ratios, ratio, rtol=1e-3) or np.isclose(ratio, 1.0, rtol=1e-3):
        return None
    if np.isclose(ratio, -1.0, rtol=1e-3):
        return "The sign is flipped."
    # A factor equal to a size of the case may be a sum for a mean, or a constant that
    # happens to equal it: the hint offers both.
    for name, size in sizes.items():
        if isinstance(size, int) and size > 1:
            if np.isclose(ratio, size, rtol=1e-3):
                return (
                    f"It is {name} = {size} times the expected value: a sum where a mean is "
                    f"due{_or_constant(size)}?"
                )
            if np.isclose(ratio, 1.0 / size, rtol=1e-3):
                return (
                    f"It is 1/{name} of the expected value: a mean where a sum is "
                    f"due{_or_constant(1 / size)}?"
                )
    for plain, (amount, extra, missing) in PLAIN_FACTORS.items():
        if np.isclose(ratio, plain, rtol=1e-3):
            return f"It is {amount} the expected value: {extra}, or {missing}?"
    # Any other whole factor (or its inverse), in either sign: a constant in the formula.
    for k in range(-10, 11):
        if abs(k) > 1 and np.isclose(ratio, k, rtol=1e-3):
            return f"It is {k} times the expected value: a constant factor in the formula?"
        if abs(k) > 1 and np.isclose(ratio, 1.0 / k, rtol=1e-3):
            return f"It is 1/{k} of the expected value: a constant factor in the formula?"
    if np.sum(mask) > 1:  # for one number, every wrong value is some multiple of it
        return f"Every entry is {ratio:.4g} times the expected one: a constant factor?"
    return None


def _unchanged(actual: np.ndarray, given: Mapping[str, Any]) -> str | None:
    """The name of an argument that `actual` equals exactly: a value returned as it came."""
    for name, value in given.items():
        value = np.asarray(value)
        same_kind = value.shape == actual.shape and value.dtype == actual.dtype
        if same_kind and np.array_equal(value, actual):
            return (
                f"It is {name} exactly as it was given: never updated, or returned "
                "where something computed from it is due?"
            )
    return None


# Factors a formula often has one too many or too few of, and how to read each.
PLAIN_FACTORS = {
    2.0: ("twice", "a factor of 2 too many", "a 1/2 missing"),
    0.5: ("half", "a factor of 1/2 too many", "a 2 missing"),
}


def _or_constant(ratio: float) -> str:
    """The other reading of a factor that equals a size: a plain constant (2 or 1/2)."""
    for plain, (_, extra, missing) in PLAIN_FACTORS.items():
        if np.isclose(ratio, plain):
            return f", or {extra} ({missing})"
    return ""


def _offset(expected: np.ndarray, actual: np.ndarray, tolerance: Tolerance) -> str | None:
    """Every entry the expected one plus the same amount (for one number, any wrong value
    is: so only where there are several, and they differ)."""
    if expected.size < 2 or np.ptp(expected) <= tolerance.atol:
        return None
    differences = actual - expected
    offset = float(np.median(differences))
    if not np.allclose(differences, offset, rtol=0, atol=max(tolerance.atol, 1e-6) * 10):
        return None
    return f"Every entry is off by the same amount, {offset:+.4g}: a constant added or missing?"
