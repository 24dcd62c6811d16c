"""What the DivideMix and FixMatch step tests share: a CPU config and runtime for tiny
images, and an interrupted-then-resumed run to compare with an uninterrupted one."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import torch

from labelclean.train.loop import TrainConfig, run_epochs
from labelclean.train.runtime import setup_runtime


def cpu_setup(size: int, epochs: int, batch_size: int, seed: int) -> tuple[TrainConfig, Any]:
    """(a resolved CPU :class:`TrainConfig` for ``size`` px images, a seeded runtime)."""
    config = TrainConfig(image_size=size, epochs=epochs, batch_size=batch_size,
                         device="cpu").resolved()
    return config, setup_runtime("cpu", seed)


def resumed_run(make: Callable[[int], tuple[Any, TrainConfig, Any]], data: tuple,
                stop_after: int, fresh_seed: int = 99) -> tuple[Any, Any]:
    """(a step trained without a break, the same training stopped after ``stop_after``
    epochs and resumed in a fresh step built with another seed).

    ``make(seed)`` builds ``(step, config, runtime)``; ``data`` is ``run_epochs``'s
    ``(images, labels, rows)``. The snapshot is what a checkpoint holds: the step's state
    dict and both random generators' states, taken at the end of the last epoch run.
    """
    full, config, rt = make(0)
    run_epochs(full, *data, config, rt.rng)

    first, _, rt = make(0)
    saved: dict[str, Any] = {}

    def save(epoch: int) -> None:
        if epoch == stop_after - 1:
            buffer = io.BytesIO()
            torch.save(first.state_dict(), buffer)
            saved.update(state=buffer.getvalue(), rng=copy.deepcopy(rt.rng.bit_generator.state),
                         gen=rt.gen.get_state())

    run_epochs(first, *data, TrainConfig(**{**config.__dict__, "epochs": stop_after}), rt.rng,
               on_epoch_end=save)
    fresh, _, rt = make(fresh_seed)
    fresh.load_state_dict(torch.load(io.BytesIO(saved["state"]), weights_only=False))
    rt.rng.bit_generator.state = saved["rng"]
    rt.gen.set_state(saved["gen"])
    run_epochs(fresh, *data, config, rt.rng, start_epoch=stop_after)
    return full, fresh
