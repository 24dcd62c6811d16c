"""Pretrained weights for a timm backbone: a file, the Hugging Face cache, or the hub.

The order is: an explicit weights file, else the local Hugging Face cache (works offline),
else a download from the hub when downloads are allowed. When none works the caller gets
one :class:`~labelclean.errors.WeightsError` that says how to provide the weights; a
download library's traceback never reaches the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelclean.errors import WeightsError

#: Files a timm repository on the Hugging Face hub keeps its weights in, preferred first.
HUB_FILENAMES = ("model.safetensors", "pytorch_model.bin")
#: Keys under which training scripts commonly nest the state dict of a checkpoint.
WRAPPER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model", "module")
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class WeightsFile:
    """A weights file found for a model, and where it came from.

    ``source`` is ``"file"`` (given by the user), ``"hf-cache"`` or ``"hf-hub"``.
    """

    path: Path
    source: str
    repo: str = ""

    def describe(self) -> str:
        return f"{self.source}:{self.repo or self.path}"


def downloads_disabled() -> bool:
    """True when ``HF_HUB_OFFLINE`` (read now, not at import) forbids touching the network."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - timm depends on it
        return True
    return bool(constants.HF_HUB_OFFLINE)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, from ``HF_HUB_CACHE`` or ``HF_HOME`` as they are now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_location(pretrained_cfg: dict) -> tuple[str, str | None, tuple[str, ...]]:
    """(repo id, revision, file names to try) of a model's weights on the hub."""
    hub_id = pretrained_cfg.get("hf_hub_id") or ""
    repo, _, revision = hub_id.partition("@")
    filename = pretrained_cfg.get("hf_hub_filename")
    return repo, revision or None, (filename,) if filename else HUB_FILENAMES


def find_pretrained(model_name: str, pretrained_cfg: dict) -> WeightsFile:
    """The weights file of ``model_name``: from the local cache, else downloaded.

    Raises :class:`WeightsError` naming every way to provide them when neither works.
    """
    repo, revision, filenames = hub_location(pretrained_cfg)
    cache = hf_cache_dir()
    if not repo:
        raise WeightsError(_no_weights_message(
            model_name, "timm knows no Hugging Face repository for it", cache, repo))
    cached = _from_cache(repo, revision, filenames, cache)
    if cached is not None:
        return WeightsFile(cached, "hf-cache", repo)
    if downloads_disabled():
        why = "downloads are off (HF_HUB_OFFLINE=1)"
    elif not hub_reachable():
        why = "the Hugging Face hub cannot be reached (no network)"
    else:
        downloaded, why = _download(repo, revision, filenames, cache)
        if downloaded is not None:
            return WeightsFile(downloaded, "hf-hub", repo)
    raise WeightsError(_no_weights_message(model_name, why, cache, repo))


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when a TCP connection to the hub's host opens within ``timeout`` seconds.

    Checked once before downloading, so an offline machine fails in seconds instead of
    waiting through the hub client's retries.
    """
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _no_weights_message(model_name: str, why: str, cache: Path, repo: str) -> str:
    where = f"'{repo}' is not in the Hugging Face cache ({cache})" if repo else (
        f"nothing for it in the Hugging Face cache ({cache})")
    return (f"no pretrained weights for model '{model_name}': {where} and {why}; "
            "set `weights` to a FILE (a .safetensors file or a PyTorch state dict), or run "
            "once online to download them (or set HF_HOME to a cache that has them), or ask "
            "for random weights with `no_pretrained`")


def _from_cache(repo: str, revision: str | None, filenames: tuple[str, ...],
                cache: Path) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo, filename, cache_dir=cache, revision=revision)
        if isinstance(found, str) and os.path.isfile(found):
            return Path(found)
    return None


def _download(repo: str, revision: str | None, filenames: tuple[str, ...],
              cache: Path) -> tuple[Path | None, str]:
    """Try each file name on the hub; (path, "") or (None, why it failed)."""
    from huggingface_hub import hf_hub_download

    why = "the download failed"
    for filename in filenames:
        try:
            return Path(hf_hub_download(repo, filename, revision=revision, cache_dir=cache,
                                        etag_timeout=10)), ""
        except Exception as exc:  # any network, auth or missing-file error of the hub client
            first_line = (str(exc).strip().splitlines() or [""])[0][:160]
            why = f"the download failed ({type(exc).__name__}: {first_line})"
    return None, why


def read_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Tensors of a ``.safetensors`` file or a ``torch.save``-d state dict / checkpoint.

    Checkpoints that nest the weights (``{"state_dict": ...}``, ``{"model": ...}``, an EMA
    copy) are unwrapped, and a ``module.`` prefix from DataParallel is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; set `weights` to the path "
                           "of a .safetensors file or a PyTorch state dict")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            import torch

            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, pickled objects, wrong format
        raise WeightsError(f"weights file {path} cannot be read as a .safetensors file or a "
                           f"PyTorch state dict ({type(exc).__name__}); pass a file saved with "
                           "safetensors or torch.save(model.state_dict())") from None
    state = _unwrap(state)
    if not isinstance(state, dict) or not state:
        raise WeightsError(f"weights file {path} holds no state dict (found "
                           f"{type(state).__name__}); pass a file saved with "
                           "torch.save(model.state_dict())")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _unwrap(state: Any) -> Any:
    while isinstance(state, dict):
        inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
        if inner is None:
            return state
        state = inner
    return state


def load_into(model, state: dict[str, Any], *, source: str, model_name: str) -> None:
    """Load ``state`` into ``model`` strictly, allowing only what an embedding model lacks.

    A classifier head in ``state`` is dropped (the model has none: ``num_classes=0``), and
    a ViT position embedding saved for another image size is resampled. Any other missing,
    extra or differently shaped tensor is a :class:`WeightsError`.
    """
    own = model.state_dict()
    heads = model.pretrained_cfg.get("classifier") or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    state = {k: v for k, v in state.items()
             if k in own or not any(k == h or k.startswith(h + ".") for h in heads)}
    _resample_pos_embed(model, state)
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    reshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or reshaped:
        raise WeightsError(
            f"weights {source} do not fit model '{model_name}': " + "; ".join(
                f"{len(keys)} {what} (e.g. {', '.join(keys[:3])})"
                for what, keys in (("missing", missing), ("unexpected", unexpected),
                                   ("with another shape, file vs model", reshaped)) if keys)
            + "; pass weights saved from this architecture, or set `model` to the one they "
              "belong to")
    model.load_state_dict(state, strict=False)


def _resample_pos_embed(model, state: dict[str, Any]) -> None:
    ours = getattr(model, "pos_embed", None)
    theirs = state.get("pos_embed")
    if ours is None or theirs is None or tuple(ours.shape) == tuple(theirs.shape):
        return
    from timm.layers import resample_abs_pos_embed

    prefix = 0 if getattr(model, "no_embed_class", False) else getattr(
        model, "num_prefix_tokens", 1)
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is None or theirs.ndim != 3:
        return
    state["pos_embed"] = resample_abs_pos_embed(theirs, list(grid), num_prefix_tokens=prefix)
