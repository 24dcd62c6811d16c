"""Backbones that turn images into embeddings: a registry of named choices, and the encoder.

Any timm model name works (``timm.list_models()``); the registry only gives the good
choices short names and notes. The encoder is the model with its classifier removed
(``num_classes=0``, so it returns pooled features) plus the model's own eval preprocessing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelclean.errors import ConfigError, RegistryError, WeightsError
from labelclean.models.inputs import Normalise


@dataclass(frozen=True)
class Backbone:
    """A named embedding model: the timm model (with its pretrained tag) and when to use it."""

    name: str
    timm_name: str
    notes: str
    image_size: int | None = None  # run at this size instead of the model's own


BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("convnext_nano", "convnext_nano.in12k_ft_in1k",
             "default: small ConvNeXt (15M parameters, 640-d) pretrained on ImageNet-12k; "
             "good general-purpose similarity at a CPU-friendly cost"),
    Backbone("dinov2_s", "vit_small_patch14_dinov2.lvd142m",
             "stronger near-duplicate and retrieval quality: self-supervised DINOv2 ViT-S/14 "
             "(22M parameters, 384-d), run at 224 px; about 2x the default's compute",
             image_size=224),
    Backbone("efficientnet_b0", "efficientnet_b0.ra_in1k",
             "the usual Kaggle baseline (5M parameters, 1280-d), ImageNet-1k"),
    Backbone("convnext_tiny", "convnext_tiny.in12k_ft_in1k",
             "larger ConvNeXt (28M parameters, 768-d), ImageNet-12k; better features, slower"),
    Backbone("mobilenetv3", "mobilenetv3_large_100.miil_in21k_ft_in1k",
             "fastest on a CPU (5M parameters, 1280-d), ImageNet-21k; weaker features"),
    Backbone("clip_b16", "vit_base_patch16_clip_224.openai",
             "CLIP ViT-B/16 image tower (86M parameters, 768-d): similarity by meaning; slow "
             "without a GPU"),
)}
DEFAULT_BACKBONE = "convnext_nano"
RANDOM_INIT_SEED = 0


class UnknownBackboneError(RegistryError):
    def __init__(self, name: str) -> None:
        Exception.__init__(self, f"unknown model '{name}'; choose one of: "
                           f"{', '.join(list_backbones())}, or any model name from "
                           "timm.list_models() (optionally with a pretrained tag)")


def list_backbones() -> list[str]:
    """Short names of the registered backbones (any timm model name is accepted too)."""
    return sorted(BACKBONES)


def timm_name_of(name: str) -> str:
    """The timm model name behind ``name`` (a registry name or already a timm name)."""
    return BACKBONES[name].timm_name if name in BACKBONES else name


def resolve_backbone(name: str) -> Backbone:
    """The registry entry for ``name``, or an ad-hoc one for any valid timm model name."""
    if name in BACKBONES:
        return BACKBONES[name]
    import timm

    arch, _, tag = name.partition(".")
    if not timm.is_model(arch) or (tag and name not in timm.list_pretrained(name)):
        raise UnknownBackboneError(name)
    return Backbone(name, name, "timm model")


def file_stem(timm_name: str) -> str:
    """A filesystem-safe file name stem for a model name."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in timm_name).strip("._")
    return safe or "model"


@dataclass
class Encoder:
    """A model that maps uint8 image batches (B, 3, H, W) to pooled features (B, D).

    ``preprocess`` turns one RGB PIL image into a uint8 (3, H, W) tensor (the model's own
    eval resize and crop); mean/std normalisation (``normalise``) happens on the whole batch
    in :meth:`__call__`, on the device. :attr:`decode_transform` is what decoding uses.
    """

    name: str
    model: Any
    data_config: dict
    preprocess: Callable
    resize_side: int
    weights: str
    device: Any
    dim: int = 0
    amp: bool = False
    channels_last: bool = False
    normalise: Normalise | None = field(default=None, repr=False)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return tuple(self.data_config["input_size"])

    @property
    def decode_transform(self) -> Callable:
        """``preprocess`` as an :class:`~labelclean.models.evalview.EvalView` (the same
        pixels as a numpy array, without torch) where it is a plain resize and crop, else
        ``preprocess`` itself: decoding processes then need not import torch or timm."""
        from labelclean.models.evalview import eval_view

        return eval_view(self.preprocess) or self.preprocess

    def __call__(self, batch):
        """Features of a uint8 (B, 3, H, W) batch as a float32 (B, D) tensor on the CPU."""
        import torch

        x = self.normalise.fused(batch)  # (x / 255 - mean) / std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16,
                            enabled=self.amp):
            features = self.model(x)
        return features.float().cpu()


def resolve_device(device: str = "auto"):
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an unavailable choice is an error."""
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    available = {"cpu": True, "cuda": cuda, "mps": mps}
    kind, _, number = device.partition(":")
    if kind not in available:
        raise ConfigError(f"`device` must be auto, cpu, cuda or mps, not '{device}'")
    if not available[kind] or (kind == "cuda" and number.isdigit()
                               and int(number) >= torch.cuda.device_count()):
        raise ConfigError(f"device {device} was asked for, but torch {torch.__version__} sees "
                          "no such device here; set `device` to auto or cpu")
    return torch.device(device)


def build_encoder(model: str = DEFAULT_BACKBONE, *, weights: str | os.PathLike | None = None,
                  pretrained: bool = True, device: str = "auto",
                  image_size: int | None = None) -> Encoder:
    """Create the encoder for ``model`` (a registry name or any timm model name).

    Weights come from ``weights`` (a file) if given, else, with ``pretrained``, from the
    Hugging Face cache or hub; ``pretrained=False`` keeps timm's random initialisation.
    """
    import timm
    import torch

    backbone = resolve_backbone(model)
    dev = resolve_device(device)
    size = image_size or backbone.image_size
    with image_size_errors(backbone.timm_name, image_size):
        net, source = create_model(backbone.timm_name, size, weights, pretrained)
    config = timm.data.resolve_model_data_config(net)
    if size:
        config["input_size"] = (3, size, size)
    transform = timm.data.create_transform(**config, is_training=False, use_prefetcher=True)
    on_cuda = dev.type == "cuda"
    layout = torch.channels_last if on_cuda else torch.preserve_format
    net = net.eval().to(dev, memory_format=layout)
    encoder = Encoder(name=backbone.timm_name, model=net, data_config=config,
                      preprocess=transform, resize_side=_resize_side(transform, config),
                      weights=source, device=dev, amp=on_cuda, channels_last=on_cuda,
                      normalise=Normalise(config["mean"], config["std"], dev))
    with torch.inference_mode():
        probe = torch.zeros((1, *encoder.input_size), dtype=torch.uint8)
        with image_size_errors(backbone.timm_name, image_size):
            encoder.dim = int(encoder(probe).shape[1])
    return encoder


@contextmanager
def image_size_errors(model: str, size: int | None) -> Iterator[None]:
    """Turn a model's failure on an image size the user chose into a :class:`ConfigError`.

    With ``size`` None (the model's own size) a failure is a bug and keeps its traceback.
    """
    try:
        yield
    except (AssertionError, ValueError, RuntimeError) as exc:
        if not size:
            raise
        text = str(exc).strip()
        reason = text.splitlines()[0][:160] if text else type(exc).__name__
        raise ConfigError(f"model '{model}' cannot take {size}x{size} images ({reason}); "
                          "set another `image_size` (larger, or a multiple of its patch "
                          "size), or leave it out for the model's own") from None


def create_model(timm_name: str, size: int | None, weights, pretrained: bool):
    """(timm model without a classifier (``num_classes=0``: pooled features), description
    of its weights): from the file ``weights``, else pretrained, else the fixed random init.
    ``size`` (None: the model's own) is passed to models with a fixed input size (ViTs)."""
    import timm
    import torch

    kwargs: dict[str, Any] = {"pretrained": False, "num_classes": 0}
    cfg = timm.models.get_pretrained_cfg(timm_name)
    if size and cfg is not None and cfg.fixed_input_size:
        kwargs["img_size"] = size  # e.g. ViTs: position embeddings for this size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)  # random init is the same in every run
        net = timm.create_model(timm_name, **kwargs)
    if weights is not None:
        from labelclean.io.workdir import file_fingerprint
        from labelclean.models.weights import load_into, read_state_dict

        path = Path(weights)
        load_into(net, read_state_dict(path), source=f"file {path}", model_name=timm_name)
        return net, f"file:{path.resolve()} ({file_fingerprint(path)})"
    if not pretrained:
        return net, f"random-init (seed {RANDOM_INIT_SEED})"
    from labelclean.models.weights import find_pretrained, load_into, read_state_dict

    found = find_pretrained(timm_name, net.pretrained_cfg)
    try:
        load_into(net, read_state_dict(found.path), source=found.describe(),
                  model_name=timm_name)
    except WeightsError:  # weights in the original layout: let timm convert them
        net = timm.create_model(timm_name, **{**kwargs, "pretrained": True},
                                pretrained_cfg_overlay={"file": str(found.path)})
    return net, found.describe()


def _resize_side(transform, config: dict) -> int:
    """The shorter side the eval transform resizes to (for JPEG draft decoding)."""
    for step in getattr(transform, "transforms", []):
        size = getattr(step, "size", None)
        if type(step).__name__ == "Resize" and size is not None:
            return int(size) if isinstance(size, int) else int(max(size))
    return int(max(config["input_size"][1:]))
