"""Typed errors for problems a user can fix.

Every message is one line that names the problem and how to fix it; the CLI
prints it as ``error: <message>`` and exits with code 2.
"""

from __future__ import annotations


class VaekitError(Exception):
    """Base class: bad input or state that the user can correct."""


class DataError(VaekitError, ValueError):
    """The data cannot be read or does not fit the model (shape, values, size)."""


class ConfigError(VaekitError, ValueError):
    """A configuration key is unknown or its value is invalid."""


class RunDirError(VaekitError):
    """A run folder is missing, already exists, or holds no model."""


class ModelFileError(VaekitError):
    """A saved model or checkpoint is truncated, corrupt, foreign or incompatible."""


class MissingExtraError(VaekitError):
    """A feature needs an optional dependency that is not installed (``pip install 'vaekit[NAME]'``)."""
