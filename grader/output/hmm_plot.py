"""`difflearn plot hmm`: a picture of the student's HMM fit on the course's data.

Three panels, from the first case of `fit_hmm` in course.yml (the data its checks fit):
  losses   the student's losses beside the reference fit's and hmmlearn's EM (per
           iteration, from the same means and probabilities, its own covariances; left
           out, and said so, without hmmlearn)
  states   the data, coloured by the student's Viterbi path on the student's fit
  model    the student's fitted means and covariance ellipses against the true ones

Trust is split as in grading: the student's `fit_hmm`, `covariances` and `viterbi`
run in the submission's sandboxed process (grader.runner.process), which answers
with data; the reference's fit (live or recorded), EM and the drawing happen here.
The true model is read from course.yml's sampler of the data: its call of the
module's `sample_hmm(key, pi, A, means, covs, T)`, caught before it samples.
Drawn as grader.output.plots draws: Agg, default style, fixed size, no dates.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import make_checks
from grader.course.specs import Course, FunctionSpec, SampledArray
from grader.engine import find_submissions, kept_from_child
from grader.errors import UsageError
from grader.reference.base import Reference
from grader.runner.intake import Submission
from grader.runner.probes import Probe
from grader.runner.process import Failure, ImportFailure, SubmissionProcess
from grader.runner.sandbox import JailLimits

MODULE, FIT, DATA = "hmm", "fit_hmm", "xs"
WIDTH_IN, HEIGHT_IN = 15.0, 5.0  # 1500 x 500 pixels at plots.DPI
# Run in the student's process on the student's fit: the states and covariances it implies.
DECODE = (
    "lambda raw, xs: (viterbi(jnp.log(initial_probs(raw['initial_logits'])), "
    "jnp.log(transition_matrix(raw['transition_logits'])), "
    "emission_log_probs(xs, raw['means'], covariances(raw['cov_raw']))), "
    "covariances(raw['cov_raw']))"
)
COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


@dataclass(frozen=True)
class Fit:
    """What the picture shows of one side; a side that failed has `error` instead."""

    losses: np.ndarray | None = None
    means: np.ndarray | None = None
    covs: np.ndarray | None = None
    states: np.ndarray | None = None
    error: str | None = None


@dataclass(frozen=True)
class Scene:
    """Everything drawn: the data, the true model, and each fit."""

    xs: np.ndarray
    true_means: np.ndarray
    true_covs: np.ndarray
    student: Fit
    reference: Fit
    em: Fit


def hmm_png(course: Course, reference: Reference, path: Path) -> bytes:
    """The picture of the `hmm` module at `path` (a folder or a file), as PNG bytes."""
    return draw(scene(course, reference, find_submissions(course, path, [MODULE])))


def scene(course: Course, reference: Reference, submission: Submission) -> Scene:
    if MODULE not in course.module_names:
        raise UsageError(f"course.yml has no module {MODULE!r} to plot")
    module = course.module(MODULE)
    function = module.function(FIT)
    key, probe = _fit_probe(function, reference)
    xs = np.asarray(probe.args[1])
    expected = reference.outcomes(MODULE, FIT, {key: probe}, function.harness)[key]
    true_means, true_covs = true_model(function, probe)
    return Scene(
        xs=xs,
        true_means=true_means,
        true_covs=true_covs,
        student=student_fit(course, reference, submission, probe),
        reference=Fit(losses=np.asarray(expected.value[1])),
        em=em_fit(xs, probe.args[0], int(probe.args[3])),
    )


def _fit_probe(function: FunctionSpec, reference: Reference) -> tuple[Any, Probe]:
    """The call of fit_hmm on its first case, with the key the reference answers it by."""
    namespace = reference.namespace(MODULE)
    recorded = reference.inputs(MODULE, FIT)
    first = None
    for check in make_checks(function, MODULE, namespace, recorded, unseen=False):
        for key, probe in check.probes().items():
            if probe.kind == "call" and first is None:
                first = (key, probe)
    if first is None:
        raise UsageError(f"course.yml's {MODULE}.{FIT} has no check that calls it")
    return first


class _Model(Exception):  # noqa: N818 -- a carrier, not an error: the sampler's arguments
    def __init__(self, args: tuple[Any, ...]):
        super().__init__("the true model")
        self.args_seen = args


def true_model(function: FunctionSpec, probe: Probe) -> tuple[np.ndarray, np.ndarray]:
    """The means and covariances course.yml samples the data from."""
    import jax
    import jax.numpy as jnp

    spec = function.args[DATA]
    if not isinstance(spec, SampledArray):
        raise UsageError(f"course.yml's {MODULE}.{FIT} {DATA} is not sampled: no true model")

    def caught(*args: Any) -> Any:
        raise _Model(args)

    sampler = eval(spec.expression, {"jax": jax, "jnp": jnp, "np": np, "sample_hmm": caught})
    try:
        sampler(jax.random.PRNGKey(0), *(1 for _ in spec.sizes))
    except _Model as model:
        _, _, _, means, covs, _ = model.args_seen
        return np.asarray(means), np.asarray(covs)
    raise UsageError(f"course.yml's {MODULE}.{FIT} sampler does not call sample_hmm")


def student_fit(course: Course, reference: Reference, submission: Submission, probe: Probe) -> Fit:
    """The student's fit, decoded, from the submission's sandboxed process."""
    if MODULE in submission.refused:
        return Fit(error=submission.refused[MODULE])
    module = course.module(MODULE)
    function = module.function(FIT)
    limits = JailLimits(
        memory_mb=module.limits.memory_mb,
        cpu_s=int(module.limits.import_time_s + 2 * function.limits.time_s) + 60,
    )
    with SubmissionProcess(submission, limits, hidden=kept_from_child(reference)) as process:
        failed = process.load(MODULE, module.limits.import_time_s, module.limits.memory_mb)
        if isinstance(failed, ImportFailure):
            return Fit(error=f"{MODULE}.py could not be imported: {failed.error.summary}")
        if isinstance(failed, Failure):
            return Fit(error=f"{MODULE}.py could not be imported: {failed.message}")
        fitted = _ask(process, FIT, probe, function.harness, function.limits.time_s)
        if isinstance(fitted, str):
            return Fit(error=f"{FIT}: {fitted}")
        fit = _fitted(fitted)
        if fit.error is not None:
            return fit
        decode = Probe("call", (fitted[0], probe.args[1]))
        decoded = _ask(process, "viterbi", decode, DECODE, function.limits.time_s)
    return _decoded(fit, decoded)


def _fitted(fitted: Any) -> Fit:
    """The losses and means of what the student's fit_hmm returned, which may be anything:
    anything but (params with 'means', losses per step) is told, not raised."""
    wanted = f"{FIT} returned no (params, losses) pair with numeric params['means'] and losses"
    try:
        raw, losses = fitted
        losses, means = np.asarray(losses, np.float64), np.asarray(raw["means"], np.float64)
    except (TypeError, ValueError, KeyError, IndexError):
        return Fit(error=wanted)
    if losses.ndim != 1 or losses.size == 0:
        return Fit(error=f"{FIT}'s losses have shape {losses.shape}: one per step was expected")
    return Fit(losses=losses, means=means)


def _decoded(fit: Fit, decoded: Any) -> Fit:
    """`fit` with the Viterbi path and covariances its parameters imply, where the student's
    functions gave arrays of numbers (the picture checks their shapes)."""
    if isinstance(decoded, str):
        return dataclasses.replace(fit, error=decoded)
    try:
        states, covs = (np.asarray(part, np.float64) for part in decoded)
    except (TypeError, ValueError):
        return dataclasses.replace(fit, error="viterbi and covariances returned no arrays")
    means = fit.means if fit.means is not None else np.zeros((0, 0))
    shaped = means.ndim == 2 and covs.shape == (*means.shape, means.shape[-1])
    path = states.ndim == 1 and bool(np.all(np.isfinite(states)))
    return dataclasses.replace(fit, covs=covs if shaped else None, states=states if path else None)


def _ask(
    process: SubmissionProcess, name: str, probe: Probe, harness: str | None, time_s: float
) -> Any:
    """The value of one probe of the student's `name`, or why there is none."""
    process.send(MODULE, name, [probe], harness)
    reply = process.receive(time_s)
    if isinstance(reply, Failure):
        return reply.message
    (outcome,) = reply
    return outcome.value if outcome.error is None else outcome.error.summary


def _softmax(logits: Any) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def em_fit(xs: np.ndarray, raw: dict[str, Any], steps: int) -> Fit:
    """hmmlearn's EM on the same data, from the fit's starting means and probabilities
    (softmax of its logits) and hmmlearn's own covariances from the data: the negative
    log-likelihood per time step after each iteration (at most `steps`). From its
    k-means start instead, EM can settle with two states on one cluster."""
    try:
        from hmmlearn.hmm import GaussianHMM
    except ImportError:
        return Fit(error="hmmlearn is not installed: EM left out (pip install hmmlearn)")
    data = np.asarray(xs, np.float64)
    states = len(raw["means"])
    model = GaussianHMM(states, covariance_type="full", n_iter=1, init_params="c")
    model.startprob_ = _softmax(raw["initial_logits"])
    model.transmat_ = _softmax(raw["transition_logits"])
    model.means_ = np.asarray(raw["means"], np.float64)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration per fit "has not converged"
        for _ in range(steps):
            model.fit(data)
            model.init_params = ""  # continue from where the last iteration stopped
            losses.append(-model.score(data) / len(data))
            if len(losses) > 1 and abs(losses[-2] - losses[-1]) < 1e-6:
                break
    return Fit(losses=np.asarray(losses), means=model.means_, covs=model.covars_)


def draw(scene: Scene) -> bytes:
    """The three panels, side by side: WIDTH_IN x HEIGHT_IN inches at plots.DPI."""
    import matplotlib.style

    from grader.output.plots import STYLE, new_figure, png_bytes

    with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        figure, canvas = new_figure(HEIGHT_IN, WIDTH_IN)
        losses, states, model = figure.subplots(1, 3)
        _losses(losses, scene)
        _states(states, scene)
        _model(model, scene)
        figure.suptitle(_headline(scene), fontsize=11)
        return png_bytes(canvas)


def _headline(scene: Scene) -> str:
    if scene.student.losses is None:
        return f"hmm: no fit to show. {_short(scene.student.error, 120)}"
    mine, theirs = float(scene.student.losses[-1]), float(scene.reference.losses[-1])
    return f"hmm: your fit's last loss {mine:.4f}, the reference's {theirs:.4f} (per time step)"


def _losses(ax: Any, scene: Scene) -> None:
    curves = [  # yours last, on top of the others
        ("reference fit (Adam)", scene.reference, "#4c72b0", "--"),
        ("EM (hmmlearn), per iteration", scene.em, "#55a868", "-"),
        ("your fit_hmm", scene.student, "#c44e52", "-"),
    ]
    for label, fit, colour, style in curves:
        if fit.losses is not None and np.all(np.isfinite(fit.losses)):
            steps = np.arange(len(fit.losses))
            ax.plot(steps, fit.losses, color=colour, ls=style, lw=2, label=label)
    notes = [f"{label}: {_short(fit.error)}" for label, fit, _, _ in curves if fit.losses is None]
    if notes:
        ax.text(0.02, 0.02, "\n".join(notes), transform=ax.transAxes, fontsize=8, va="bottom")
    ax.set_xlabel("step")
    ax.set_ylabel("negative log-likelihood per time step")
    ax.set_title("Losses", loc="left")
    if ax.lines:
        ax.legend(loc="upper right", fontsize=9)


def _states(ax: Any, scene: Scene) -> None:
    xs, states = scene.xs, scene.student.states
    if states is None or states.shape != xs.shape[:1]:
        ax.scatter(xs[:, 0], xs[:, 1], s=6, color="0.6")
        reason = scene.student.error or "the Viterbi path has the wrong shape"
        ax.set_title("The data (no Viterbi path)", loc="left")
        ax.text(0.02, 0.02, _short(reason), transform=ax.transAxes, fontsize=8, va="bottom")
    else:
        colours = [COLOURS[int(s) % len(COLOURS)] for s in states]
        ax.scatter(xs[:, 0], xs[:, 1], s=6, c=colours)
        ax.set_title("The data, coloured by your Viterbi path", loc="left")
    ax.set_aspect("equal", adjustable="datalim")


def _model(ax: Any, scene: Scene) -> None:
    ax.scatter(scene.xs[:, 0], scene.xs[:, 1], s=4, color="0.85")
    _ellipses(ax, scene.true_means, scene.true_covs, "black", "--", "true")
    fit = scene.student
    if fit.means is not None and fit.means.shape == scene.true_means.shape:
        covs = fit.covs if fit.covs is not None and np.all(np.isfinite(fit.covs)) else None
        _ellipses(ax, fit.means, covs, "#c44e52", "-", "yours")
    else:
        ax.text(0.02, 0.02, _short(fit.error), transform=ax.transAxes, fontsize=8, va="bottom")
    ax.set_title("Means, 2-sigma ellipses: yours red, true black", loc="left")
    ax.set_aspect("equal", adjustable="datalim")


def _ellipses(
    ax: Any, means: np.ndarray, covs: np.ndarray | None, colour: str, style: str, label: str
) -> None:
    from matplotlib.patches import Ellipse

    ax.scatter(means[:, 0], means[:, 1], marker="x" if label == "true" else "o", color=colour)
    for k, mean in enumerate(means):
        if covs is None or covs[k].shape != (2, 2):
            continue
        values, vectors = np.linalg.eigh((covs[k] + covs[k].T) / 2)
        width, height = (4 * math.sqrt(max(v, 0.0)) for v in values[::-1])
        angle = math.degrees(math.atan2(vectors[1, -1], vectors[0, -1]))
        ellipse = Ellipse(mean, width, height, angle=angle, fill=False, color=colour, ls=style)
        ax.add_patch(ellipse)


def _short(text: str | None, width: int = 50) -> str:
    """A note that fits a panel: the first line, wrapped, at most three lines."""
    import textwrap

    first = (text or "").splitlines()[0] if text else ""
    return "\n".join(textwrap.wrap(first, width, max_lines=3, placeholder="..."))
