"""The Gradescope autograder bundle: `difflearn gradescope --to autograder.zip`.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once when it
builds the image, and `run_autograder` for every submission, which it places in
/autograder/submission; the results go to /autograder/results/results.json. The
bundle holds the course (course.yml, solutions/) and the grader; setup.sh installs
the grader into a virtual environment outside the course folder and bubblewrap, so
that the sandbox can hide the course folder, solutions included, from submissions
(without bubblewrap, as root, the grader closes the course folder to each submission's
uid itself), and fills the trusted compilation cache by grading the reference once.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from grader.course.specs import Course
from grader.errors import UsageError, check_target
from grader.ship.release import grader_files

SETUP = """\
#!/usr/bin/env bash
# Run once by Gradescope when it builds the autograder image.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
apt-get update
apt-get install -y python3 python3-venv python3-pip bubblewrap
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install "$ROOT/source"
# The grader closes the course to submissions itself; this also keeps the solutions
# private from any other account of the image.
chmod -R go-rwx "$ROOT/source/solutions"
# Fill the trusted compilation cache once, in the image, by grading the reference: every
# submission's process then starts warm (each from a private copy of it).
cd "$ROOT/source"
"$ROOT/venv/bin/difflearn" grade "$ROOT/source/solutions" --course "$ROOT/source/course.yml" \
    > /dev/null || echo "warning: warming the compilation cache failed" >&2
"""

RUN = """\
#!/usr/bin/env bash
# Run by Gradescope for every submission: grade it, write results/results.json.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
DIFFLEARN="${DIFFLEARN_BIN:-$ROOT/venv/bin/difflearn}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
if ! "$DIFFLEARN" grade "$ROOT/submission" --course "$ROOT/source/course.yml" \\
        --json "$ROOT/results/results.json" 2> "$ROOT/results/errors.txt"; then
    # No gradable module in the submission (or a broken course): a zero that says why.
    python3 -c 'import json, sys
print(json.dumps({"score": 0, "output": open(sys.argv[1]).read(), "tests": []}))' \\
        "$ROOT/results/errors.txt" > "$ROOT/results/results.json"
fi
"""

PACKAGE_FILES = ("pyproject.toml", "README.md")


def build_bundle(course: Course, to: Path, force: bool = False) -> list[str]:
    """Writes the autograder zip; returns the names it holds."""
    check_target(to, force)
    root = course.root
    entries: dict[str, Path | str] = {"setup.sh": SETUP, "run_autograder": RUN}
    for name in PACKAGE_FILES:
        if not (root / name).is_file():
            raise UsageError(f"no {name} in {root}: the bundle installs the grader from it")
        entries[name] = root / name
    entries["course.yml"] = course.path
    for name, path in grader_files().items():
        entries[f"grader/{name}"] = path
    for path in sorted(course.solutions_dir.rglob("*.py")):
        entries[f"solutions/{path.relative_to(course.solutions_dir).as_posix()}"] = path
    temporary = to.with_name(f".{to.name}.partial")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, source in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            data = source if isinstance(source, str) else source.read_text(encoding="utf-8")
            bundle.writestr(info, data)
    temporary.replace(to)
    return list(entries)
