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

__all__ = ["Worded", "VaxError", "CommandError", "SettingsError", "RunError", "ManifestError"]


class Worded:
    """Mixin of exceptions whose message is worded in :mod:`vaxlib.i18n` (section ``cli``).

    Raise ``SomeError.say("key", **params)``: ``str(exc)`` is then Vietnamese
    and :meth:`message` gives ``lang``'s wording, never a mixture.
    """

    key: str | None = None
    params: dict = {}

    @classmethod
    def say(cls, key: str, **params: object) -> "Worded":
        """The error with the wording ``cli.<key>`` of :mod:`vaxlib.i18n` (Vietnamese as ``str``)."""
        from vaxlib import i18n

        exc = cls(i18n.t(f"cli.{key}", i18n.DEFAULT_LANG, **_worded(params, i18n.DEFAULT_LANG)))
        exc.key, exc.params = key, dict(params)
        return exc

    def message(self, lang: str = "vi") -> str:
        """The message in ``lang`` when it is worded in :mod:`vaxlib.i18n` (or carries ``message_vi`` and
        ``message_en``, as :class:`vaxlib.io.VaxImportError` does), else as raised."""
        if self.key is None:
            return getattr(self, f"message_{lang}", None) or str(self)
        from vaxlib import i18n

        return i18n.t(f"cli.{self.key}", lang, **_worded(self.params, lang))

    def describe(self, lang: str = "vi") -> str:
        """:meth:`message`, so that an error given as another error's parameter words itself in ``lang``."""
        return self.message(lang)


class VaxError(Worded, Exception):
    """Root of every error a user can act on; printed as one line by ``vax`` (exit 2).

    Raise ``SomeError.say("key", **params)`` for a message worded in
    :mod:`vaxlib.i18n` (section ``cli``): ``str(exc)`` is then Vietnamese
    and ``vax --lang en`` prints :meth:`message` in English, never a mixture.
    """

    def __reduce__(self):
        # pickled as its class, args and attributes, without calling __init__ again: subclasses with
        # their own __init__ (FileTypeMismatchError's message_vi, message_en) would not unpickle
        # by default, and a Dask worker hands its errors to the client by pickle
        return _rebuild_error, (type(self), self.args, dict(self.__dict__))


def _rebuild_error(cls: type, args: tuple, state: dict) -> BaseException:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def _worded(params: dict, lang: str) -> dict:
    """Parameters that word themselves (a ``describe(lang)`` method, e.g. a ledger check) in ``lang``."""
    return {k: v.describe(lang) if callable(getattr(v, "describe", None)) else v for k, v in params.items()}


class CommandError(VaxError):
    """A command-line usage error (a bad flag value, a missing option, ...)."""


class SettingsError(VaxError, ValueError):
    """A parameter file or settings mapping names an unknown setting or holds an unusable value."""


class RunError(VaxError):
    """A run folder cannot be written (or recovered): the output path is a file, read-only, busy, ..."""


class ManifestError(RunError):
    """A run folder has no ``_manifest.json``, or its files do not match it (missing, changed, truncated)."""
