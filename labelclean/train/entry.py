"""The train stage as the pipeline runs it: options in, :class:`StageResult` out."""

from __future__ import annotations

from typing import Any

from labelclean.results import StageResult, plural
from labelclean.train.options import TrainOptions


def run(project: Any, options: TrainOptions, *, force: bool = False,
        progress: Any = None) -> StageResult:
    """Train a model on the cleaned split (or the standard set, with ``compare``)."""
    from labelclean.train.compare import compare, train_one

    group_col = getattr(project.dataset, "group_col", None)
    if options.compare:
        table, runs = compare(project.workdir, options, progress, group_col=group_col)
        best = table.dropna(subset=["heldout_accuracy"])
        top = best.loc[best["heldout_accuracy"].idxmax()] if len(best) else None
        brief = (f"{plural(len(runs), 'recipe')} trained; best held-out accuracy "
                 f"{top['heldout_accuracy']:.3f} ({top['recipe']})" if top is not None
                 else f"{plural(len(runs), 'recipe')} trained")
        return StageResult("train", table, summary={"recipes": len(runs)}, brief=brief,
                           describe=lambda **_: compare_lines(table, project.workdir))
    result = train_one(project.workdir, options, progress, group_col=group_col)
    s = result.summary
    acc = s.get("heldout_accuracy")
    brief = (f"{s['method']} on {s['labels_from']} labels, {plural(s['n_train'], 'image')}"
             + (f", held-out accuracy {acc:.3f}" if acc is not None else ""))
    return StageResult("train", result, summary=s, brief=brief,
                       describe=lambda **_: run_lines(result),
                       warnings=_warnings(s))


def _warnings(s: dict) -> list[str]:
    ignored = s.get("ignored_settings") or []
    return ([f"{s['method']} does not take {', '.join(f'`{n}`' for n in ignored)}: ignored"]
            if ignored else [])


def run_lines(result: Any) -> list[str]:
    s = result.summary
    acc = s.get("heldout_accuracy")
    lines = [f"Trained {s['method']} on {s['labels_from']} labels: "
             f"{plural(s['n_train'], 'image')}"
             + (f", {plural(s['n_unlabeled'], 'unlabeled image')}" if s["n_unlabeled"] else "")
             + f", {plural(s['epochs'], 'epoch')}, {s['seconds']:.1f} s -> {result.out}"]
    if s.get("resumed_at_epoch"):
        lines.append(f"  resumed at epoch {s['resumed_at_epoch']} from last.pt")
    if acc is not None:
        lines.append(f"  held-out accuracy {acc:.3f} on {plural(s['n_heldout'], 'image')} "
                     f"({s['held_out']})")
    lines += [f"  note: {n}" for n in s.get("notes", [])]
    lines.append(f"Next: labelclean predict --checkpoint {result.out} --images DIR")
    return lines


def compare_lines(table: Any, workdir: Any) -> list[str]:
    from labelclean.io.trainfiles import comparison_path

    lines = [f"{'recipe':<17} {'held-out acc':>12} {'seconds':>8}"]
    for _, row in table.iterrows():
        acc = row["heldout_accuracy"]
        shown = f"{acc:12.3f}" if acc == acc and acc is not None else f"{'-':>12}"
        secs = f"{row['seconds']:8.1f}" if row["seconds"] == row["seconds"] else f"{'-':>8}"
        note = f"  ({row['note']})" if row["note"] and acc != acc else ""
        lines.append(f"{row['recipe']:<17} {shown} {secs}{note}")
    lines.append(f"-> {comparison_path(workdir)}")
    return lines
