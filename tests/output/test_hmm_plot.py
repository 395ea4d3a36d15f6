"""`difflearn plot hmm`: the student's fit, from the sandboxed process, drawn beside the
reference's and EM's."""

from __future__ import annotations

import os
import struct
import sys

import numpy as np
import pytest
from conftest import ROOT, with_override

from grader.cli import main
from grader.engine import find_submissions
from grader.output.hmm_plot import HEIGHT_IN, WIDTH_IN, Fit, Scene, draw, em_fit, scene
from grader.output.plots import DPI


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def hand_made(student: Fit) -> Scene:
    rng = np.random.default_rng(0)
    means = np.array([[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    covs = np.tile(0.5 * np.eye(2), (3, 1, 1))
    return Scene(
        xs=rng.normal(size=(30, 2)),
        true_means=means,
        true_covs=covs,
        student=student,
        reference=Fit(losses=np.linspace(3.0, 2.0, 10)),
        em=Fit(error="hmmlearn is not installed: EM left out"),
    )


def test_the_picture_is_a_png_of_a_fixed_size_and_the_same_bytes_each_time():
    fitted = Fit(
        losses=np.linspace(3.5, 2.1, 10),
        means=np.array([[-2.9, 0.1], [3.1, 0.0], [0.0, 2.8]]),
        covs=np.tile(np.array([[0.6, 0.1], [0.1, 0.4]]), (3, 1, 1)),
        states=np.arange(30) % 3,
    )
    png = draw(hand_made(fitted))
    assert png_size(png) == (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))
    assert draw(hand_made(fitted)) == png
    # A fit that failed is drawn too: the data, the truth and the reason.
    failed = draw(hand_made(Fit(error="fit_hmm: NotImplementedError")))
    assert png_size(failed) == png_size(png) and failed != png


def test_em_is_left_out_without_hmmlearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "hmmlearn", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "hmmlearn.hmm", None)
    raw = {"initial_logits": np.zeros(3), "transition_logits": np.zeros((3, 3))}
    fit = em_fit(np.zeros((5, 2)), {**raw, "means": np.zeros((3, 2))}, 3)
    assert fit.losses is None and "hmmlearn is not installed" in (fit.error or "")


def test_the_students_fit_runs_in_the_submissions_process(course, reference, tmp_path):
    # fit_hmm answers with its own process id: the picture's losses must not be ours.
    (tmp_path / "hmm.py").write_text(
        with_override(
            "hmm",
            """
            import os

            def fit_hmm(raw, xs, learning_rate, num_steps):
                return raw, jnp.full((num_steps,), float(os.getpid()))
            """,
        ),
        encoding="utf-8",
    )
    drawn = scene(course, reference, find_submissions(course, tmp_path, ["hmm"]))
    assert drawn.student.error is None, drawn.student.error
    assert drawn.student.losses is not None and drawn.student.losses[0] != float(os.getpid())
    assert drawn.student.states is not None and drawn.student.states.shape == drawn.xs.shape[:1]
    assert drawn.student.covs is not None and drawn.student.covs.shape == (3, 2, 2)
    np.testing.assert_allclose(drawn.true_means, [[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    assert drawn.reference.losses is not None and drawn.reference.losses[-1] < 3.0


def test_plot_never_overwrites_without_force(tmp_path, capsys):
    target = tmp_path / "fit.png"
    target.write_bytes(b"mine")
    course_file = str(ROOT / "course.yml")
    assert main(["plot", "hmm", "--to", str(target), "--course", course_file]) == 2
    assert "--force" in capsys.readouterr().err and target.read_bytes() == b"mine"


@pytest.mark.parametrize("what", ["hmm"])
def test_the_command_writes_the_picture(what, tmp_path, capsys):
    target = tmp_path / "fit.png"
    solutions = str(ROOT / "solutions")
    course_file = str(ROOT / "course.yml")
    assert main(["plot", what, solutions, "--to", str(target), "--course", course_file]) == 0
    assert png_size(target.read_bytes()) == (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))


@pytest.mark.parametrize(
    "returned, told",
    [
        ("xs.sum()", "returned no (params, losses) pair"),
        ("({'means': 'three'}, jnp.zeros(num_steps))", "returned no (params, losses) pair"),
        ("(raw, jnp.float32(1.0))", "one per step was expected"),
        ("({**raw, 'means': jnp.full((3, 2), jnp.nan)}, jnp.ones(num_steps))", None),
    ],
)
def test_a_fit_of_any_other_form_is_told_and_drawn(returned, told, course, reference, tmp_path):
    override = f"\ndef fit_hmm(raw, xs, learning_rate, num_steps):\n    return {returned}\n"
    (tmp_path / "hmm.py").write_text(with_override("hmm", override), encoding="utf-8")
    drawn = scene(course, reference, find_submissions(course, tmp_path, ["hmm"]))
    if told is not None:
        assert drawn.student.losses is None and told in (drawn.student.error or "")
    else:  # NaN means: numbers of the right form, drawn as they are
        assert drawn.student.losses is not None and drawn.student.error is None
    assert png_size(draw(drawn)) == (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))
