"""A class graded in shards, as separate processes, and merged: the same outputs as one
run; the slicing, the merge's refusals and the schedulers' files that run the shards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TOY, make_class
from test_exports import a_class, double, save

from grader import cli
from grader.errors import UsageError
from grader.shards import Shard, merge, parse_shard, shard_students

CLASS_OUTPUTS = ("grades.csv", "summary.md", "scores.png", "failed.png")


def grade_batch(submissions: Path, *options: str) -> subprocess.Popen:
    """`difflearn grade-batch` in a process of its own, from this checkout."""
    command = [sys.executable, "-m", "grader.cli", "grade-batch", str(submissions)]
    command += ["--course", str(TOY / "course.yml"), "--module", "toy", "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [*command, *options], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process: subprocess.Popen) -> str:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return stdout


def test_three_shards_merged_give_the_bytes_of_one_run(tmp_path):
    submissions = make_class(tmp_path)
    whole, shards = tmp_path / "whole", tmp_path / "shards"
    runs = [
        grade_batch(submissions, "--shard", f"{i}/3", "--out", str(shards / str(i)))
        for i in range(3)
    ]
    outputs = [" ".join(finished(run).split()) for run in runs]  # unwrapped
    assert all("once every shard is done: difflearn merge" in out for out in outputs)
    assert not list(shards.glob("*/summary.md")), "a shard wrote a summary of a slice"
    finished(grade_batch(submissions, "--out", str(whole), "--canvas-csv", str(whole) + ".csv"))

    merged = tmp_path / "merged"
    command = ["merge", *map(str, sorted(shards.iterdir())), "--to", str(merged)]
    command += ["--course", str(TOY / "course.yml"), "--module", "toy"]
    assert cli.main([*command, "--canvas-csv", str(merged) + ".csv"]) == 0

    for name in CLASS_OUTPUTS:
        assert (merged / name).read_bytes() == (whole / name).read_bytes(), name
    assert (tmp_path / "merged.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    students = sorted(p.name for p in (whole / "students").iterdir())
    assert students == ["ada", "bob", "eve", "zed"]
    assert sorted(p.name for p in (merged / "students").iterdir()) == students
    for student in students:
        feedback = Path("students", student, "feedback.md")
        assert (merged / feedback).read_bytes() == (whole / feedback).read_bytes()


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_slice_the_class_by_name_once_and_evenly(count):
    students = [Path("class", name) for name in ("eve", "ada", "zed", "bob", "cy")]
    slices = [shard_students(students, Shard(i, count)) for i in range(count)]
    names = [s.name for part in slices for s in part]
    assert sorted(names) == ["ada", "bob", "cy", "eve", "zed"]
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert shard_students(students[::-1], Shard(0, count)) == slices[0]


def test_shard_is_i_of_n_counted_from_0():
    assert parse_shard("0/3") == Shard(0, 3) and parse_shard("2/3") == Shard(2, 3)


@pytest.mark.parametrize("text", ["3/3", "-1/3", "1/0", "a/b", "1", "1/2/3", ""])
def test_a_bad_shard_is_a_one_line_error(tmp_path, capsys, text):
    command = ["grade-batch", str(tmp_path), f"--shard={text}", "--course", str(TOY / "course.yml")]
    assert cli.main(command) == 2
    error = capsys.readouterr().err
    assert (
        error.startswith(f"difflearn: error: --shard {text}: expected I/N")
        and error.count("\n") == 1
    )


def test_merge_refuses_overlapping_shards_and_a_folder_in_use(tmp_path):
    a_class(tmp_path / "one")
    save(tmp_path / "two", "ada", double())
    with pytest.raises(UsageError, match="ada was graded in both"):
        merge([tmp_path / "one", tmp_path / "two"], tmp_path / "to")
    with pytest.raises(UsageError, match="is one of the folders merged"):
        merge([tmp_path / "one"], tmp_path / "one")
    with pytest.raises(UsageError, match="not the output of grade-batch"):
        merge([tmp_path / "nothing"], tmp_path / "to")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UsageError, match="is a file"):
        merge([tmp_path / "one"], tmp_path / "a-file", force=True)
    assert merge([tmp_path / "one"], tmp_path / "to") == ["ada", "bob", "cat", "dan", "eve", "zed"]
    with pytest.raises(UsageError, match="pass --force"):
        merge([tmp_path / "two"], tmp_path / "to")
    # With --force, the merged results replace the earlier ones, and no one else's stay.
    assert merge([tmp_path / "two"], tmp_path / "to", force=True) == ["ada"]
    assert [p.name for p in (tmp_path / "to" / "students").iterdir()] == ["ada"]


def test_the_kubernetes_job_gives_each_pod_its_index_as_the_shard():
    job = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "grade-shards.yaml").read_text())
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    count = job["spec"]["completions"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    command = " ".join(container["command"] + container["args"])
    assert "difflearn grade-batch" in command
    assert f'--shard "$JOB_COMPLETION_INDEX/{count}"' in command
    assert '--out "/class/shards/$JOB_COMPLETION_INDEX"' in command


def test_the_slurm_array_script_parses_and_gives_each_task_its_id_as_the_shard():
    script = ROOT / "deploy" / "slurm" / "grade-shards.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "#SBATCH --array=0-" in text and "difflearn grade-batch" in text
    assert '--shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"' in text
