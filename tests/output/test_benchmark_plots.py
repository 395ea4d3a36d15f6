"""The pictures of benchmarks/transforms.py --plots (docs/img/vmap_vs_loop.png and
scan_vs_unroll.png): drawn from hand-made rows, never from a benchmark run, which takes
a minute of compiles."""

from __future__ import annotations

import importlib.util
import struct
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from conftest import ROOT

from grader.output.plots import DPI

# matplotlib is imported by the drawing only; without it, these tests have nothing to test.
pytest.importorskip("matplotlib", reason="matplotlib draws the benchmark's pictures")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def transforms() -> Iterator[ModuleType]:
    """benchmarks/transforms.py, loaded by path: benchmarks/ is scripts, not a package.
    In sys.modules while it loads and is used: its dataclass looks its module up there."""
    name = "benchmark_transforms"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "transforms.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def gradient_rows(transforms: ModuleType) -> list:
    """The loop's program and compile grow with N, vmap's do not (the shape of real runs)."""
    row = transforms.Row
    rows = []
    for n in (16, 64, 256):
        task = "per-example gradients"
        rows.append(row(task, transforms.LOOP, "N", n, 0.05 * n, 0.002 * n, 11 * n + 2))
        rows.append(row(task, transforms.VMAP, "N", n, 0.1, 0.02, 7))
    return rows


def rnn_rows(transforms: ModuleType) -> list:
    """Two tasks (forward, gradient) by two methods: four lines, two line styles."""
    row = transforms.Row
    rows = []
    for t in (10, 30, 100):
        for task, per_step, scan_size in (("RNN forward", 7, 6), ("RNN loss gradient", 20, 37)):
            rows.append(row(task, transforms.LOOP, "T", t, 0.04 * t, 0.003 * t, per_step * t))
            rows.append(row(task, transforms.SCAN, "T", t, 0.2, 0.1, scan_size))
    return rows


def assert_picture(png: bytes, size: tuple[int, int]) -> None:
    """A PNG of `size` pixels (from its IHDR chunk, the first after the signature:
    length, b'IHDR', width, height), without the chunks that carry a date or a version."""
    assert png[:8] == PNG_SIGNATURE
    length, kind, width, height = struct.unpack(">I4sII", png[8:24])
    assert kind == b"IHDR" and length == 13
    assert (width, height) == size
    assert b"tIME" not in png and b"Software" not in png and b"matplotlib" not in png


def expected_size(transforms: ModuleType) -> tuple[int, int]:
    return int(transforms.WIDTH_IN * DPI), int(transforms.HEIGHT_IN * DPI)


def test_the_picture_is_a_png_of_its_size_and_the_same_rows_give_the_same_bytes(
    transforms, tmp_path
):
    first, again = tmp_path / "first.png", tmp_path / "again.png"
    transforms.plot_scaling(gradient_rows(transforms), "a loop against vmap", first)
    transforms.plot_scaling(gradient_rows(transforms), "a loop against vmap", again)
    assert expected_size(transforms) == (1000, 450)  # the size docs/img's copies have
    assert_picture(first.read_bytes(), expected_size(transforms))
    assert again.read_bytes() == first.read_bytes()
    # Other numbers, another picture: the bytes come from the rows, not a constant.
    other = tmp_path / "other.png"
    transforms.plot_scaling(gradient_rows(transforms)[:-1], "a loop against vmap", other)
    assert other.read_bytes() != first.read_bytes()


def test_the_check_fails_on_a_picture_of_another_size(transforms, tmp_path, monkeypatch):
    # The size is asserted, not just printed: a figure drawn taller does not pass.
    monkeypatch.setattr(transforms, "HEIGHT_IN", 5.0)
    taller = tmp_path / "taller.png"
    transforms.plot_scaling(gradient_rows(transforms), "a loop against vmap", taller)
    with pytest.raises(AssertionError):
        assert_picture(taller.read_bytes(), (1000, 450))
    assert_picture(taller.read_bytes(), (1000, 500))


def test_four_lines_and_an_eager_row_without_a_program_are_drawn(transforms, tmp_path):
    scan = tmp_path / "scan.png"
    transforms.plot_scaling(rnn_rows(transforms), "a loop against lax.scan", scan)
    assert_picture(scan.read_bytes(), expected_size(transforms))
    # An eager row has no traced program (None): left out of that panel, not a crash.
    eager = transforms.Row("per-example gradients", "Python loop, eager", "N", 16, 0.5, 9.0, None)
    with_eager = tmp_path / "eager.png"
    transforms.plot_scaling([*gradient_rows(transforms), eager], "with eager", with_eager)
    assert_picture(with_eager.read_bytes(), expected_size(transforms))


def test_plots_writes_both_pictures_and_prints_the_rows_they_show(
    transforms, tmp_path, monkeypatch, capsys
):
    # The measurements replaced by hand-made rows: main's --plots, without a compile.
    def gradients(n: int, repeats: int, eager: bool = True) -> list:
        return [r for r in gradient_rows(transforms) if r.size == n]

    def rnn(t: int, repeats: int) -> list:
        return [r for r in rnn_rows(transforms) if r.size == t]

    monkeypatch.setattr(transforms, "per_example_gradients", gradients)
    monkeypatch.setattr(transforms, "rnn", rnn)
    folder = tmp_path / "img"
    argv = ["--plots", str(folder), "--plot-examples", "16", "64", "256"]
    assert transforms.main([*argv, "--plot-steps", "10", "30", "100"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["scan_vs_unroll.png", "vmap_vs_loop.png"]
    for picture in folder.iterdir():
        assert_picture(picture.read_bytes(), expected_size(transforms))
    table = capsys.readouterr().out
    assert "| per-example gradients, N = 256 | Python loop under jit | 12.80 |" in table
    assert "| RNN loss gradient, T = 100 | lax.scan under jit | 0.20 |" in table


@pytest.mark.parametrize(
    ("page", "picture"),
    [("vmap_losses.md", "vmap_vs_loop.png"), ("scan_rnn.md", "scan_vs_unroll.png")],
)
def test_the_pages_show_the_pictures_docs_img_holds(transforms, page, picture):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert f"](img/{picture})" in text
    assert_picture((ROOT / "docs" / "img" / picture).read_bytes(), expected_size(transforms))
