"""``labelclean embed``: one pooled feature vector per image, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import command, out
from .common import (
    ConfigOpt,
    ForceOpt,
    ImagesOpt,
    LabelsOpt,
    WorkdirOpt,
    load_scanned,
    plural,
    progress_bar,
)


@command()
def embed(
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None, force: ForceOpt = False,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="Backbone: a name from --list-models or any timm model name "
                        "(default: convnext_nano).", show_default=False)] = None,
    weights: Annotated[Optional[Path], typer.Option(
        "--weights", help="Weights file (.safetensors or a PyTorch state dict) instead of "
                          "the Hugging Face cache/hub.", show_default=False)] = None,
    no_pretrained: Annotated[bool, typer.Option(
        "--no-pretrained", help="Random weights (for tests; the features are weak).")] = False,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", min=1, help="Images per batch (default: 256 on CUDA, else 32).",
        show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(
        "--device", help="auto, cpu, cuda or mps (default: auto).", show_default=False)] = None,
    image_size: Annotated[Optional[int], typer.Option(
        "--image-size", min=16, help="Square input size (default: the model's own).",
        show_default=False)] = None,
    normalize: Annotated[Optional[bool], typer.Option(
        "--normalize/--no-normalize", help="L2-normalise each vector (default: normalise).",
        show_default=False)] = None,
    dtype: Annotated[Optional[str], typer.Option(
        "--dtype", help="float16 or float32 (default: float16).", show_default=False)] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=0, help="Decode processes (default: every core with a GPU, a quarter "
                                 "of them on a CPU).", show_default=False)] = None,
    list_models: Annotated[bool, typer.Option(
        "--list-models", help="List the named backbones and exit.")] = False,
) -> None:
    """Embed every image with a pretrained backbone (resumes an interrupted run)."""
    from labelclean.models.backbones import BACKBONES, DEFAULT_BACKBONE, list_backbones

    if list_models:
        for name in list_backbones():
            b = BACKBONES[name]
            out.print(f"{name:<16} {b.timm_name}\n{'':<16} {b.notes}")
        return
    from labelclean.embed.stage import prepare_embedding

    project = load_scanned(config, images, labels, workdir)
    opt = lambda name, value, default: project.option("embed", name, value, default)
    job = prepare_embedding(
        project.workdir, images_root=project.dataset.images,
        model=opt("model", model, DEFAULT_BACKBONE), weights=opt("weights", weights, None),
        pretrained=not opt("no_pretrained", no_pretrained or None, False),
        batch_size=opt("batch_size", batch_size, None), device=opt("device", device, "auto"),
        image_size=opt("image_size", image_size, None),
        normalize=opt("normalize", normalize, True), dtype=opt("dtype", dtype, "float16"),
        workers=opt("workers", workers, None), force=force)
    with progress_bar("embed") as progress:
        result = job.run(progress)
    meta = result.meta
    if result.reused:
        how = "unchanged, reused"
    else:
        rate = result.computed / max(result.seconds, 1e-9)
        how = f"{result.seconds:.1f} s, {rate:,.1f} images/s on {meta['device']}"
        if result.resumed_from:
            how += f", resumed at row {result.resumed_from:,}"
    out.print(f"Embedded {plural(meta['n'], 'image')} with {meta['model']} ({how}) -> "
              f"{result.path}")
    out.print(f"  {meta['dim']}-d {meta['dtype']}, "
              f"{'L2-normalised' if meta['l2_normalized'] else 'not normalised'}, "
              f"input {meta['input_size'][1]}x{meta['input_size'][2]}, weights: {meta['weights']}")
    if result.unreadable:
        out.print(f"  unreadable {len(result.unreadable):,} (zero rows, listed in "
                  f"{result.path.with_suffix('.json').name})")
