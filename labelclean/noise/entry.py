"""The noise stage as the pipeline runs it: options in, :class:`StageResult` out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labelclean.noise.options import NoiseOptions
from labelclean.results import StageResult, plural


def run(project: Any, options: NoiseOptions, *, force: bool = False,
        progress: Any = None) -> StageResult:
    """Wrong labels from out-of-fold predictions: ``manifest.csv``, ``clean.csv``,
    ``summary.json`` (always recomputed: it takes seconds)."""
    import time

    from labelclean.noise.stage import run_noise

    start = time.perf_counter()
    result = run_noise(
        project.workdir, project.load_dataset(), list(options.oof or []) or None,
        logits=options.logits, ensemble=options.ensemble, oof_id_col=options.oof_id_col,
        use_duplicates=not options.ignore_duplicates, filter_by=options.filter_by,
        rank_by=options.rank_by, relabel_threshold=options.relabel_threshold,
        review_threshold=options.review_threshold,
        quality={"drop": options.drop, "outliers_from": options.outliers_from,
                 "outlier_k": options.outlier_k, "outlier_iqr": options.outlier_iqr})
    counts = result.result.counts()["action"]
    brief = (f"{result.result.n_label_issues:,} label issues; "
             + ", ".join(f"{a} {n:,}" for a, n in counts.items()))
    return StageResult("noise", result, False, counts, brief=brief,
                       seconds=time.perf_counter() - start, warnings=list(result.warnings),
                       describe=lambda: summary_lines(result))


def _shown(value: Any) -> str:
    """A value on one terminal line: newlines and tabs in a class name or id escaped."""
    return str(value).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


#: The per-class table lists every class up to this many, else the most troubled ones.
CLASS_LINES = 30


def _shown_classes(table: Any) -> tuple[Any, int]:
    """(the per-class rows to print, how many were left out): every class up to
    :data:`CLASS_LINES`, else the :data:`CLASS_LINES` with the most label issues (then
    relabels, drops, images), in class order."""
    if len(table) <= CLASS_LINES:
        return table, 0
    order = table.reset_index(drop=True).sort_values(
        ["label_issues", "relabel", "drop", "images"], ascending=False, kind="stable")
    keep = sorted(order.index[:CLASS_LINES])
    return table.iloc[keep], len(table) - CLASS_LINES


def summary_lines(run: Any) -> list[str]:
    result, p = run.result, run.result.parameters
    counts = result.counts()
    sources = ", ".join(Path(s).name for s in run.oof_sources)
    weights = p.get("ensemble_weights", [])
    shown = ", ".join(f"{w:.2f}" for w in weights)
    n = max(p["n_scored"], 1)
    k, mix = p["n_classes"], f" ({p['ensemble']}, weights {shown})" if len(weights) > 1 else ""
    lines = [f"Scored {plural(p['n_scored'], 'image')} x {k:,} class{'' if k == 1 else 'es'} "
             f"from {sources}" + mix
             + f"; filter {p['filter_by']}, rank {p['rank_by']}",
             f"  label issues {result.n_label_issues:,} ({result.n_label_issues / n:.1%})",
             "  " + "  ".join(f"{a} {c:,}" for a, c in counts["action"].items()),
             "  reasons: " + (", ".join(f"{k} {v:,}" for k, v in counts["reason"].items())
                              or "none"),
             f"  {'class':<12}{'images':>8}{'issues':>8}{'relabel':>9}{'drop':>7}"
             f"{'review':>8}{'noise rate':>12}"]
    table, hidden = _shown_classes(result.per_class())
    for cls, row in zip(table.index, table.itertuples(index=False)):
        lines.append(f"  {_shown(cls):<12}{row.images:>8,}{row.label_issues:>8,}{row.relabel:>9,}"
                     f"{row.drop:>7,}{row.review:>8,}{row.noise_rate:>12.1%}")
    if hidden:
        lines.append(f"  ... and {hidden:,} more classes, none with more label issues "
                     f"(every class: noise_rate_per_class in {run.summary})")
    worst = result.worst(10)
    if len(worst):
        lines.append("  worst labels (lowest label_quality):")
        lines += [f"    {r.label_quality:.4f}  {_shown(r.image_id)}  {_shown(r.given_label)} -> "
                  f"{_shown(r.suggested_label)}  {r.action}" for r in worst.itertuples(index=False)]
    lines.append(f"Wrote {run.manifest}, {run.clean}, {run.summary}")
    return lines
