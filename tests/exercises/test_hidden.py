"""Hidden checks: run where the live reference is, absent from a student copy."""

from __future__ import annotations

import gzip
import json

import pytest
import yaml
from conftest import TOY, failed

from grader.course.schema import load_course
from grader.engine import grade
from grader.errors import ManifestError
from grader.reference.recorded import reference_for
from grader.ship.release import RECORDING, release

ONLY_THE_VISIBLE_CASE = """
def double(x):
    return 2.0 * x if x.shape[0] == 3 else x  # fitted to the case it can see
"""


def test_an_answer_fitted_to_the_visible_cases_fails_the_hidden_check(grade_toy):
    failures = failed(grade_toy(ONLY_THE_VISIBLE_CASE, functions=["double"]), "double")
    assert set(failures) == {"values (hidden)"}
    assert "hidden case 1 of 1 (N=7)" in failures["values (hidden)"]


def test_the_reference_passes_the_hidden_check(grade_toy):
    source = (TOY / "solutions" / "toy.py").read_text()
    assert failed(grade_toy(source, functions=["double"]), "double") == {}


def test_a_release_ships_no_hidden_check_seed_or_outcome(toy_course, tmp_path):
    copy = tmp_path / "copy"
    release(toy_course, copy)
    manifest = yaml.safe_load((copy / "course.yml").read_text())
    assert "hidden_seed" not in manifest
    assert all("hidden" not in f for m in manifest["modules"] for f in m["functions"])
    recording = json.loads(gzip.decompress((copy / RECORDING).read_bytes()))
    assert "hidden0" not in json.dumps(recording)

    student_course = load_course(copy / "course.yml")
    titles = [c.title for f in student_course.module("toy").functions for c in f.checks]
    assert titles and not any("hidden" in t for t in titles)
    result = grade(student_course, TOY / "solutions", reference_for(student_course))
    assert result.score == pytest.approx(result.max_score) == pytest.approx(9)


def test_hidden_checks_need_a_hidden_seed_and_a_check_judged_on_cases(tmp_path):
    manifest = yaml.safe_load((TOY / "course.yml").read_text())
    del manifest["hidden_seed"]
    (tmp_path / "course.yml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(ManifestError, match="hidden_seed"):
        load_course(tmp_path / "course.yml")

    manifest = yaml.safe_load((TOY / "course.yml").read_text())
    cumulative_sum = manifest["modules"][0]["functions"][0]
    cumulative_sum["hidden"] = {"cases": [{"T": 9}], "checks": [{"contains": "scan"}]}
    (tmp_path / "course.yml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(ManifestError, match="cannot be hidden"):
        load_course(tmp_path / "course.yml")
