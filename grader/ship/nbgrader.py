"""`difflearn nbgrader`: an nbgrader course made from solutions/ and course.yml.

For each module, `source/<module>/` holds:
  <module>.ipynb   the teaching text, the reference split into cells (a solution
                   cell per function, between nbgrader's solution markers), and an
                   autograded test cell per function worth its points in course.yml
  course.yml       the course, pointing at the recording instead of solutions/
  reference.json.gz  the reference's recorded outcomes (grader.reference.recorded)
nbgrader copies the folder into every release and submission, so a test cell
grades against the recording wherever the notebook runs. `nbgrader_config.py`
names the course and sets a timeout that leaves room for JAX to compile.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from grader.course.specs import Course
from grader.errors import UsageError
from grader.reference.live import LiveReference
from grader.ship import generated
from grader.ship.notebook import build_notebook, test_cell_id
from grader.ship.recording import record, write_recording
from grader.ship.release import student_manifest

__all__ = ["CONFIG", "build_notebook", "test_cell_id", "write_course"]

RECORDING = "reference.json.gz"
CELL_TIMEOUT_S = 600

CONFIG = f"""\
# nbgrader's configuration for the difflearn course, written by `difflearn nbgrader`.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "difflearn"
# A test cell grades one function in a process of its own: JAX starts and compiles.
c.ExecutePreprocessor.timeout = {CELL_TIMEOUT_S}
"""


def write_course(course: Course, course_dir: Path, force: bool = False) -> list[Path]:
    """Writes the nbgrader course folder; the files written."""
    source = course_dir / "source"
    targets = [source / m.name for m in course.modules]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        names = ", ".join(str(t) for t in existing)
        raise UsageError(f"{names} already exist; pass --force to replace them")
    reference = LiveReference(course.solutions_dir)
    written = []
    for module, target in zip(course.modules, targets, strict=True):
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        notebook = target / f"{module.name}.ipynb"
        notebook.write_text(
            json.dumps(build_notebook(course, module), indent=1) + "\n", encoding="utf-8"
        )
        write_recording(record(course, reference, [module.name]), target / RECORDING)
        (target / "course.yml").write_text(student_manifest(course, RECORDING), encoding="utf-8")
        written += [notebook, target / RECORDING, target / "course.yml"]
    # The config is difflearn's until someone edits it: then it is theirs, --force or not.
    config = course_dir / "nbgrader_config.py"
    if generated.refresh(config, CONFIG):
        written.append(config)
    return written
