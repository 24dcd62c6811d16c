"""The demo: build the bundled dataset with known problems, run the pipeline, score it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelclean.config.project import PROJECT_FILE, DatasetSpec, Project, write_project
from labelclean.pipeline.runner import PipelineResult, run_pipeline
from labelclean.pipeline.stages import load_project
from labelclean.progress import ProgressFn
from labelclean.results import StageResult

#: The offline demo has no pretrained weights, so it skips ``embed`` and makes its OOF by
#: k-fold training of a small CNN (random-init embeddings are too weak to classify with).
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "run": {"skip": ["embed"]},
    "oof": {"from": "train"},
}
#: what the demo's scores must reach (``labelclean demo`` marks each ok or below target)
TARGETS = {"duplicate_pair_precision": 0.95, "duplicate_pair_recall": 0.95,
           "label_issue_f1": 0.9, "relabel_accuracy": 0.9}


@dataclass
class DemoResult:
    pipeline: PipelineResult
    scores: dict[str, float]
    root: Path


def prepare_demo(out: str | Path, n_images: int | None = None) -> Project:
    """Build the demo dataset in ``out`` (once) with its project file; return the project.

    ``n_images`` originals (default: all 1,797 digits); copies scale with it.
    """
    from labelclean.demo.data import make_demo

    out = Path(out)
    config = out / PROJECT_FILE
    if not (out / "truth.csv").exists():
        scale = 1.0 if n_images is None else n_images / 1797
        make_demo(out, n_images=n_images, n_exact=max(2, round(60 * scale)),
                  n_near=max(4, round(120 * scale)))
    if not config.exists():
        spec = DatasetSpec(images=out / "train_images", labels=out / "labels.csv",
                           class_names=out / "classes.json")
        write_project(config, spec, out / ".labelclean", stages=DEMO_SETTINGS)
    return load_project(config)


def run_demo(out: str | Path, *, n_images: int | None = None, force: bool = False,
             progress: ProgressFn | None = None,
             on_stage: Callable[[StageResult], None] | None = None) -> DemoResult:
    """Build the demo dataset, run the pipeline on it, and score it against the truth."""
    import pandas as pd

    from labelclean.evaluate.truth import score_against_truth

    project = prepare_demo(out, n_images)
    pipeline = run_pipeline(project, force=force, progress=progress, on_stage=on_stage)
    truth = pd.read_csv(Path(out) / "truth.csv", dtype={"image_id": str})
    return DemoResult(pipeline=pipeline, scores=score_against_truth(project.workdir, truth),
                      root=Path(out))
