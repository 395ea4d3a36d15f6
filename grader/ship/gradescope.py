"""The Gradescope autograder bundle: `difflearn gradescope --to autograder.zip`.

Gradescope unpacks the zip into /autograder/source, runs `setup.sh` once when it
builds the image, and `run_autograder` for every submission, which it places in
/autograder/submission; the results go to /autograder/results/results.json. The
bundle holds the course (course.yml, solutions/) and the grader; setup.sh installs
the grader into a virtual environment outside the course folder and bubblewrap, so
that the sandbox can hide the course folder, solutions included, from submissions
(without bubblewrap, as root, the grader closes the course folder to each submission's
uid itself), and fills the trusted compilation cache by grading the reference once.

A bundle grades one assignment: some modules of the course (`--module`), or all of
them. What the image installs is what the building machine has: its Python's
major.minor, and the versions of the grader's dependencies, and of theirs, pinned in
requirements.txt (a JAX that differs computes different programs and values).
`python -m grader.ship.gradescope ROOT MODULE...` is what run_autograder runs.
"""

from __future__ import annotations

import shlex
import sys
import tomllib
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from rich.console import Console

from grader.course.schema import load_course
from grader.course.specs import Course
from grader.engine import grade, selected_modules
from grader.errors import UsageError, check_target
from grader.output.report import print_report, write_json
from grader.reference.recorded import reference_for
from grader.ship.release import grader_files

PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
REQUIREMENTS = "requirements.txt"

SETUP = """\
#!/usr/bin/env bash
# Run once by Gradescope when it builds the autograder image (as root, on Ubuntu).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
# The Python the bundle was built with: requirements.txt pins packages built for it.
PYTHON=python@PYTHON_VERSION@
apt-get update
apt-get install -y bubblewrap
apt-get install -y "$PYTHON" "$PYTHON-venv" || true
if ! command -v "$PYTHON" > /dev/null || ! "$PYTHON" -m venv "$ROOT/venv"; then
    echo "setup.sh: this autograder needs Python @PYTHON_VERSION@ with venv (the bundle was" \\
        "built with it), which this image's apt does not provide: choose a Gradescope base" \\
        "image whose Ubuntu has $PYTHON, or build the bundle with the image's Python" >&2
    exit 1
fi
# Exactly the versions the bundle was built with, then the grader on top of them.
"$ROOT/venv/bin/pip" install -r "$ROOT/source/@REQUIREMENTS@"
"$ROOT/venv/bin/pip" install --no-deps "$ROOT/source"
# The grader closes the course to submissions itself; this also keeps the solutions
# private from any other account of the image.
chmod -R go-rwx "$ROOT/source/solutions"
# Fill the trusted compilation cache once, in the image, by grading the reference of the
# assignment: every submission's process then starts warm (each from a private copy).
cd "$ROOT/source"
"$ROOT/venv/bin/difflearn" grade "$ROOT/source/solutions" --course "$ROOT/source/course.yml" \\
    @MODULE_OPTIONS@ > /dev/null || echo "warning: warming the compilation cache failed" >&2
"""

RUN = """\
#!/usr/bin/env bash
# Run by Gradescope for every submission: grade it, write results/results.json.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${DIFFLEARN_PYTHON:-$ROOT/venv/bin/python}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
# The assignment's modules: a submission's others are not graded. -P: the grader comes
# from the virtual environment, outside the course folder, not from this folder.
if ! "$PYTHON" -P -m grader.ship.gradescope "$ROOT" @MODULES@ 2> "$ROOT/results/errors.txt"; then
    # The submission could not be read (or the course is broken): a zero that says why.
    python3 -c 'import json, sys
print(json.dumps({"score": 0, "output": open(sys.argv[1]).read(), "tests": []}))' \\
        "$ROOT/results/errors.txt" > "$ROOT/results/results.json"
fi
"""

PACKAGE_FILES = ("pyproject.toml", "README.md")


def build_bundle(
    course: Course, to: Path, force: bool = False, modules: Sequence[str] | None = None
) -> list[str]:
    """Writes the autograder zip for the assignment of `modules` (default: the whole
    course); returns the names it holds."""
    assignment = selected_modules(course, modules)
    check_target(to, force)
    root = course.root
    names = [shlex.quote(name) for name in assignment]
    setup = _filled(
        SETUP,
        PYTHON_VERSION=PYTHON_VERSION,
        REQUIREMENTS=REQUIREMENTS,
        MODULE_OPTIONS=" ".join(f"--module {name}" for name in names),
    )
    run = _filled(RUN, MODULES=" ".join(names))
    entries: dict[str, Path | str] = {"setup.sh": setup, "run_autograder": run}
    for name in PACKAGE_FILES:
        if not (root / name).is_file():
            raise UsageError(f"no {name} in {root}: the bundle installs the grader from it")
        entries[name] = root / name
    entries[REQUIREMENTS] = pinned_requirements(root / "pyproject.toml")
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


def _filled(template: str, **values: str) -> str:
    """`template` with each `@NAME@` in it replaced by the value of NAME."""
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    return template


def pinned_requirements(pyproject: Path) -> str:
    """requirements.txt for the dependencies of `pyproject`'s project and theirs, each at
    the version installed here; a one-line error for one that is not installed."""
    try:
        with pyproject.open("rb") as file:
            roots = tomllib.load(file)["project"]["dependencies"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"{pyproject}: no [project] dependencies to pin ({error})") from None
    versions: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    pending = [(Requirement(text), str(pyproject)) for text in roots]
    while pending:
        requirement, needed_by = pending.pop()
        name = canonicalize_name(requirement.name)
        for extra in ("", *sorted(requirement.extras)):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            try:
                distribution = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                raise UsageError(
                    f"{requirement.name} (needed by {needed_by}) is not installed: the bundle "
                    "pins the versions installed where it is built; pip install -e . first"
                ) from None
            if not requirement.specifier.contains(distribution.version, prereleases=True):
                raise UsageError(
                    f"{needed_by} needs {requirement}, but {name} {distribution.version} is "
                    "installed here, where the bundle takes its versions from"
                )
            versions[name] = distribution.version
            for text in distribution.requires or ():
                needed = Requirement(text)
                # Markers are judged here, where the versions come from; `extra` picks
                # the requirements of the extras asked for (none of a plain requirement).
                if needed.marker is None or needed.marker.evaluate({"extra": extra}):
                    pending.append((needed, name))
    header = (
        "# Written by `difflearn gradescope`: the grader's dependencies, and theirs, at the\n"
        f"# versions installed where the bundle was built (Python {PYTHON_VERSION}).\n"
    )
    return header + "".join(f"{name}=={versions[name]}\n" for name in sorted(versions))


def main(argv: Sequence[str] | None = None) -> int:
    """run_autograder's step: `ROOT MODULE...` grades ROOT/submission for the assignment
    of MODULE... against ROOT/source/course.yml, into ROOT/results/results.json."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        print("usage: python -m grader.ship.gradescope ROOT [MODULE...]", file=sys.stderr)
        return 2
    root, modules = Path(args[0]), args[1:]
    try:
        course = load_course(root / "source" / "course.yml")
        reference = reference_for(course)
        result = grade(course, root / "submission", reference, modules, assignment=True)
    except UsageError as error:
        print(f"difflearn: error: {error}", file=sys.stderr)
        return 2
    print_report(result, Console(highlight=False, width=120))  # the instructor's log
    write_json(result, root / "results" / "results.json", course.gradescope)
    return 0


if __name__ == "__main__":
    sys.exit(main())
