"""Training one fold of an image classifier: models, augmentation presets, the loop, TTA.

Models are ``small_cnn`` (a four-block CNN that trains from scratch in seconds on a CPU at
32 px, for offline use and the demo) or any timm model name (random init, a weights file,
or pretrained weights from the Hugging Face cache). The loop is AdamW with a cosine
schedule after a linear warm-up, mixed precision on CUDA, a batch-level augmentation
preset, and test-time augmentation that averages the flips the preset trained on.

On the CPU every run with the same seed gives the same weights and probabilities.
Import this module lazily: it needs torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from labelclean.errors import ConfigError, RegistryError
from labelclean.io.imageio import UnreadableImage, load_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Decoded training images are kept in memory when they need at most this many bytes.
CACHE_BYTES = 2 * 1024**3


# -- models -----------------------------------------------------------------------------

class SmallCNN(nn.Module):
    """Four conv-BN-ReLU blocks (widths w, 2w, 4w, 4w; max-pool between), average pool,
    linear head. About 50k parameters at ``width=16``."""

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

        w = width
        self.features = nn.Sequential(block(3, w), nn.MaxPool2d(2), block(w, 2 * w),
                                      nn.MaxPool2d(2), block(2 * w, 4 * w), nn.MaxPool2d(2),
                                      block(4 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


#: Models of our own: name -> (builder(num_classes), default image size).
OWN_MODELS: dict[str, tuple[Callable[[int], nn.Module], int]] = {
    "small_cnn": (lambda k: SmallCNN(k, width=16), 32),
    "small_cnn_wide": (lambda k: SmallCNN(k, width=32), 48),
}


def list_models() -> list[str]:
    """Our own model names; any timm model name (``timm.list_models()``) works too."""
    return sorted(OWN_MODELS)


def check_model(name: str) -> None:
    import timm

    if name not in OWN_MODELS and not timm.is_model(name):
        raise RegistryError("model", name, list_models() + ["<any timm model name>"])


def default_image_size(name: str) -> int:
    """The side a model trains at unless told: ours from the registry, timm's from its config."""
    if name in OWN_MODELS:
        return OWN_MODELS[name][1]
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    return int(cfg.input_size[-1]) if cfg is not None else 224


def build_classifier(name: str, num_classes: int, *, image_size: int, weights=None,
                     pretrained: bool = False) -> tuple[nn.Module, str]:
    """(model with a ``num_classes`` head, description of its starting weights)."""
    check_model(name)
    if name in OWN_MODELS:
        if weights is not None or pretrained:
            raise ConfigError(f"model '{name}' trains from scratch; --weights and --pretrained "
                              "need a timm model (e.g. --model resnet18)")
        return OWN_MODELS[name][0](num_classes), "random-init"
    from labelclean.models.backbones import _create_model

    net, source = _create_model(name, image_size, weights, pretrained)
    net.reset_classifier(num_classes)
    return net, source


# -- augmentation -----------------------------------------------------------------------

@dataclass(frozen=True)
class Augmentation:
    """A batch augmentation preset; each flip/transpose is applied to half the images."""

    hflip: bool = False
    vflip: bool = False
    transpose: bool = False
    crop_scale: float = 1.0  # random-resized crop keeps this to 1.0 of the area
    jitter: float = 0.0  # brightness / contrast / saturation jitter strength

    def tta_views(self) -> list[str]:
        """Views averaged at prediction: the original and each flip trained on."""
        return ["none"] + [v for v in ("hflip", "vflip") if getattr(self, v)]


AUGMENTATIONS: dict[str, Augmentation] = {
    "none": Augmentation(),
    "light": Augmentation(crop_scale=0.8, jitter=0.1),
    "flips": Augmentation(hflip=True, vflip=True, transpose=True, crop_scale=0.8),
    "strong": Augmentation(hflip=True, vflip=True, transpose=True, crop_scale=0.5, jitter=0.3),
}


def list_augmentations() -> list[str]:
    """Names of the augmentation presets (``light`` keeps orientation: digits, text)."""
    return sorted(AUGMENTATIONS)


def get_augmentation(name: str) -> Augmentation:
    if name not in AUGMENTATIONS:
        raise RegistryError("augmentation preset", name, list_augmentations())
    return AUGMENTATIONS[name]


def _coin(n: int, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen) < 0.5).view(n, 1, 1, 1)


def augment_batch(x: torch.Tensor, aug: Augmentation, gen: torch.Generator) -> torch.Tensor:
    """Augment a float batch (B, 3, S, S) in [0, 1]; randomness only from ``gen``."""
    n = x.shape[0]
    if aug.crop_scale < 1.0:
        x = _random_resized_crop(x, aug.crop_scale, gen)
    if aug.hflip:
        x = torch.where(_coin(n, gen).to(x.device), x.flip(3), x)
    if aug.vflip:
        x = torch.where(_coin(n, gen).to(x.device), x.flip(2), x)
    if aug.transpose:
        x = torch.where(_coin(n, gen).to(x.device), x.transpose(2, 3), x)
    if aug.jitter:
        x = _colour_jitter(x, aug.jitter, gen)
    return x


def _random_resized_crop(x: torch.Tensor, min_scale: float, gen: torch.Generator):
    """Crop a random box (area in [min_scale, 1], aspect in [3/4, 4/3]) and resize it back."""
    n = x.shape[0]
    area = min_scale + (1 - min_scale) * torch.rand(n, generator=gen)
    log_ratio = (torch.rand(n, generator=gen) * 2 - 1) * math.log(4 / 3)
    ratio = torch.exp(log_ratio)
    width = torch.sqrt(area * ratio).clamp(max=1.0)
    height = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - width)
    cy = (torch.rand(n, generator=gen) * 2 - 1) * (1 - height)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _colour_jitter(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]

    def factor() -> torch.Tensor:
        return (1 + (torch.rand(n, generator=gen) * 2 - 1) * strength).view(n, 1, 1, 1).to(x)

    x = x * factor()  # brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor() + mean  # contrast
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * factor() + grey  # saturation
    return x.clamp(0, 1)


# -- images -----------------------------------------------------------------------------

class ImageRows(torch.utils.data.Dataset):
    """Images read with :func:`labelclean.io.imageio.load_rgb`, squashed to ``size`` x ``size``.

    Item ``i`` is a uint8 tensor (3, size, size). A file that became unreadable since the
    scan raises :class:`~labelclean.errors.ConfigError` naming it.
    """

    def __init__(self, paths: Sequence[str], size: int) -> None:
        self.paths, self.size = list(paths), int(size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        try:
            img = load_rgb(self.paths[i], max_side=2 * self.size)
        except UnreadableImage as exc:
            raise ConfigError(f"image {self.paths[i]} cannot be read any more ({exc}); run "
                              "'labelclean scan' again") from None
        img = img.resize((self.size, self.size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


def preload(rows: ImageRows, progress: Callable[[int, int], None] | None = None,
            budget: int = CACHE_BYTES) -> torch.Tensor | ImageRows:
    """All images as one uint8 tensor (N, 3, S, S) when it fits ``budget``, else ``rows``."""
    if len(rows) * 3 * rows.size**2 > budget:
        return rows
    out = torch.empty((len(rows), 3, rows.size, rows.size), dtype=torch.uint8)
    for i in range(len(rows)):
        out[i] = rows[i]
        if progress is not None and ((i + 1) % 256 == 0 or i + 1 == len(rows)):
            progress(i + 1, len(rows))
    return out


def _batches(images, rows: np.ndarray, batch_size: int, workers: int):
    """uint8 batches (B, 3, S, S) of ``rows`` in the given order."""
    if isinstance(images, torch.Tensor):
        for start in range(0, len(rows), batch_size):
            yield images[torch.from_numpy(rows[start:start + batch_size])]
        return
    subset = torch.utils.data.Subset(images, rows.tolist())
    yield from torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False,
                                           num_workers=workers)


# -- the loop ---------------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Everything that decides one fold's training (part of the resume fingerprint)."""

    model: str = "small_cnn"
    image_size: int | None = None  # None: the model's default
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    loss: str = "label_smoothing"
    loss_params: dict[str, Any] = field(default_factory=dict)
    augment: str = "light"
    tta: bool = True
    pretrained: bool = False
    weights: str | None = None
    device: str = "auto"
    workers: int = 0

    def resolved(self) -> TrainConfig:
        """A copy with the image size filled in and the names checked."""
        from labelclean.train.losses import make_loss

        check_model(self.model)
        get_augmentation(self.augment)
        make_loss(self.loss, **self.loss_params)
        for name, value in (("epochs", self.epochs), ("batch size", self.batch_size)):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, not {value}")
        if self.lr <= 0:
            raise ConfigError(f"learning rate must be positive, not {self.lr}")
        if self.image_size is not None and self.image_size < 8:
            raise ConfigError(f"image size must be at least 8 pixels, not {self.image_size}")
        size = self.image_size or default_image_size(self.model)
        return TrainConfig(**{**asdict(self), "image_size": size})


def check_input_size(config: TrainConfig, n_classes: int) -> None:
    """Fail now, with a :class:`ConfigError`, if the model cannot take the configured size.

    Builds the model with random weights and runs one blank image through it, so a size a
    network cannot take is one clear error before any fold is trained.
    """
    from labelclean.models.backbones import image_size_errors

    size = int(config.image_size)
    with image_size_errors(config.model, size), torch.no_grad():
        net, _ = build_classifier(config.model, n_classes, image_size=size)
        net.eval()(torch.zeros(1, 3, size, size))


def _schedule(optimizer, warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _Normalise:
    def __init__(self, net: nn.Module, device: torch.device) -> None:
        cfg = getattr(net, "pretrained_cfg", None) or {}
        mean, std = cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD)
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.device = device

    def floats(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.to(self.device, non_blocking=True).float() / 255.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def train_fold(images, labels: np.ndarray, train_rows: np.ndarray, n_classes: int,
               config: TrainConfig, *, seed: int = 0,
               step: Callable[[int, int], None] | None = None) -> nn.Module:
    """Train a fresh model on ``train_rows`` of ``images``; returns it in eval mode.

    Parameters
    ----------
    images : uint8 tensor (N, 3, S, S) or :class:`ImageRows` of N images.
    labels : (N,) class codes in ``0..n_classes-1``; only ``train_rows`` are read.
    train_rows : row numbers to train on.
    config : a :meth:`TrainConfig.resolved` configuration.
    step : called as ``step(epoch, n_epochs)`` after every optimiser step.
    """
    from labelclean.models.backbones import resolve_device
    from labelclean.train.losses import make_loss

    device = resolve_device(config.device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    net, _ = build_classifier(config.model, n_classes, image_size=config.image_size,
                              weights=config.weights, pretrained=config.pretrained)
    on_cuda = device.type == "cuda"
    net = net.to(device, memory_format=torch.channels_last if on_cuda else torch.preserve_format)
    norm = _Normalise(net, device)
    loss_fn = make_loss(config.loss, **config.loss_params)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    per_epoch = math.ceil(len(train_rows) / config.batch_size)
    scheduler = _schedule(optimizer, int(config.warmup_epochs * per_epoch),
                          config.epochs * per_epoch)
    scaler = torch.amp.GradScaler("cuda", enabled=on_cuda)
    aug = get_augmentation(config.augment)
    targets = torch.tensor(np.asarray(labels, dtype=np.int64))
    for epoch in range(config.epochs):
        net.train()
        order = rng.permutation(np.asarray(train_rows))
        for batch, start in zip(_batches(images, order, config.batch_size, config.workers),
                                range(0, len(order), config.batch_size)):
            y = targets[torch.from_numpy(order[start:start + config.batch_size])].to(device)
            if len(y) < 2 and any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):
                continue  # batch norm cannot train on a single image
            x = norm(augment_batch(norm.floats(batch), aug, gen))
            with torch.autocast(device.type, dtype=torch.float16, enabled=on_cuda):
                loss = loss_fn(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if step is not None:
                step(epoch, config.epochs)
    return net.eval()


@torch.no_grad()
def predict_probs(net: nn.Module, images, rows: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Softmax probabilities (len(rows), K), averaged over the preset's TTA flips."""
    device = next(net.parameters()).device
    norm = _Normalise(net, device)
    views = get_augmentation(config.augment).tta_views() if config.tta else ["none"]
    on_cuda = device.type == "cuda"
    out = []
    for batch in _batches(images, np.asarray(rows), config.batch_size, config.workers):
        x = norm(norm.floats(batch))
        probs = 0
        for view in views:
            xv = x.flip(3) if view == "hflip" else x.flip(2) if view == "vflip" else x
            with torch.autocast(device.type, dtype=torch.float16, enabled=on_cuda):
                probs = probs + F.softmax(net(xv).float(), dim=1)
        out.append((probs / len(views)).cpu().numpy())
    return np.concatenate(out)
