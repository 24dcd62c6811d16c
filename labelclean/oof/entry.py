"""The oof stage as the pipeline runs it: options in, :class:`StageResult` out."""

from __future__ import annotations

from typing import Any

from labelclean.config.options import changed
from labelclean.oof.options import OOFOptions
from labelclean.results import StageResult


def run(project: Any, options: OOFOptions, *, force: bool = False,
        progress: Any = None) -> StageResult:
    """Out-of-fold probabilities for every labeled image (``oof.csv``)."""
    from labelclean.oof.stage import run_oof_with_settings

    settings = {**changed(options), "group_col": project.dataset.group_col}
    result = run_oof_with_settings(project.workdir, settings, force=force, progress=progress)
    s = result.summary
    source = "embeddings" if s["source"] == "embeddings" else "training"
    return StageResult(
        "oof", result, result.reused, s, seconds=s.get("seconds", 0.0),
        brief=(f"{s['rows']:,} images, {s['folds']} folds from {source}, "
               f"{s['accuracy']:.3f} agreement with the given labels"),
        describe=lambda: summary_lines(result), warnings=chance_warnings(result))


def chance_warnings(run: Any) -> list[str]:
    """A warning when the OOF agrees with the given labels no better than chance."""
    from labelclean.oof.result import chance_level, chance_text

    s, labels = run.summary, run.table["label"]
    counts = labels.value_counts()
    if len(counts) == 1:
        return [f"every image in oof.csv has the same label ({counts.index[0]}): no "
                "prediction can tell a wrong label from a right one, so 'labelclean noise' "
                "will find none; label images of the other classes too"]
    chance = chance_level(s["accuracy"], counts.to_numpy())
    if chance is None:
        return []
    fix = ("try more `epochs`, a smaller `lr` or `pretrained` weights"
           if s["source"] != "embeddings" else
           "try the embeddings of a pretrained model ('labelclean embed') or another `learner`")
    return [f"{chance_text(s['accuracy'], chance, len(labels))}; 'labelclean noise' would "
            f"relabel or drop images on their word: {fix}"]


def _classes(n: int) -> str:
    return f"{n:,} class{'' if n == 1 else 'es'}"


def summary_lines(run: Any) -> list[str]:
    s = run.summary
    how = "unchanged, reused" if run.reused else f"{s['seconds']:.1f} s"
    source = (f"embeddings ({(s.get('embeddings') or {}).get('model')})"
              if s["source"] == "embeddings" else f"training {s['params']['train']['model']}")
    lines = [f"Out-of-fold probabilities for {s['rows']:,} images, {_classes(s['classes'])}, "
             f"{s['folds']} folds, from {source} ({how}) -> {run.path}"]
    for fold in s["fold_scores"]:
        note = "  (from checkpoint)" if fold.get("resumed") else ""
        lines.append(f"  fold {fold['fold'] + 1}: validation accuracy "
                     f"{fold['val_accuracy']:.3f} on {fold['n_val']:,} images{note}")
    lines.append(f"  overall: {s['accuracy']:.3f} agreement with the given labels")
    if s.get("note"):
        lines.append(f"  note: {s['note']}")
    lines.append("Next: labelclean noise")
    return lines
