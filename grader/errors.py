"""Errors that reach the user as one line and exit status 2."""


class UsageError(Exception):
    """A mistake in how difflearn was called: a missing path, an unknown module."""


class ManifestError(UsageError):
    """A course manifest that breaks the schema; the message names file and key."""
