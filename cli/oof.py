"""``labelclean oof``: out-of-fold probabilities, from embeddings or by k-fold training."""

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
    progress_bar,
)

LOSS_NAMES = ("bi_tempered, cross_entropy, focal_cosine, label_smoothing, "
              "symmetric_cross_entropy, taylor_cross_entropy")


def _opt(help_text: str, *names: str):
    return typer.Option(*names, help=help_text, show_default=False)


@command()
def oof(
    images: ImagesOpt = None, labels: LabelsOpt = None, workdir: WorkdirOpt = None,
    config: ConfigOpt = None, force: ForceOpt = False,
    folds: Annotated[Optional[int], _opt("Number of folds (default: 5).", "--folds")] = None,
    seed: Annotated[Optional[int], _opt("Seed of folds and training (default: 0).",
                                        "--seed")] = None,
    source: Annotated[Optional[str], _opt(
        "embeddings (a classifier on 'labelclean embed' output, seconds) or train (k-fold "
        "training on the images) (default: embeddings if they exist, else train).",
        "--from")] = None,
    learner: Annotated[Optional[str], _opt(
        "Classifier on embeddings: logreg or knn (default: logreg).", "--learner")] = None,
    embed_model: Annotated[Optional[str], _opt(
        "Which embeddings to use (default: the newest).", "--embeddings")] = None,
    no_calibrate: Annotated[bool, typer.Option(
        "--no-calibrate", help="Skip temperature scaling of the embedding classifier.")] = False,
    model: Annotated[Optional[str], _opt(
        "Model to train: small_cnn, small_cnn_wide or any timm name (default: small_cnn).",
        "--model")] = None,
    image_size: Annotated[Optional[int], _opt(
        "Training image side in pixels (default: the model's).", "--image-size")] = None,
    epochs: Annotated[Optional[int], _opt("Epochs per fold (default: 10).", "--epochs")] = None,
    batch_size: Annotated[Optional[int], _opt("Batch size (default: 64).",
                                              "--batch-size")] = None,
    lr: Annotated[Optional[float], _opt("Peak learning rate of AdamW (default: 0.003).",
                                        "--lr")] = None,
    loss: Annotated[Optional[str], _opt(
        f"Training loss: {LOSS_NAMES} (default: label_smoothing).", "--loss")] = None,
    augment: Annotated[Optional[str], _opt(
        "Augmentation preset: none, light (crop + colour, keeps orientation), flips (+ flips "
        "and transpose), strong (default: light).", "--augment")] = None,
    no_tta: Annotated[bool, typer.Option(
        "--no-tta", help="Predict without averaging the flips the preset trained on.")] = False,
    pretrained: Annotated[bool, typer.Option(
        "--pretrained", help="Start a timm model from pretrained weights (HF cache or hub).")
    ] = False,
    weights: Annotated[Optional[Path], _opt("Start a timm model from this weights file.",
                                            "--weights")] = None,
    device: Annotated[Optional[str], _opt("auto, cpu, cuda or mps (default: auto).",
                                          "--device")] = None,
    workers: Annotated[Optional[int], _opt(
        "Image-loading processes when images do not fit in memory (default: 0).",
        "--workers")] = None,
) -> None:
    """Out-of-fold class probabilities for every labeled image (oof.csv).

    Folds are grouped by duplicate group, so no copy of an image is ever scored by a model
    that saw it.
    """
    from labelclean.oof.stage import run_oof_with_settings

    project = load_scanned(config, images, labels, workdir)
    given = {"folds": folds, "seed": seed, "from": source, "learner": learner,
             "embeddings": embed_model, "no_calibrate": no_calibrate or None, "model": model,
             "image_size": image_size, "epochs": epochs, "batch_size": batch_size, "lr": lr,
             "loss": loss, "augment": augment, "no_tta": no_tta or None,
             "pretrained": pretrained or None, "weights": str(weights) if weights else None,
             "device": device, "workers": workers}
    settings = {**project.stages.get("oof", {}),
                **{k: v for k, v in given.items() if v is not None}}
    with progress_bar("oof") as progress:
        run = run_oof_with_settings(project.workdir, settings, force=force, progress=progress)
    print_oof_summary(run)


def print_oof_summary(run) -> None:
    s = run.summary
    how = "unchanged, reused" if run.reused else f"{s['seconds']:.1f} s"
    source = (f"embeddings ({(s.get('embeddings') or {}).get('model')})"
              if s["source"] == "embeddings" else f"training {s['params']['train']['model']}")
    out.print(f"Out-of-fold probabilities for {s['rows']:,} images, {s['classes']} classes, "
              f"{s['folds']} folds, from {source} ({how}) -> {run.path}")
    for fold in s["fold_scores"]:
        note = "  (from checkpoint)" if fold.get("resumed") else ""
        out.print(f"  fold {fold['fold'] + 1}: validation accuracy {fold['val_accuracy']:.3f} "
                  f"on {fold['n_val']:,} images{note}")
    out.print(f"  overall: {s['accuracy']:.3f} agreement with the given labels")
    if s.get("note"):
        out.print(f"  note: {s['note']}")
    out.print("Next: labelclean noise")
