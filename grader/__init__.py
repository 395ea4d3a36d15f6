"""difflearn's grader: checks exercise submissions against reference solutions.

The package is split by concern: `manifest` reads course.yml, `inputs` makes
the arguments, `probes` runs a function the ways the checks need, `child` and
`isolation` run student code in a separate process, `reference` provides the
expected outputs, `checks` compares, `engine` ties them together, `report`
prints and writes the results, and `cli` is the `difflearn` command.

Nothing here imports the reference solutions: `reference` loads them by path,
in the grading process only.
"""

__version__ = "0.2.0"
