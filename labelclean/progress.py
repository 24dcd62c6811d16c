"""Progress reporting without printing.

Library functions take an optional ``progress`` callable and call it as
``progress(done, total, description)``; the CLI passes one that drives a progress bar.
"""

from __future__ import annotations

from typing import Protocol


class ProgressFn(Protocol):
    def __call__(self, done: int, total: int, description: str = "") -> None: ...


def report(progress: ProgressFn | None, done: int, total: int, description: str = "") -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(done, total, description)
