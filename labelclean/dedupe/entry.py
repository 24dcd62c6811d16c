"""The dedupe stage as the pipeline runs it: options in, :class:`StageResult` out."""

from __future__ import annotations

import time
from typing import Any

from labelclean.dedupe.options import DedupeOptions
from labelclean.results import StageResult, plural


def run(project: Any, options: DedupeOptions, *, force: bool = False,
        progress: Any = None) -> StageResult:
    """Find the duplicates of the scanned work directory (``duplicates.csv``, ``related.csv``,
    and ``leaks.csv`` against the ``against`` sets).

    Reads what the scan wrote; it never scans this dataset (``labelclean run`` scans with
    every hash the dedupe stage needs), only the other sets of ``against``, each into its
    own folder of the work directory.
    """
    from labelclean.dedupe.stage import dedupe_workdir

    start = time.perf_counter()
    result = dedupe_workdir(project.workdir, options=options,
                            embeddings_model=options.embeddings, force=force,
                            progress=progress)
    elapsed = time.perf_counter() - start
    s = result.summary
    return StageResult(
        "dedupe", result, result.reused, s, seconds=elapsed,
        brief=(f"{s['groups']:,} groups, {s['to_drop']:,} copies to drop, "
               f"{s['label_conflicts']:,} label conflicts"),
        describe=lambda top=5: summary_lines(s, project.workdir, elapsed, result.reused, top))


def summary_lines(s: dict, workdir: Any, elapsed: float, reused: bool,
                  top: int = 5) -> list[str]:
    how = "unchanged, reused" if reused else f"{elapsed:.1f} s"
    methods = ", ".join(f"{k} {v:,}" for k, v in s["by_method"].items())
    lines = [f"Found {plural(s['groups'], 'duplicate group')} among "
             f"{plural(s['images'], 'image')} ({how}) -> {workdir / 'duplicates.csv'}",
             f"  images to drop     {s['to_drop']:>7,}   (one copy kept per group: the "
             "largest, then the biggest file, then the first)",
             f"  label conflicts    {s['label_conflicts']:>7,}   groups whose labels disagree",
             f"  found by           {methods or '-'}",
             f"  unreadable skipped {s['unreadable_skipped']:>7,}"]
    if s.get("related_pairs"):
        lines.append(f"  related pairs      {s['related_pairs']:>7,}   confirmed copies kept out "
                     f"of one group (no chaining) -> {workdir / 'related.csv'}")
    if s.get("large_groups"):
        lines.append(f"  large groups       {len(s['large_groups']):>7,}   reached the size limit:"
                     " flagged for review, not trusted")
    if s.get("against_sets"):
        lines.append(f"  leaks              {s['leaked_images']:>7,}   images copying an image of "
                     f"the {plural(s['against_sets'], 'other set')} ({s['leaks']:,} pairs) -> "
                     f"{workdir / 'leaks.csv'}")
    if s.get("rejected_candidates"):
        lines.append(f"  look-alikes rejected by verification {s['rejected_candidates']:,}")
    groups = s.get("top_groups", [])[:top]
    if groups:
        lines.append("Top groups (conflicting labels first):")
    from labelclean.io.checks import is_labeled

    for g in groups:
        present = is_labeled(g["labels"])
        labels = ", ".join(dict.fromkeys(str(v) for v, ok in zip(g["labels"], present) if ok))
        flag = "  CONFLICT" if g["conflict"] else ""
        ids = ", ".join(g["image_ids"][:4]) + (", ..." if g["size"] > 4 else "")
        what = f"labels {labels}" if labels else "unlabeled"
        lines.append(f"  #{g['group_id']:<5} {g['size']} images, {what}{flag}: {ids}")
    return lines
