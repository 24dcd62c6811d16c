"""``labelclean predict``: class probabilities of a folder of images from a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import command, err, out
from .common import progress_bar


@command("predict")
def predict_cmd(
    checkpoint: Annotated[Path, typer.Option(
        "--checkpoint", help="model.pt written by 'labelclean train', or its folder.",
        show_default=False)],
    images: Annotated[Path, typer.Option(
        "--images", help="Folder of images to predict (nested folders too).",
        show_default=False)],
    labels: Annotated[Optional[Path], typer.Option(
        "--labels", help="A labels CSV (image_id,label): predict the images it lists and "
                         "keep their labels in a label column.", show_default=False)] = None,
    tta: Annotated[Optional[bool], typer.Option(
        "--tta/--no-tta", help="Average the flips the model trained with (default: on, as "
                               "the held-out accuracy 'labelclean train' reported did).",
        show_default=False)] = None,
    out_file: Annotated[Path, typer.Option(
        "--out", help="Where to write the table (default: predictions.csv).")] = Path(
        "predictions.csv"),
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
) -> None:
    """Predict class probabilities: one row per image, readable by 'labelclean noise --oof'."""
    from labelclean.io.guard import check_output
    from labelclean.train.predict import predict_folder, write_predictions

    check_output(out_file, images_root=images, inputs={"the labels file": labels},
                 example="predictions.csv")
    project = _project_here()
    if project is not None:  # nor may it replace the project's own files here
        check_output(out_file, images_root=project.dataset.images, workdir=project.workdir,
                     inputs={"the project's labels file": project.dataset.labels},
                     example="predictions.csv")
    with progress_bar("predict") as progress:
        result = predict_folder(checkpoint, images, labels=labels, tta=tta, device=device,
                                progress=progress)
    path = write_predictions(result, out_file)
    out.print(f"Wrote {path}: {len(result.table):,} images, {len(result.classes):,} classes",
              markup=False)
    for note in result.notes:
        err.print(f"Note: {note}", markup=False)


def _project_here():
    """The project of this folder's project file (its dataset and work directory), or None
    when there is none or it cannot be read (predict needs no project)."""
    from labelclean.errors import LabelcleanError

    from .common import load

    try:
        return load(None, None, None, None)
    except LabelcleanError:
        return None
