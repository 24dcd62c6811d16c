"""``labelclean init``: write the project file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.results import plural

from .app import command, out
from .common import ConfigOpt


@command()
def init(
    images: Annotated[Optional[str], typer.Option(
        "--images", help="Images folder, or a URI such as s3://bucket/prefix (required).",
        show_default=False)] = None,
    labels: Annotated[Optional[Path], typer.Option(
        "--labels", help="Labels CSV (omit for an ImageFolder tree or unlabeled images).")] = None,
    id_col: Annotated[str, typer.Option("--id-col", help="Column with the image id.")] = "image_id",
    label_col: Annotated[str, typer.Option("--label-col", help="Column with the label.")] = "label",
    path_col: Annotated[Optional[str], typer.Option(
        "--path-col", help="Column with a path relative to the images folder.")] = None,
    class_names: Annotated[Optional[Path], typer.Option(
        "--class-names", help='JSON file {"label": "name"} used by the report.')] = None,
    workdir: Annotated[Path, typer.Option("--workdir", help="Work directory.")] = Path(
        ".labelclean"),
    group_col: Annotated[Optional[str], typer.Option(
        "--group-col", help="Labels-file column (patient, plant) whose groups stay in one "
                            "fold.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write labelclean.toml so later commands need no arguments."""
    from labelclean.config.project import PROJECT_FILE, DatasetSpec, write_project
    from labelclean.errors import NoDatasetError
    from labelclean.io.dataset import load_class_names, load_dataset
    from labelclean.io.groups import count_dataset_groups
    from labelclean.io.guard import check_output, check_workdir, writing

    if images is None:
        raise NoDatasetError()
    target = check_output(config or Path(PROJECT_FILE), option="config", images_root=images,
                          inputs={"the labels file": labels, "the class names file":
                                  class_names}, example=PROJECT_FILE)
    check_workdir(workdir, images=images, labels=labels)
    dataset = load_dataset(images, labels, id_col=id_col, label_col=label_col,
                           path_col=path_col, exclude=[workdir])
    load_class_names(class_names)
    groups = count_dataset_groups(dataset, group_col)
    spec = DatasetSpec(images=images, labels=labels, id_col=id_col, label_col=label_col,
                       path_col=path_col, class_names=class_names, group_col=group_col)
    with writing(target, "config"):
        path = write_project(target, spec, workdir)
    kind = {"csv": "labels file", "imagefolder": "ImageFolder tree",
            "unlabeled": "unlabeled folder"}[dataset.kind]
    extra = ", ".join(f"{n:,} {what}" for n, what in (
        (dataset.unlabeled if dataset.kind != "unlabeled" else 0,
         "unlabeled (scanned, not scored)"), (dataset.missing, "missing"),
        (groups or 0, f"groups in {group_col}")) if n)
    out.print(f"Wrote {path}: {plural(len(dataset), 'image')}, "
              f"{plural(len(dataset.classes), 'class').replace('classs', 'classes')} ({kind})."
              + (f" {extra}." if extra else ""), markup=False)
    out.print("Next: labelclean scan")
