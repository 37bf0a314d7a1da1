"""User-facing errors.

A :class:`UserError` is something the user can fix (bad name, missing data, bad
value). The CLI prints its message (and hint) without a traceback and exits
non-zero. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """An error caused by user input, with a message that says how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


def closest(name: str, choices: Iterable[str]) -> str | None:
    """Return the closest valid choice to ``name`` or ``None``."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UserError:
    """Build the error for an unknown registry name, suggesting the closest one."""
    choices = sorted(choices)
    guess = closest(name, choices)
    hint = f"did you mean '{guess}'?" if guess else None
    return UserError(
        f"unknown {kind} '{name}'; choose one of: {', '.join(choices)}", hint=hint
    )


class SkippedFilesWarning(UserWarning):
    """Files that could not be read were skipped (the user asked for it with ``--skip-bad-files``)."""


def warn_skipped(what: str, skipped: list[tuple[str, str]], *, limit: int = 100, stacklevel: int = 3) -> None:
    """Warn once, listing every skipped file (up to ``limit``) with the reason it was skipped.

    Args:
        what: what the files are, plural ("images", "videos", "text files").
        skipped: (path, reason) pairs.
    """
    if not skipped:
        return
    import warnings

    lines = [f"  {path}: {reason}" for path, reason in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    warnings.warn(f"skipped {len(skipped)} unreadable {what} (--skip-bad-files):\n" + "\n".join(lines),
                  SkippedFilesWarning, stacklevel=stacklevel)
