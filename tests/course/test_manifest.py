"""course.yml: the real manifest loads, and a broken one is refused with file, key and reason."""

from __future__ import annotations

import copy
import re
from typing import get_args

import pytest
import yaml
from conftest import ROOT

from grader.checks import CHECKS, HIDEABLE
from grader.course.schema import load_course
from grader.course.specs import Gating
from grader.errors import ManifestError

VALID = {
    "title": "t",
    "seed": 1,
    "modules": [
        {
            "name": "m",
            "functions": [
                {
                    "name": "f",
                    "points": 2,
                    "args": {"x": {"shape": ["N"], "dist": "normal"}},
                    "cases": [{"N": 3}],
                    "checks": ["shape", "values", {"gradients": ["x"]}],
                }
            ],
        }
    ],
}


def test_the_course_manifest_loads(course):
    bce = course.module("bce")
    assert [f.name for f in bce.functions] == [
        "sigmoid",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "logistic_regression_loss",
        "fit_logistic_regression",
    ]
    fit = bce.function("fit_logistic_regression")
    assert fit.static_argnums == (4,)
    assert fit.tolerance.rtol == 1e-4
    assert sum(fit.check_points(c) for c in fit.checks) == pytest.approx(fit.points)


def test_a_minimal_manifest_loads(tmp_path):
    path = tmp_path / "course.yml"
    path.write_text(yaml.safe_dump(VALID))
    course = load_course(path)
    assert course.module("m").function("f").checks[2].title == "gradients"
    assert course.solutions_dir == tmp_path / "solutions"


def edit(path: str, value):
    """VALID with the value at a dotted path set (or deleted, for value DELETE)."""
    data = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


DELETE = object()
F = "modules.0.functions.0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (edit("modules", DELETE), "course: missing required key 'modules'"),
        (edit("seed", "x"), "seed: expected an integer, got a string"),
        (edit(f"{F}.points", -1), "modules[0].functions[0].points: must be positive, got -1"),
        (
            edit(f"{F}.checks.1", "vales"),
            "modules[0].functions[0].checks[1]: unknown check 'vales'",
        ),
        (edit(f"{F}.checks.2", {"gradients": ["z"]}), "no argument named 'z'"),
        (edit(f"{F}.checks.2", "finite_values"), "needs an `extreme` block"),
        (edit(f"{F}.checks.2", {"contains": None}), "needs a loop or branch"),
        (edit(f"{F}.checks.2", {"contains": "vmap"}), "expected one of scan"),
        (
            edit(f"{F}.cases.0", {"M": 3}),
            "modules[0].functions[0].cases[0]: missing 'N', used by the shape of x",
        ),
        (edit(f"{F}.args.x.dist", "cauchy"), "args.x.dist: expected one of normal, uniform"),
        (edit(f"{F}.args.x.scael", 2.0), "args.x.scael: unknown key"),
        (edit(f"{F}.pionts", 2), "modules[0].functions[0].pionts: unknown key"),
        (
            edit(f"{F}.checks", ["shape", "values"]) | {"defaults": {"weights": {"shape": 2}}},
            "the shape check may carry at most a quarter",
        ),
        (
            edit("modules.0.functions", [VALID["modules"][0]["functions"][0]] * 2),
            "function 'f' is listed twice",
        ),
        (edit("defaults", {"limits": {"time_s": 0}}), "defaults.limits.time_s: must be positive"),
        (edit(f"{F}.harness", "x + 1"), "harness: expected a lambda expression"),
        (edit(f"{F}.args.x", {"sample": "lambda T: T"}), "expected `lambda key, SIZE, ...: ...`"),
        (edit(f"{F}.args.x", {"sample": "lambda key, M: M"}), "missing 'M', used by the sample"),
        (
            edit(f"{F}.checks.2", {"objective": {"of": "lambda outputs: outputs"}}),
            "missing required key 'margin'",
        ),
        (
            edit(f"{F}.checks.2", {"predicate": {"of": "outputs > 0", "title": "positive"}}),
            "predicate.of: expected a lambda expression",
        ),
        (edit(f"{F}.args.x.shape", ["N + "]), "expected a list of whole numbers and sizes"),
    ],
)
def test_a_broken_manifest_names_file_key_and_reason(tmp_path, data, message):
    path = tmp_path / "course.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ManifestError) as error:
        load_course(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_invalid_yaml_and_a_missing_file(tmp_path):
    path = tmp_path / "course.yml"
    path.write_text("title: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_course(path)
    with pytest.raises(ManifestError, match="cannot read the course manifest"):
        load_course(tmp_path / "missing.yml")


def test_the_repository_manifest_is_the_one_graded():
    assert (ROOT / "course.yml").is_file()


def test_an_extreme_block_may_set_its_own_tolerance(course):
    forward = course.module("hmm").function("forward_log_likelihood")
    assert forward.extreme is not None and forward.extreme.tolerance is not None
    # Its own rtol; the function's atol where it sets none.
    assert forward.extreme.tolerance.rtol == 1e-3
    assert forward.extreme.tolerance.atol == forward.tolerance.atol
    sigmoid = course.module("bce").function("sigmoid")
    assert sigmoid.extreme is not None and sigmoid.extreme.tolerance is None


def test_a_harness_argument_is_shown_with_what_the_function_gets():
    course = load_course(ROOT / "course.yml")
    forward = course.module("hmm").function("forward_log_likelihood")
    assert [forward.shown_arg(name) for name in forward.arg_names] == [
        "pi_logits (your function gets jax.nn.log_softmax(pi_logits))",
        "A_logits (your function gets jax.nn.log_softmax(A_logits, axis=-1))",
        "log_B",  # passed as it is
    ]
    sigmoid = course.module("bce").function("sigmoid")  # no harness: the name as it is
    assert sigmoid.shown_arg("x") == "x"


def _readme_checks() -> dict[str, str]:
    """The kinds in the README's table of checks, with the weight it gives each."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| check | weight | passes when |") :].split("\n\n", 1)[0]
    listed = {}
    for row in table.splitlines()[2:]:
        check, weight = (cell.strip() for cell in row.split("|")[1:3])
        for kind in re.findall(r"`(\w+)", check):
            listed[kind] = weight.removesuffix(" each")
    return listed


def _manifest_header_checks() -> list[str]:
    """The kinds the comments at the top of course.yml describe, one per line."""
    header = (ROOT / "course.yml").read_text(encoding="utf-8").split("\n\n", 1)[0]
    return re.findall(r"^#   (\w+)(?=:| {2,})", header, flags=re.M)


def test_the_readme_and_the_manifest_list_exactly_the_registered_checks():
    assert sorted(_readme_checks()) == sorted(CHECKS)
    assert {kind: float(weight) for kind, weight in _readme_checks().items()} == {
        kind: check.weight for kind, check in CHECKS.items()
    }
    assert sorted(_manifest_header_checks()) == sorted(CHECKS)


def test_each_kind_declares_itself_once():
    """The registry's kinds are the classes' own, each a string option of course.yml with a
    default weight, and every check that can be hidden is judged on the function's cases."""
    for kind, check in CHECKS.items():
        assert check.kind == kind and check.weight > 0
        assert check.gating in get_args(Gating)
    assert [k for k, c in CHECKS.items() if c.gating == "gate"] == ["values", "objective"]
    assert [k for k, c in CHECKS.items() if c.gating == "free"] == ["shape"]
    assert set(HIDEABLE).isdisjoint({"finite_values", "finite_gradients", "contains"})
