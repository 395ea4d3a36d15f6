"""Unseen cases: where the grader has the reference, every check also runs on a case
drawn from the hidden seed, which no student copy holds, and feedback on it shows
nothing an answer could be fitted to.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import TOY, failed

from grader.course.schema import load_course
from grader.engine import grade
from grader.reference.recorded import RecordedReference, reference_for
from grader.ship.release import RECORDING, release


def digest(*args) -> str:
    return hashlib.sha256(b"".join(np.asarray(a).tobytes() for a in args)).hexdigest()


def lookup_table_submission(copy) -> str:
    """A submission that answers every recorded input from a release's recording, as a
    student could build one from a student copy, and zeros of the right shape otherwise."""
    recording = RecordedReference(copy / RECORDING)
    course = load_course(copy / "course.yml")
    table: dict[str, dict[str, list]] = {}
    for function in course.module("toy").functions:
        inputs = recording.inputs("toy", function.name)
        outcomes = recording._function("toy", function.name)[1]
        table[function.name] = {
            digest(*args): np.asarray(outcomes[f"call/{label}"]).tolist()
            for label, args in inputs.items()
            if f"call/{label}" in outcomes
        }
    return f"""
import hashlib
import numpy as np
import jax.numpy as jnp

TABLE = {table!r}
SHAPES = {{"cumulative_sum": lambda xs: xs.shape, "batched_dot": lambda A, B: A.shape[:1],
          "double": lambda x: x.shape}}

def _answer(name, *args):
    key = hashlib.sha256(b"".join(np.asarray(a).tobytes() for a in args)).hexdigest()
    found = TABLE[name].get(key)
    if found is None:
        return jnp.zeros(SHAPES[name](*args), jnp.float32)
    return jnp.asarray(found, jnp.float32)

def cumulative_sum(xs):
    return _answer("cumulative_sum", xs)

def batched_dot(A, B):
    return _answer("batched_dot", A, B)

def double(x):
    return _answer("double", x)
"""


@pytest.fixture(scope="module")
def released(toy_course, tmp_path_factory):
    copy = tmp_path_factory.mktemp("release") / "copy"
    release(toy_course, copy)
    return copy


def test_a_table_of_the_release_earns_its_points_only_in_the_release(
    released, toy_course, toy_reference, tmp_path
):
    (tmp_path / "toy.py").write_text(lookup_table_submission(released))
    student_course = load_course(released / "course.yml")
    # In the student copy, the table answers every case it has: the self-check is fooled.
    fooled = grade(student_course, tmp_path, reference_for(student_course))
    assert fooled.score > 0.5 * fooled.max_score
    # The instructor's grader asks an unseen case too: only the shapes are right.
    graded = grade(toy_course, tmp_path, toy_reference)
    shape_points = sum(c.max_score for c in graded.checks if c.check == "shape and dtype")
    assert graded.score <= shape_points
    values = {c.function: c.message for c in graded.checks if c.check == "values"}
    assert all("an unseen case" in m for m in values.values()), values


def test_feedback_on_an_unseen_case_shows_no_values(grade_toy):
    """An answer right on the visible case alone is told where it fails, not what."""
    from grader.course.inputs import FunctionInputs

    course = load_course(TOY / "course.yml")
    function = course.module("toy").function("double")
    unseen = FunctionInputs(function, "toy", {}).unseen_cases[0]
    visible = FunctionInputs(function, "toy", {}).cases[0]
    assert not np.array_equal(unseen.args[0], visible.args[0])
    fitted = f"""
import numpy as np
VISIBLE = np.asarray({visible.args[0].tolist()!r}, dtype=np.float32)

def double(x):
    if np.array_equal(np.asarray(x), VISIBLE):
        return 2.0 * x
    return x * 0 + 0.980766
"""
    failures = failed(grade_toy(fitted, functions=["double"]), "double")
    assert "values" in failures
    message = failures["values"]
    assert message.startswith("an unseen case (N=3): 'values' fails there")
    assert "0.980766" not in message and "expected" not in message.split("fails there")[0]
    hidden = failures["values (hidden)"]
    assert hidden.startswith("hidden case 1 of 1 (N=7): 'values (hidden)' fails there")
    assert "0.98" not in hidden


def test_a_release_records_no_unseen_case(released):
    recording = RecordedReference(released / RECORDING)
    for function in ("cumulative_sum", "batched_dot", "double"):
        labels = set(recording.inputs("toy", function))
        assert labels and not any(label.startswith("unseen") for label in labels)


def test_hidden_checks_stay_hidden_on_gradescope_until_the_due_date(tmp_path):
    import yaml

    from grader.errors import ManifestError
    from grader.output.report import gradescope_results
    from grader.results import CheckResult, GradeResult, ModuleResult

    checks = (
        CheckResult("toy", "double", "values", 1.0, 1.0, True, "ok"),
        CheckResult("toy", "double", "values (hidden)", 0.0, 1.0, False, "no", hidden=True),
    )
    result = GradeResult((ModuleResult("toy", "Toy", checks),), 1.0)
    default = gradescope_results(result, load_course(TOY / "course.yml").gradescope)
    assert [t.get("visibility") for t in default["tests"]] == [None, "after_due_date"]
    assert "visibility" not in default

    manifest = yaml.safe_load((TOY / "course.yml").read_text())
    manifest["gradescope"] = {"hidden_checks": "after_published", "results": "hidden"}
    (tmp_path / "course.yml").write_text(yaml.safe_dump(manifest))
    settings = load_course(tmp_path / "course.yml").gradescope
    published = gradescope_results(result, settings)
    assert published["tests"][1]["visibility"] == "after_published"
    assert published["visibility"] == "hidden"

    manifest["gradescope"] = {"hidden_checks": "tomorrow"}
    (tmp_path / "course.yml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(ManifestError, match=r"gradescope.hidden_checks: expected one of"):
        load_course(tmp_path / "course.yml")


DO_NOTHING_HMM = """
import jax
import jax.numpy as jnp

def covariances(cov_raw):
    K, D, _ = cov_raw.shape
    return jnp.tile(jnp.eye(D, dtype=cov_raw.dtype), (K, 1, 1))

def fit_hmm(raw, xs, learning_rate, num_steps):
    fitted = jax.tree_util.tree_map(jnp.zeros_like, raw)
    fitted["means"] = jnp.array([[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]], raw["means"].dtype)
    return fitted, jnp.linspace(1.0, 0.0, num_steps, dtype=raw["means"].dtype)
"""


def test_doing_nothing_earns_the_shape_points_at_most(grade_source):
    """Identity covariances and a fit that returns the public target means, with losses
    that fall: constant answers, which the outcome checks alone would have paid."""
    from conftest import with_override

    functions = ["covariances", "fit_hmm"]
    result = grade_source("hmm", with_override("hmm", DO_NOTHING_HMM), functions=functions)
    shape_points = sum(c.max_score for c in result.checks if c.check == "shape and dtype")
    assert result.score <= shape_points, [(c.name, c.score) for c in result.checks if c.score]
    gated = [c for c in result.checks if c.check in ("symmetric positive definite",)]
    assert gated and all("earns points only once 'values' passes" in c.message for c in gated)
