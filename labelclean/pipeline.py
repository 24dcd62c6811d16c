"""Running the stages in order, and the demo that scores them against injected truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .dataset import load_dataset
from .progress import ProgressFn
from .project import PROJECT_FILE, DatasetSpec, Project, load_project, write_project

STAGES = ("scan",)


@dataclass
class PipelineResult:
    """What each stage returned, by stage name."""

    project: Project
    results: dict[str, Any] = field(default_factory=dict)


def run_pipeline(project: Project, *, stages: tuple[str, ...] = STAGES, force: bool = False,
                 progress: ProgressFn | None = None) -> PipelineResult:
    """Run ``stages`` in order with the project's settings; fresh stages are reused."""
    from .scan import scan_dataset

    spec = project.require_dataset()
    dataset = load_dataset(spec.images, spec.labels, id_col=spec.id_col,
                           label_col=spec.label_col, path_col=spec.path_col,
                           exclude=[project.workdir])
    result = PipelineResult(project=project)
    if "scan" in stages:
        methods = project.option("scan", "hash", None, "phash")
        result.results["scan"] = scan_dataset(
            dataset, project.workdir, hash_methods=tuple(methods.split(",")), force=force,
            progress=progress)
    return result


@dataclass
class DemoResult:
    pipeline: PipelineResult
    scores: dict[str, float]
    root: Path


def run_demo(out: str | Path, *, force: bool = False,
             progress: ProgressFn | None = None) -> DemoResult:
    """Build the demo dataset in ``out`` (once), run the pipeline, score it against truth."""
    from .datasets import make_demo

    out = Path(out)
    config = out / PROJECT_FILE
    if not (out / "truth.csv").exists():
        make_demo(out)
    if not config.exists():
        spec = DatasetSpec(images=out / "train_images", labels=out / "labels.csv",
                           class_names=out / "classes.json")
        write_project(config, spec, out / ".labelclean")
    project = load_project(config)
    pipeline = run_pipeline(project, force=force, progress=progress)
    truth = pd.read_csv(out / "truth.csv", dtype={"image_id": str})
    return DemoResult(pipeline=pipeline, scores=score_against_truth(pipeline, truth), root=out)


def score_against_truth(pipeline: PipelineResult, truth: pd.DataFrame) -> dict[str, float]:
    """Scores of each finished stage against the demo's injected truth."""
    scores: dict[str, float] = {}
    scan = pipeline.results.get("scan")
    if scan is not None:
        found = set(scan.index.loc[~scan.index["readable"], "image_id"])
        expected = set(truth.loc[truth["unreadable"], "image_id"])
        scores["unreadable_found"] = len(found & expected) / max(len(expected), 1)
    return scores
