"""The train stage's two checkpoints: ``model.pt`` (what predict needs) and ``last.pt``
(where an interrupted run resumes).

``model.pt`` holds the weights of the net that predicts (one state dict per member: two
for DivideMix's pair, whose logits are summed) with the architecture name, the classes (as
in the labels file), the image size, the normalisation and the augmentation preset whose
flips TTA averages, so :func:`load_model` rebuilds it with no other file. ``last.pt`` holds
a method's state, every generator's state and the metrics so far, at an epoch boundary:
on the CPU a resumed run ends with the same weights as one never interrupted.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from labelclean import __version__
from labelclean.errors import ConfigError
from labelclean.io.workdir import atomic_path
from labelclean.models.inputs import Normalise
from labelclean.train.loop import LogitSum, TrainConfig
from labelclean.train.runtime import Runtime

MODEL_FILE, LAST_FILE = "model.pt", "last.pt"
FORMAT = "labelclean.model/1"


def _save(obj: Any, path: Path, *, now: bool = False) -> Path:
    buffer = io.BytesIO()  # torch.save meeting a full disk raises a RuntimeError: write here
    torch.save(obj, buffer)
    with atomic_path(path, now=now) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return path


def _cpu(state: dict) -> dict:
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def save_model(net: nn.Module, path: Path, *, config: TrainConfig, classes: list, method: str,
               extra: dict | None = None) -> Path:
    """Write ``model.pt`` for ``net``; an ensemble whose ``nets`` (an ``nn.ModuleList``)
    sum their logits (:class:`LogitSum`, DivideMix's pair) is saved member by member."""
    nets = getattr(net, "nets", None)
    members = list(nets) if isinstance(nets, nn.ModuleList) else [net]
    norm = Normalise.of(members[0], "cpu")
    info = {"format": FORMAT, "version": __version__, "method": method,
            "model": config.model, "image_size": int(config.image_size),
            "classes": list(classes), "n_classes": len(classes),
            "mean": norm.mean.flatten().tolist(), "std": norm.std.flatten().tolist(),
            "augment": config.augment, "config": asdict(config), **(extra or {})}
    return _save({**info, "members": [_cpu(m.state_dict()) for m in members]}, path)


def model_file(checkpoint: str | Path) -> Path:
    """``checkpoint`` itself, or the ``model.pt`` of a folder."""
    path = Path(checkpoint)
    found = path / MODEL_FILE if path.is_dir() else path
    if not found.is_file():
        raise ConfigError(f"`checkpoint` {checkpoint} is not a model file nor a folder holding "
                          f"{MODEL_FILE}; give the --out folder of 'labelclean train' or its "
                          f"{MODEL_FILE}")
    return found


def load_model(checkpoint: str | Path, device: torch.device | str = "cpu"
               ) -> tuple[nn.Module, dict]:
    """(the saved net in eval mode on ``device``, its info: classes, image size, mean, std,
    augment, config, method)."""
    from labelclean.models.classifiers import build_classifier

    path = model_file(checkpoint)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a torn or foreign file
        raise ConfigError(f"`checkpoint` {path} cannot be read as a model ({exc}); give a "
                          f"{MODEL_FILE} written by 'labelclean train'") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ConfigError(f"`checkpoint` {path} is not a model written by 'labelclean train'")
    nets = []
    for state in saved["members"]:
        net, _ = build_classifier(saved["model"], saved["n_classes"],
                                  image_size=saved["image_size"])
        net.load_state_dict(state)
        nets.append(net)
    net = nets[0] if len(nets) == 1 else LogitSum(nets)
    info = {k: v for k, v in saved.items() if k != "members"}
    return net.to(device).eval(), info


# -- last.pt ----------------------------------------------------------------------------------

def save_resume(path: Path, *, run_key: str, epoch: int, step: Any, runtime: Runtime,
                metrics: list[dict]) -> Path:
    """Write ``last.pt`` after ``epoch`` (from 0) at once (kept if the stage then fails)."""
    state = {"run_key": run_key, "epoch": epoch, "step": step.state_dict(),
             "rng": runtime.rng.bit_generator.state, "gen": runtime.gen.get_state(),
             "torch_rng": torch.get_rng_state(), "scaler": runtime.amp.scaler.state_dict(),
             "metrics": metrics}
    if torch.cuda.is_available() and runtime.device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(runtime.device)
    return _save(state, path, now=True)


def load_resume(path: Path, run_key: str) -> dict | None:
    """The state in ``last.pt`` (None when there is none); one made by another run (other
    settings or data) is an error, as resuming it would mix two runs."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a torn file: nothing to resume from
        return None
    if not isinstance(state, dict) or state.get("run_key") != run_key:
        raise ConfigError(f"{path} was written by a run with other settings or data, so it "
                          "cannot be resumed; run without `resume` to start again")
    return state


def restore(state: dict, step: Any, runtime: Runtime) -> int:
    """Put ``state`` (from :func:`load_resume`) back into ``step`` and ``runtime``; returns
    the epoch to start at."""
    step.load_state_dict(state["step"])
    runtime.rng.bit_generator.state = state["rng"]
    runtime.gen.set_state(state["gen"])
    torch.set_rng_state(state["torch_rng"])
    runtime.amp.scaler.load_state_dict(state["scaler"])
    if "cuda_rng" in state and runtime.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], runtime.device)
    return int(state["epoch"]) + 1
