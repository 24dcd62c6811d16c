"""What a stage hands back to whoever ran it (the CLI, ``labelclean run``, Python)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageResult:
    """One stage's outcome.

    ``value`` is the stage library function's own result (e.g. a ``ScanResult``);
    ``summary`` its counts; ``brief`` the one line ``labelclean run`` prints;
    ``describe(**display)`` the lines the stage's own command prints (``display`` holds
    options that change only what is shown, such as dedupe's ``top``); ``warnings`` what
    the user should know although the stage succeeded.
    """

    stage: str
    value: Any = None
    reused: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    brief: str = ""
    describe: Callable[..., list[str]] = lambda **display: []
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str = ""

    def lines(self, **display: Any) -> list[str]:
        """The lines the stage's command prints."""
        return self.describe(**display)


def plural(n: int, word: str) -> str:
    """``"1 image"``, ``"2,000 images"``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"
