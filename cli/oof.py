"""``labelclean oof``: out-of-fold probabilities, from embeddings or by k-fold training."""

from __future__ import annotations

from .stages import stage_command

stage_command("oof")
