"""The course: what `course.yml` says, read and validated (see README.md)."""
