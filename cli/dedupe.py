"""``labelclean dedupe``: exact copies, same-pixel copies and near copies -> duplicates.csv."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from .app import command, out
from .common import (
    ConfigOpt,
    ForceOpt,
    ImagesOpt,
    LabelsOpt,
    WorkdirOpt,
    load_dataset_of,
    load_scanned,
    plural,
    progress_bar,
)


@command()
def dedupe(
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None, force: ForceOpt = False,
    method: Annotated[Optional[str], typer.Option(
        "--method", help="Near-copy signals, comma-separated: hash, thumbnail, embedding, "
                         "dbscan (default: hash,thumbnail, plus embedding when the work "
                         "directory has embeddings). Exact and same-pixel copies are always "
                         "found.", show_default=False)] = None,
    hash_method: Annotated[Optional[str], typer.Option(
        "--hash", help="Perceptual hash of the hash signal: phash, dhash, ahash or whash "
                       "(default: phash).", show_default=False)] = None,
    radius: Annotated[Optional[int], typer.Option(
        "--radius", min=0, max=32, help="Largest Hamming distance (of 64 bits) between the "
                                        "hashes of a candidate pair (default: 10).",
        show_default=False)] = None,
    embeddings: Annotated[Optional[str], typer.Option(
        "--embeddings", help="Model whose embeddings to use (default: the newest in the work "
                             "directory).", show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(
        "--threshold", min=-1.0, max=1.0, help="Smallest embedding cosine similarity of a "
                                               "candidate pair; 1 = identical (default: 0.9).",
        show_default=False)] = None,
    k: Annotated[Optional[int], typer.Option(
        "--k", min=1, help="Neighbours looked at per image by the thumbnail, embedding and "
                           "dbscan signals (default: 10).", show_default=False)] = None,
    verify: Annotated[Optional[bool], typer.Option(
        "--verify/--no-verify", help="Confirm near candidates by comparing thumbnails "
                                     "(default: verify).", show_default=False)] = None,
    min_correlation: Annotated[Optional[float], typer.Option(
        "--min-correlation", min=-1.0, max=1.0,
        help="Thumbnail correlation (best small shift; 1 = identical) needed to confirm a near "
             "copy that differs by --max-difference; each % less difference lowers it by "
             "0.02 (default: 0.96).", show_default=False)] = None,
    max_difference: Annotated[Optional[float], typer.Option(
        "--max-difference", min=0.0,
        help="Largest mean absolute difference of brightness-normalised thumbnails, in % of "
             "the mean brightness, that confirms a near copy (default: 3.0).",
        show_default=False)] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Groups to list.")] = 5,
) -> None:
    """Find exact and near-duplicate images, and copies that carry different labels."""
    from labelclean.dedupe.find import DedupeOptions
    from labelclean.dedupe.stage import dedupe_dataset, dedupe_workdir

    project = load_scanned(config, images, labels, workdir)
    given = {"method": method, "hash": hash_method, "radius": radius, "k": k,
             "threshold": threshold, "verify": verify, "min_correlation": min_correlation,
             "max_difference": max_difference, "embeddings": embeddings}
    settings = {**project.stages.get("dedupe", {}),
                **{name: value for name, value in given.items() if value is not None}}
    options = DedupeOptions.from_settings(settings)
    model = settings.get("embeddings")
    start = time.perf_counter()
    with progress_bar("dedupe") as progress:
        if project.dataset.images is not None:
            result = dedupe_dataset(load_dataset_of(project), project.workdir, options=options,
                                    embeddings_model=model, force=force, progress=progress)
        else:
            result = dedupe_workdir(project.workdir, options=options, embeddings_model=model,
                                    force=force, progress=progress)
    print_dedupe_summary(result.summary, project.workdir, time.perf_counter() - start,
                         result.reused, top)


def print_dedupe_summary(s: dict, workdir, elapsed: float, reused: bool, top: int = 5) -> None:
    how = "unchanged, reused" if reused else f"{elapsed:.1f} s"
    out.print(f"Found {plural(s['groups'], 'duplicate group')} among "
              f"{plural(s['images'], 'image')} ({how}) -> {workdir / 'duplicates.csv'}")
    out.print(f"  images to drop     {s['to_drop']:>7,}   (one copy kept per group: the "
              "largest, then the biggest file, then the first)")
    out.print(f"  label conflicts    {s['label_conflicts']:>7,}   groups whose labels disagree")
    methods = ", ".join(f"{k} {v:,}" for k, v in s["by_method"].items())
    out.print(f"  found by           {methods or '-'}")
    out.print(f"  unreadable skipped {s['unreadable_skipped']:>7,}")
    if s.get("rejected_candidates"):
        out.print(f"  look-alikes rejected by verification {s['rejected_candidates']:,}")
    groups = s.get("top_groups", [])[:top]
    if groups:
        out.print("Top groups (conflicting labels first):")
    for g in groups:
        labels = ", ".join(dict.fromkeys(str(v) for v in g["labels"] if str(v) not in
                                         ("", "None", "nan")))
        flag = "  CONFLICT" if g["conflict"] else ""
        ids = ", ".join(g["image_ids"][:4]) + (", ..." if g["size"] > 4 else "")
        what = f"labels {labels}" if labels else "unlabeled"
        out.print(f"  #{g['group_id']:<5} {g['size']} images, {what}{flag}: {ids}",
                  markup=False)
