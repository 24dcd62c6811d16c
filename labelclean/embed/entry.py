"""The embed stage as the pipeline runs it: options in, :class:`StageResult` out."""

from __future__ import annotations

from typing import Any

from labelclean.embed.options import EmbedOptions
from labelclean.results import StageResult, plural


def run(project: Any, options: EmbedOptions, *, force: bool = False,
        progress: Any = None) -> StageResult:
    """Embed every scanned image (``embeddings/<model>.npy``), resuming a stopped run."""
    from labelclean.embed.stage import prepare_embedding

    job = prepare_embedding(
        project.workdir, images_root=project.dataset.images, model=options.model,
        weights=options.weights, pretrained=not options.no_pretrained,
        batch_size=options.batch_size, device=options.device, image_size=options.image_size,
        normalize=options.normalize, dtype=options.dtype, workers=options.workers,
        force=force, backend=options.backend, ray_address=options.ray_address)
    result = job.run(progress)
    meta = result.meta
    return StageResult("embed", result, result.reused, meta, seconds=result.seconds,
                       brief=f"{meta['n']:,} x {meta['dim']} with {meta['model']}",
                       describe=lambda: summary_lines(result))


def summary_lines(result: Any) -> list[str]:
    meta = result.meta
    if result.reused:
        how = "unchanged, reused"
    else:
        rate = result.computed / max(result.seconds, 1e-9)
        how = f"{result.seconds:.1f} s, {rate:,.1f} images/s on {meta['device']}"
        if result.resumed_from:
            how += f", resumed at row {result.resumed_from:,}"
    lines = [f"Embedded {plural(meta['n'], 'image')} with {meta['model']} ({how}) -> "
             f"{result.path}",
             f"  {meta['dim']}-d {meta['dtype']}, "
             f"{'L2-normalised' if meta['l2_normalized'] else 'not normalised'}, "
             f"input {meta['input_size'][1]}x{meta['input_size'][2]}, weights: "
             f"{meta['weights']}"]
    if result.unreadable:
        lines.append(f"  unreadable {len(result.unreadable):,} (zero rows, listed in "
                     f"{result.path.with_suffix('.json').name})")
    return lines
