"""The options every per-image stage shares: where it runs (``[scan]``/``[embed]`` keys,
and ``[run]`` for every stage that has them)."""

from __future__ import annotations

from dataclasses import dataclass

from labelclean.config.options import TEXT, option


@dataclass(frozen=True)
class BackendOptions:
    """``backend`` and ``ray_address``; a stage's options inherit them, and a ``[run]``
    value is the default of every stage's (see :meth:`labelclean.pipeline.stages.Stage.resolve`)."""

    backend: str = option("local", TEXT, "local (processes on this machine) or ray (Ray Data "
                                         "tasks and actors; needs the ray extra of "
                                         "labelclean); default local.")
    ray_address: str | None = option(None, TEXT, "The Ray cluster to join with --backend ray "
                                                 "(host:port or ray://host:port; default: "
                                                 "start a local Ray).")
