"""Running the stages in order (``labelclean run``), and the demo scored against its truth.

Each stage runner takes the project (its ``[stage]`` options in ``labelclean.toml``) and
calls the stage's library function; stages whose inputs did not change reuse their
previous result (scan, dedupe, embed, oof and the report's thumbnails keep stage records).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labelclean.config.project import (
    PROJECT_FILE,
    DatasetSpec,
    Project,
    load_project,
    write_project,
)
from labelclean.config.settings import as_names
from labelclean.errors import ConfigError
from labelclean.io.dataset import Dataset, load_class_names, load_dataset
from labelclean.progress import ProgressFn

STAGES = ("scan", "dedupe", "embed", "oof", "noise", "report")


@dataclass
class StageRun:
    """One stage's outcome: its library result, or why it was skipped."""

    name: str
    result: Any = None
    seconds: float = 0.0
    skipped: str = ""


@dataclass
class PipelineResult:
    """What each stage returned, by stage name, in the order they ran."""

    project: Project
    stages: dict[str, StageRun] = field(default_factory=dict)

    def result(self, name: str) -> Any:
        run = self.stages.get(name)
        return None if run is None else run.result


def _scan(project: Project, dataset: Dataset, force: bool, progress: ProgressFn | None):
    from labelclean.scan.stage import scan_dataset

    methods = as_names(project.option("scan", "hash", None, "phash"))
    return scan_dataset(dataset, project.workdir, force=force, progress=progress,
                        hash_methods=tuple(methods),
                        workers=project.option("scan", "workers", None, None))


def _dedupe(project: Project, dataset: Dataset, force: bool, progress: ProgressFn | None):
    from labelclean.dedupe.find import DedupeOptions
    from labelclean.dedupe.stage import dedupe_dataset

    settings = project.stages.get("dedupe", {})
    return dedupe_dataset(dataset, project.workdir, force=force, progress=progress,
                          options=DedupeOptions.from_settings(settings),
                          embeddings_model=settings.get("embeddings"))


def _embed(project: Project, dataset: Dataset, force: bool, progress: ProgressFn | None):
    from labelclean.embed.stage import prepare_embedding
    from labelclean.models.backbones import DEFAULT_BACKBONE

    opt = lambda name, default: project.option("embed", name, None, default)  # noqa: E731
    job = prepare_embedding(
        project.workdir, images_root=dataset.root, model=opt("model", DEFAULT_BACKBONE),
        weights=opt("weights", None), pretrained=not opt("no_pretrained", False),
        batch_size=opt("batch_size", None), device=opt("device", "auto"),
        image_size=opt("image_size", None), normalize=opt("normalize", True),
        dtype=opt("dtype", "float16"), workers=opt("workers", None), force=force)
    return job.run(progress)


def _embed_in_run(project: Project, dataset: Dataset, force: bool,
                  progress: ProgressFn | None):
    """The embed stage, its weights error extended with the fixes that fit ``run``."""
    from labelclean.errors import WeightsError

    try:
        return _embed(project, dataset, force, progress)
    except WeightsError as exc:
        raise WeightsError(
            f"{exc}. In 'labelclean run', set them in {PROJECT_FILE} ([embed] weights = "
            "\"FILE\", or no_pretrained = true), or leave the stage out: 'labelclean run "
            "--skip embed' (oof then trains its own model)") from None


def _oof(project: Project, dataset: Dataset, force: bool, progress: ProgressFn | None):
    from labelclean.oof.stage import run_oof_with_settings

    return run_oof_with_settings(project.workdir, project.stages.get("oof", {}), force=force,
                                 progress=progress)


def _noise(project: Project, dataset: Dataset, force: bool, progress: ProgressFn | None):
    from labelclean.noise.stage import DEFAULTS, run_noise

    opt = lambda name, default: project.option("noise", name, None, default)  # noqa: E731
    return run_noise(project.workdir, dataset, opt("oof", None),
                     logits=opt("logits", False), ensemble=opt("ensemble", "mean"),
                     oof_id_col=opt("oof_id_col", None),
                     use_duplicates=not opt("ignore_duplicates", False),
                     filter_by=opt("filter_by", DEFAULTS["filter_by"]),
                     rank_by=opt("rank_by", DEFAULTS["rank_by"]),
                     relabel_threshold=opt("relabel_threshold", DEFAULTS["relabel_threshold"]),
                     review_threshold=opt("review_threshold", DEFAULTS["review_threshold"]))


def _report(project: Project, dataset: Dataset, force: bool, progress: ProgressFn | None):
    from labelclean.report.build import build_report
    from labelclean.report.data import load_inputs

    names = load_class_names(project.dataset.class_names)
    inputs = load_inputs(project.workdir, oof=project.option("report", "oof", None, None),
                         class_names=names)
    out_dir = project.option("report", "out", None, None)
    return build_report(project.workdir, dataset.root, inputs=inputs, force=force,
                        out_dir=Path(out_dir) if out_dir else None,
                        thumb_size=project.option("report", "thumb_size", None, 160),
                        workers=project.option("report", "workers", None, None),
                        progress=progress)


RUNNERS: dict[str, Callable[[Project, Dataset, bool, ProgressFn | None], Any]] = {
    "scan": _scan, "dedupe": _dedupe, "embed": _embed_in_run, "oof": _oof, "noise": _noise,
    "report": _report,
}


def check_stages(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage {', '.join(unknown)}; stages are: "
                          f"{', '.join(STAGES)}")
    return [n for n in STAGES if n in names]


def run_pipeline(project: Project, *, stages: tuple[str, ...] | None = None,
                 skip: tuple[str, ...] = (), force: bool = False,
                 progress: ProgressFn | None = None,
                 on_stage: Callable[[StageRun], None] | None = None) -> PipelineResult:
    """Run ``stages`` (default: all, less ``[run] skip`` of the project file) in order.

    ``on_stage`` is called after each stage with its :class:`StageRun` (the CLI prints a
    line per stage from it).
    """
    spec = project.require_dataset()
    dataset = load_dataset(spec.images, spec.labels, id_col=spec.id_col,
                           label_col=spec.label_col, path_col=spec.path_col,
                           exclude=[project.workdir])
    skip = tuple(skip) + tuple(project.option("run", "skip", None, []))
    wanted = check_stages(list(stages or STAGES))
    check_stages(list(skip))
    result = PipelineResult(project=project)
    for name in wanted:
        run = StageRun(name)
        if name in skip:
            run.skipped = "skipped (configured)"
        elif name not in RUNNERS:
            run.skipped = "not available"
        elif name in ("oof", "noise") and not dataset.has_labels:
            run.skipped = "skipped: the dataset has no labels"
        else:
            start = time.perf_counter()
            run.result = RUNNERS[name](project, dataset, force, _named(progress, name))
            run.seconds = time.perf_counter() - start
        result.stages[name] = run
        if on_stage is not None:
            on_stage(run)
    return result


def _named(progress: ProgressFn | None, stage: str) -> ProgressFn | None:
    if progress is None:
        return None

    def update(done: int, total: int, description: str = "") -> None:
        progress(done, total, f"{stage}: {description}" if description and
                 description != stage else stage)

    return update


# -- the demo ------------------------------------------------------------------------------

#: The offline demo has no pretrained weights, so it skips ``embed`` and makes its OOF by
#: k-fold training of a small CNN (random-init embeddings are too weak to classify with).
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "run": {"skip": ["embed"]},
    "oof": {"from": "train"},
}


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
             on_stage: Callable[[StageRun], None] | None = None) -> DemoResult:
    """Build the demo dataset, run the pipeline on it, and score it against the truth."""
    project = prepare_demo(out, n_images)
    pipeline = run_pipeline(project, force=force, progress=progress, on_stage=on_stage)
    truth = pd.read_csv(Path(out) / "truth.csv", dtype={"image_id": str})
    return DemoResult(pipeline=pipeline, scores=score_against_truth(project.workdir, truth),
                      root=Path(out))


def score_against_truth(workdir: Path, truth: pd.DataFrame) -> dict[str, float]:
    """Scores of the work directory's files against the demo's injected truth."""
    from labelclean.evaluate.truth import score_duplicates, score_label_issues, score_unreadable

    scores: dict[str, float] = {}
    scores.update(score_unreadable(workdir, truth))
    scores.update(score_duplicates(workdir, truth))
    scores.update(score_label_issues(workdir, truth))
    return scores
