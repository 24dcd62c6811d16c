"""``labelclean noise``: wrong labels from out-of-fold predictions; ``labelclean apply``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import command, err, out
from .common import ConfigOpt, ImagesOpt, LabelsOpt, WorkdirOpt, load, load_dataset_of, plural


@command()
def noise(
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    oof: Annotated[Optional[list[Path]], typer.Option(
        "--oof", help="Out-of-fold predictions: CSV/Parquet (id + one probability column "
                      "per class) or .npy (N, K) in labels-file order; repeat to ensemble "
                      "(default: WORKDIR/oof.csv).", show_default=False)] = None,
    logits: Annotated[bool, typer.Option(
        "--logits", help="The files hold logits: soft-max each row.")] = False,
    ensemble: Annotated[Optional[str], typer.Option(
        "--ensemble", help="Combine several --oof: mean, weighted (weights fitted on OOF "
                           "log-loss) or accuracy (then tuned on OOF accuracy); default mean.",
        show_default=False)] = None,
    oof_id_col: Annotated[Optional[str], typer.Option(
        "--oof-id-col", help="Id column of the OOF files (default: image_id, id, ...).",
        show_default=False)] = None,
    filter_by: Annotated[Optional[str], typer.Option(
        "--filter-by", help="cleanlab find_label_issues method (default "
                            "prune_by_noise_rate).", show_default=False)] = None,
    rank_by: Annotated[Optional[str], typer.Option(
        "--rank-by", help="label_quality score: self_confidence, normalized_margin or "
                          "confidence_weighted_entropy (default self_confidence).",
        show_default=False)] = None,
    relabel_threshold: Annotated[Optional[float], typer.Option(
        "--relabel-threshold", help="Relabel a wrong label when the best class has at least "
                                    "this probability, else drop it (default 0.7).",
        show_default=False)] = None,
    review_threshold: Annotated[Optional[float], typer.Option(
        "--review-threshold", help="Send unflagged images whose label_quality is below this "
                                   "to review (default 0.1; 0 turns it off).",
        show_default=False)] = None,
    ignore_duplicates: Annotated[bool, typer.Option(
        "--ignore-duplicates", help="Do not use WORKDIR/duplicates.csv.")] = False,
) -> None:
    """Find wrong labels with cleanlab; write manifest.csv, clean.csv and summary.json."""
    from labelclean.noise.stage import DEFAULTS, run_noise

    project = load(config, images, labels, workdir)
    dataset = load_dataset_of(project)
    opt = lambda name, value, default: project.option("noise", name, value, default)
    run = run_noise(
        project.workdir, dataset, oof or opt("oof", None, None),
        logits=opt("logits", logits or None, False),
        ensemble=opt("ensemble", ensemble, "mean"), oof_id_col=opt("oof_id_col", oof_id_col,
                                                                   None),
        use_duplicates=not opt("ignore_duplicates", ignore_duplicates or None, False),
        filter_by=opt("filter_by", filter_by, DEFAULTS["filter_by"]),
        rank_by=opt("rank_by", rank_by, DEFAULTS["rank_by"]),
        relabel_threshold=opt("relabel_threshold", relabel_threshold,
                              DEFAULTS["relabel_threshold"]),
        review_threshold=opt("review_threshold", review_threshold,
                             DEFAULTS["review_threshold"]))
    print_noise_summary(run)


def print_noise_summary(run) -> None:
    result, p = run.result, run.result.parameters
    counts = result.counts()
    sources = ", ".join(Path(s).name for s in run.oof_sources)
    weights = p.get("ensemble_weights", [])
    shown = ", ".join(f"{w:.2f}" for w in weights)
    out.print(f"Scored {plural(p['n_scored'], 'image')} x {p['n_classes']} classes from "
              f"{sources}" + (f" ({p['ensemble']}, weights {shown})"
                              if len(weights) > 1 else "")
              + f"; filter {p['filter_by']}, rank {p['rank_by']}", markup=False)
    n = max(p["n_scored"], 1)
    out.print(f"  label issues {result.n_label_issues:,} ({result.n_label_issues / n:.1%})")
    out.print("  " + "  ".join(f"{a} {c:,}" for a, c in counts["action"].items()))
    out.print("  reasons: " + (", ".join(f"{k} {v:,}" for k, v in counts["reason"].items())
                               or "none"), markup=False)
    table = result.per_class()
    out.print(f"  {'class':<12}{'images':>8}{'issues':>8}{'relabel':>9}{'drop':>7}"
              f"{'review':>8}{'noise rate':>12}", markup=False)
    for cls, row in zip(table.index, table.itertuples(index=False)):
        out.print(f"  {cls!s:<12}{row.images:>8,}{row.label_issues:>8,}{row.relabel:>9,}"
                  f"{row.drop:>7,}{row.review:>8,}{row.noise_rate:>12.1%}", markup=False)
    worst = result.worst(10)
    if len(worst):
        out.print("  worst labels (lowest label_quality):")
        for r in worst.itertuples(index=False):
            out.print(f"    {r.label_quality:.4f}  {r.image_id}  {r.given_label} -> "
                      f"{r.suggested_label}  {r.action}", markup=False)
    out.print(f"Wrote {run.manifest}, {run.clean}, {run.summary}", markup=False)
    for warning in run.warnings:
        err.print(f"Warning: {warning}", markup=False)


@command("apply")
def apply_cmd(
    manifest: Annotated[Path, typer.Option(
        "--manifest", help="A manifest.csv you edited (or exported from the report).",
        show_default=False)],
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None,
    out_file: Annotated[Optional[Path], typer.Option(
        "--out", help="Where to write the clean labels file (default: WORKDIR/clean.csv).",
        show_default=False)] = None,
) -> None:
    """Write clean.csv from an edited manifest: drops removed, relabels applied."""
    from labelclean.noise.manifest import apply_manifest

    project = load(config, images, labels, workdir)
    dataset = load_dataset_of(project)
    result = apply_manifest(manifest, dataset, project.workdir, out=out_file)
    c = result.counts
    out.print(f"Wrote {result.path}: {result.rows_out:,} of {result.rows_in:,} rows "
              f"({c['drop']:,} dropped, {c['relabel']:,} relabelled, {c['review']:,} review "
              "rows kept with their given label)", markup=False)
    if result.not_in_manifest:
        out.print(f"  {plural(result.not_in_manifest, 'row')} not in the manifest kept as "
                  "they are", markup=False)
