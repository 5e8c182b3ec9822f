"""vaxlib's exception root.

Every error a user can act on derives from :class:`VaxError`.  The ``vax``
command (:func:`vaxlib.cli.main`) prints any :class:`VaxError` as one line,
``vax COMMAND: message``, and exits with code 2 -- no traceback, so a message
must name the file, row and column it is about and must never hold personal
data (mask IDs: ``0790******79``).  Anything else that escapes a command is a
bug and keeps its traceback.

Subclass :class:`VaxError` (directly or through a module's own root, as
:class:`vaxlib.io.VaxImportError` does) rather than catching and re-raising
as :class:`CommandError`: the command then needs no ``try``.
"""
from __future__ import annotations

__all__ = ["VaxError", "CommandError", "SettingsError", "RunError", "ManifestError"]


class VaxError(Exception):
    """Root of every error a user can act on; printed as one line by ``vax`` (exit 2)."""


class CommandError(VaxError):
    """A command-line usage error (a bad flag value, a missing option, ...)."""


class SettingsError(VaxError, ValueError):
    """A parameter file or settings mapping names an unknown setting or holds an unusable value."""


class RunError(VaxError):
    """A run folder cannot be written (or recovered): the output path is a file, read-only, busy, ..."""


class ManifestError(RunError):
    """A run folder has no ``_manifest.json``, or its files do not match it (missing, changed, truncated)."""
