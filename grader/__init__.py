"""difflearn's grader: checks exercise submissions against reference solutions.

A package per concern, each with a README: `course` (what course.yml asks), `runner`
(everything that runs untrusted code, in a sandboxed child), `reference` (what is
expected), `checks` (how an answer is judged), `output` (what grading shows) and `ship`
(what an instructor ships); `engine` ties them together and `cli` is the `difflearn`
command.

Nothing here imports the reference solutions: `reference` loads them by path, in the
grading process only.
"""

__version__ = "0.2.0"
