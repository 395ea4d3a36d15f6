"""What vmap and scan buy: a Python loop against the transformation, measured.

Prints one Markdown table. For each task and method: the compile time (tracing
and XLA compilation, measured apart; the fastest of three where they take under two
seconds in all), the median run time of the compiled program over several runs, and
the size of the traced program in equations.

  - per-example gradients of the squared error at N examples: a Python loop of
    jax.grad calls run eagerly, the same loop unrolled under jax.jit, and
    jax.jit(jax.vmap(jax.grad(...)));
  - an RNN over T steps, forward and gradient of a regression loss: a Python
    loop unrolled under jax.jit, and jax.lax.scan.

Run: python benchmarks/transforms.py [--examples 1024] [--steps 1000] [--repeats 5]
The functions come from solutions/, so the numbers are those of the reference.

With --plots DIR it measures the methods under jit at several sizes instead, prints
those rows, and draws how they grow, on log-log axes (traced program and compile time),
in two PNGs in DIR:

  - vmap_vs_loop.png: the loop under jit against vmap(grad), at N = 16, 64, 256
    (--plot-examples);
  - scan_vs_unroll.png: the loop under jit against lax.scan, forward and gradient, at
    T = 10, 30, 100 (--plot-steps).

About a minute on 2 cores; the unrolled loop's compile is what takes it. The pictures
are drawn as grader.output.plots draws (Agg, default style, fixed size, no metadata),
so the same numbers give the same bytes. docs/img/ holds the course's copies:

  python benchmarks/transforms.py --plots docs/img
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
D = 16  # features per example, for the per-example gradients
RNN_SIZES = (8, 32, 1)  # the RNN's input, hidden and output sizes
Params = dict[str, jax.Array]
LOOP, VMAP, SCAN = "Python loop under jit", "vmap(grad) under jit", "lax.scan under jit"
# The pictures' sizes: the loop under jit compiles in time linear in N or T (10 to 20 s at
# N = 256, and at T = 100 for the gradient, on 2 shared cores; half a minute at N = 1024),
# so these keep the whole --plots run near a minute; three sizes a factor 3 or 4 apart
# show the slopes on log axes.
PLOT_EXAMPLES = (16, 64, 256)
PLOT_STEPS = (10, 30, 100)
# The picture: two panels of WIDTH_IN x HEIGHT_IN inches in all, at plots.DPI. No run
# time: at these sizes a run takes well under a millisecond, mostly dispatch, and a shared
# machine's noise is as large as the differences (the table at N = 1024 and T = 1000 has it).
WIDTH_IN, HEIGHT_IN = 10.0, 4.5
PANELS = (
    ("equations", "traced program (jaxpr equations)"),
    ("compile_s", "compile time (s), tracing included"),
)
COLOURS = ("#c44e52", "#4c72b0", "#55a868")  # the loop red, the transformation blue
STYLES = ("-", "--", ":")
COMPILES, COMPILE_BUDGET_S = 3, 2.0  # see time_jitted


def load_solution(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"solution_{name}", ROOT / "solutions" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def equations(function: Callable[..., Any], *args: Any) -> int:
    """The size of the traced program: the equations of its jaxpr, nested ones (a scan's
    body, a cond's branches) included. The grader's 'does not grow' check counts the
    operations of the exported program instead (grader.runner.programs); both grow with N
    for an unrolled loop and neither does for vmap or scan. Tracing alone: no compile."""
    return _count(jax.make_jaxpr(function)(*args).jaxpr)


def _count(jaxpr: Any) -> int:
    total = 0
    for equation in jaxpr.eqns:
        total += 1 + sum(_count(sub) for sub in _nested(equation.params))
    return total


def _nested(params: dict[str, Any]) -> list[Any]:
    """The jaxprs among an equation's parameters (bare, closed, or in a tuple of branches)."""
    found = []
    for value in params.values():
        for item in value if isinstance(value, tuple | list) else [value]:
            if hasattr(item, "eqns"):
                found.append(item)
            elif hasattr(getattr(item, "jaxpr", None), "eqns"):
                found.append(item.jaxpr)
    return found


def block(tree: Any) -> Any:
    return jax.block_until_ready(tree)


def time_jitted(
    function: Callable[..., Any], args: tuple[Any, ...], repeats: int
) -> dict[str, Any]:
    """Compile time apart from the median run time of the compiled program. A compile
    that takes a second or less is also the one a shared machine's noise distorts
    most: those are compiled again, up to COMPILES times within COMPILE_BUDGET_S, and
    the fastest counts."""
    compiles: list[float] = []
    while len(compiles) < COMPILES and sum(compiles) < COMPILE_BUDGET_S:
        # A new function object each time: JAX caches traces and executables by function,
        # and a second compile of the same one would take no time at all.
        fresh = functools.wraps(function)(lambda *a: function(*a))
        started = time.perf_counter()
        compiled = jax.jit(fresh).lower(*args).compile()
        compiles.append(time.perf_counter() - started)
    block(compiled(*args))
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        block(compiled(*args))
        runs.append(time.perf_counter() - started)
    return {
        "compile_s": min(compiles),
        "run_ms": 1e3 * statistics.median(runs),
        "equations": equations(function, *args),
    }


def time_eager(function: Callable[..., Any], args: tuple[Any, ...], repeats: int) -> dict[str, Any]:
    """Eager (op-by-op) execution: the first run compiles each operation, later runs reuse them."""
    started = time.perf_counter()
    block(function(*args))
    first_s = time.perf_counter() - started
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        block(function(*args))
        runs.append(time.perf_counter() - started)
    run_s = statistics.median(runs)
    return {"compile_s": max(0.0, first_s - run_s), "run_ms": 1e3 * run_s, "equations": None}


@dataclass(frozen=True)
class Row:
    """One measurement: `method` doing `task` at `size` (N examples or T steps, named by
    `size_name`). Plain data, so that a picture can be drawn from hand-made rows."""

    task: str
    method: str
    size_name: str
    size: int
    compile_s: float
    run_ms: float
    equations: int | None  # None: eager, no traced program


def row(task: str, method: str, size_name: str, size: int, measured: dict[str, Any]) -> Row:
    return Row(task, method, size_name, size, **measured)


def per_example_gradients(n: int, repeats: int, eager: bool = True) -> list[Row]:
    """The loop eagerly (unless `eager` is off: the pictures leave it out), the loop under
    jit, and vmap(grad) under jit, at N examples."""
    losses = load_solution("vmap_losses")
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=D), jnp.float32), "b": jnp.float32(0.1)}
    X = jnp.asarray(rng.normal(size=(n, D)), jnp.float32)
    Y = jnp.asarray(rng.normal(size=n), jnp.float32)
    grad = jax.grad(losses.squared_error)

    def python_loop(params: Params, X: jax.Array, Y: jax.Array) -> Params:
        grads = [grad(params, X[i], Y[i]) for i in range(X.shape[0])]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *grads)

    task, data = "per-example gradients", (params, X, Y)
    rows = []
    if eager:
        measured = time_eager(python_loop, data, max(1, repeats // 2))
        rows.append(row(task, "Python loop, eager", "N", n, measured))
    rows.append(row(task, LOOP, "N", n, time_jitted(python_loop, data, repeats)))
    rows.append(row(task, VMAP, "N", n, time_jitted(losses.per_example_grads, data, repeats)))
    return rows


def rnn(t: int, repeats: int) -> list[Row]:
    """The loop under jit and lax.scan under jit, forward and gradient, over T steps."""
    rnn_module = load_solution("scan_rnn")
    rng = np.random.default_rng(1)
    d, h, o = RNN_SIZES

    def normal(*shape: int, scale: float = 1.0) -> jax.Array:
        return jnp.asarray(scale * rng.normal(size=shape), jnp.float32)

    params = {"W_xh": normal(d, h, scale=0.3), "W_hh": normal(h, h, scale=0.15), "b_h": normal(h)}
    readout = {"W": normal(h, o), "b": normal(o)}
    h0, xs, ys = normal(h), normal(t, d), normal(t, o)

    def loop_forward(params: Params, h0: jax.Array, xs: jax.Array) -> tuple[jax.Array, jax.Array]:
        hidden, outputs = h0, []
        for step in range(xs.shape[0]):
            hidden, out = rnn_module.rnn_cell(params, hidden, xs[step])
            outputs.append(out)
        return hidden, jnp.stack(outputs)

    def loop_loss(
        params: Params, readout: Params, h0: jax.Array, xs: jax.Array, ys: jax.Array
    ) -> jax.Array:
        _, hs = loop_forward(params, h0, xs)
        return jnp.mean((hs @ readout["W"] + readout["b"] - ys) ** 2)

    forward, gradient = "RNN forward", "RNN loss gradient"
    data, loss_args = (params, h0, xs), (params, readout, h0, xs, ys)
    scan_gradient = jax.grad(rnn_module.rnn_regression_loss)
    return [
        row(forward, LOOP, "T", t, time_jitted(loop_forward, data, repeats)),
        row(forward, SCAN, "T", t, time_jitted(rnn_module.rnn_forward, data, repeats)),
        row(gradient, LOOP, "T", t, time_jitted(jax.grad(loop_loss), loss_args, repeats)),
        row(gradient, SCAN, "T", t, time_jitted(scan_gradient, loss_args, repeats)),
    ]


def plot_scaling(rows: Sequence[Row], title: str, path: Path) -> None:
    """Writes a PNG of how `rows` grow with their size: traced program and compile time
    (PANELS), side by side on log-log axes, one line per task and method (the colour is
    the method, the line style the task). WIDTH_IN x HEIGHT_IN at plots.DPI, and the same
    rows give the same bytes (grader.output.plots draws the same way)."""
    import matplotlib.style
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    from grader.output.plots import STYLE, new_figure, png_bytes

    series: dict[tuple[str, str], list[Row]] = {}
    for r in sorted(rows, key=lambda r: r.size):
        series.setdefault((r.task, r.method), []).append(r)
    tasks = list(dict.fromkeys(task for task, _ in series))
    methods = list(dict.fromkeys(method for _, method in series))
    sizes = sorted({r.size for r in rows})
    # Plain numbers on the log axes: STYLE turns mathtext off, so matplotlib's 10^k labels
    # would print as TeX source.
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        figure, canvas = new_figure(HEIGHT_IN, WIDTH_IN)
        axes = figure.subplots(1, len(PANELS))
        for ax, (field, label) in zip(axes, PANELS, strict=True):
            for (task, method), points in series.items():
                drawn = [(p.size, getattr(p, field)) for p in points if getattr(p, field)]
                if not drawn:
                    continue  # eager rows have no program; a zero cannot go on a log axis
                xs, ys = zip(*drawn, strict=True)
                name = method if len(tasks) == 1 else f"{task}: {method}"
                colour = COLOURS[methods.index(method) % len(COLOURS)]
                style = STYLES[tasks.index(task) % len(STYLES)]
                ax.plot(xs, ys, marker="o", color=colour, ls=style, lw=2, label=name)
            ax.set_xscale("log")
            ax.set_yscale("log")
            # The measured sizes themselves as ticks: they are what was run.
            ax.set_xticks(sizes, labels=[str(s) for s in sizes])
            ax.xaxis.set_minor_locator(NullLocator())
            # 1, 2, 5 per decade: enough labels to read a value off a short axis.
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_xlabel(f"{rows[0].size_name}, log scale")
            ax.set_title(label, loc="left")
            ax.grid(True, color="0.9")
        handles, labels = axes[0].get_legend_handles_labels()
        # One row for two or three lines; two columns for more, so the legend fits the width.
        columns = len(labels) if len(labels) <= 3 else 2
        figure.legend(handles, labels, loc="outside lower center", ncols=columns)
        figure.suptitle(title)
        path.write_bytes(png_bytes(canvas))


def machine() -> str:
    """Where the numbers come from: JAX, its platform, the processor and its cores."""
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return f"JAX {jax.__version__} on {jax.devices()[0].platform} ({cpu})"


def write_plots(
    folder: Path, examples: Sequence[int], steps: Sequence[int], repeats: int
) -> list[Row]:
    """Measures the jitted methods at each N and each T, draws them, returns the rows."""
    folder.mkdir(parents=True, exist_ok=True)
    # Unrecorded first passes at the smallest sizes: JAX's first compile of each kind of
    # program (a scan, a gradient) pays one-time costs that would lift the first points.
    per_example_gradients(min(examples), 1, eager=False)
    rnn(min(steps), 1)
    gradients = [r for n in examples for r in per_example_gradients(n, repeats, eager=False)]
    recurrent = [r for t in steps for r in rnn(t, repeats)]
    where = f"{machine()}; compiles under {COMPILE_BUDGET_S:g} s: the fastest of {COMPILES} tries"
    plot_scaling(
        gradients,
        f"Per-example gradients (D = {D}) at N = {_listed(examples)}: "
        f"a Python loop against vmap\n{where}",
        folder / "vmap_vs_loop.png",
    )
    d, h, _ = RNN_SIZES
    plot_scaling(
        recurrent,
        f"An RNN (D = {d}, H = {h}) over T = {_listed(steps)} steps: "
        f"a Python loop against lax.scan\n{where}",
        folder / "scan_vs_unroll.png",
    )
    return gradients + recurrent


def _listed(sizes: Sequence[int]) -> str:
    return ", ".join(str(s) for s in sizes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1024, help="N for per-example gradients")
    parser.add_argument("--steps", type=int, default=1000, help="T for the RNN")
    parser.add_argument("--repeats", type=int, default=5, help="runs per median")
    parser.add_argument(
        "--plots", type=Path, metavar="DIR", help="measure at the sizes below and draw them there"
    )
    parser.add_argument(
        "--plot-examples", type=int, nargs="+", default=list(PLOT_EXAMPLES), help="Ns to draw"
    )
    parser.add_argument(
        "--plot-steps", type=int, nargs="+", default=list(PLOT_STEPS), help="Ts to draw"
    )
    args = parser.parse_args(argv)

    if args.plots is None:
        rows = per_example_gradients(args.examples, args.repeats) + rnn(args.steps, args.repeats)
    else:
        rows = write_plots(args.plots, args.plot_examples, args.plot_steps, args.repeats)
    print(f"{machine()}, Python {sys.version.split()[0]}; median of {args.repeats} runs")
    print()
    print("| task | method | compile (s) | run (ms) | equations |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        size = "-" if r.equations is None else str(r.equations)
        task = f"{r.task}, {r.size_name} = {r.size}"
        print(f"| {task} | {r.method} | {r.compile_s:.2f} | {r.run_ms:.2f} | {size} |")
    if args.plots is not None:
        print(f"\nwrote {args.plots / 'vmap_vs_loop.png'} and {args.plots / 'scan_vs_unroll.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
