"""What the instructor ships: stubs, the student copy, nbgrader's course, the Gradescope
bundle, and the reference's recording they carry."""
