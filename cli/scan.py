"""``labelclean scan``: index every file, readable or not."""

from __future__ import annotations

from .stages import stage_command

stage_command("scan")
