"""The stage registry: every stage declared once.

A :class:`Stage` names its options dataclass, the work-directory files it reads and
writes, and the function that runs it (``run(project, options, force=, progress=) ->
StageResult``, imported only when the stage runs). The CLI commands and their help, the
``labelclean.toml`` schema and its checks, ``labelclean run``'s order and ``--stages`` /
``--skip`` all derive from :data:`STAGES`, so a new stage is one package and one
:func:`register` call here.
"""

from __future__ import annotations

import filecmp
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelclean.backends.options import BackendOptions
from labelclean.config.options import resolve, specs
from labelclean.config.project import Project, read_project
from labelclean.dedupe.options import DedupeOptions
from labelclean.embed.options import EmbedOptions
from labelclean.errors import ConfigError
from labelclean.io import workdir as files
from labelclean.noise.options import NoiseOptions
from labelclean.oof.options import OOFOptions
from labelclean.pipeline.options import RunOptions
from labelclean.report.options import ReportOptions
from labelclean.results import StageResult
from labelclean.scan.options import ScanOptions
from labelclean.train.options import TrainOptions

#: the ``[run]`` keys that are the defaults of the stages that have them
RUN_SHARED = frozenset(s.key for s in specs(BackendOptions))
#: what a stage works from: the dataset named by the project, or the scanned work directory
DATASET, SCANNED = "dataset", "scanned"


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline.

    ``help`` is its command's help (first line: the summary); ``needs`` is :data:`DATASET`
    (the images and labels must be named) or :data:`SCANNED` (the work directory's scan
    will do); ``labels``: it needs labels (``run`` skips it on an unlabeled dataset);
    ``reuses``: it keeps a stage record and reuses an unchanged result (``--force``
    recomputes); ``optional``: why ``run`` may leave it out (said when it fails there);
    ``off_unless``: ``run`` leaves it out unless its ``[stage]`` table sets this key.
    """

    name: str
    help: str
    options: type
    entry: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    needs: str = SCANNED
    labels: bool = False
    reuses: bool = True
    optional: str = ""
    off_unless: str = ""

    def resolve(self, project: Project, given: dict[str, Any] | None = None) -> Any:
        """The options of this stage: ``given`` (None = not given) over the project file's
        ``[stage]`` table over its ``[run]`` table (the keys this stage shares with it, such
        as ``backend``) over the defaults."""
        own = {s.key for s in specs(self.options)}
        shared = {k: v for k, v in project.stages.get("run", {}).items()
                  if k in own and k in RUN_SHARED}
        return resolve(self.options, {**shared, **project.stages.get(self.name, {})}, given)

    def run(self, project: Project, options: Any = None, *, force: bool = False,
            progress: Any = None) -> StageResult:
        """Run the stage as one transaction of the work directory: its files appear
        together when it has finished, or not at all (it holds the work directory's lock;
        see :mod:`labelclean.io.transaction`)."""
        from labelclean.io.transaction import stage_transaction

        module, function = self.entry.split(":")
        fn: Callable[..., StageResult] = getattr(importlib.import_module(module), function)
        options = self.resolve(project) if options is None else options
        if files.INDEX in self.reads:
            check_scanned_labels(project)
        with stage_transaction(project.workdir, self.name):
            return fn(project, options, force=force, progress=progress)


def check_scanned_labels(project: Project) -> None:
    """ConfigError when the project names a labels file other than the one the work
    directory was scanned with: a stage that works from the scan reads the scanned labels,
    so another file would be ignored without a word. A copy of the scanned file (a project
    folder copied elsewhere) is the same labels file."""
    labels = project.dataset.labels
    record = files.Workdir(project.workdir).read_record("scan") or {}
    scanned = (record.get("dataset") or {}).get("labels_file")
    if labels is None or not scanned or not Path(scanned).exists():
        return
    same = Path(scanned).resolve() == Path(labels).resolve()
    if not same and not filecmp.cmp(scanned, labels, shallow=False):
        raise ConfigError(f"{project.workdir} was scanned with the labels file {scanned}, "
                          f"not {labels}; run 'labelclean scan' to use {labels}")


#: every stage, in the order ``labelclean run`` runs them
STAGES: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    if stage.name in STAGES:
        raise ValueError(f"stage {stage.name} is registered twice")
    STAGES[stage.name] = stage
    return stage


def get_stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise ConfigError(f"unknown stage {name}; stages are: {', '.join(STAGES)}") from None


def check_stages(names: list[str]) -> list[str]:
    """``names`` in pipeline order; an unknown name is an error listing the stages."""
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage {', '.join(unknown)}; stages are: "
                          f"{', '.join(STAGES)}")
    return [n for n in STAGES if n in names]


def schema() -> dict[str, type]:
    """section -> options dataclass, for every table a project file may hold."""
    return {**{name: stage.options for name, stage in STAGES.items()}, "run": RunOptions}


def load_project(config: str | Path | None = None, **overrides: Any) -> Project:
    """The project file (default ``./labelclean.toml``), checked against every stage's
    options, with ``overrides`` (images, labels, workdir, id_col, label_col, path_col,
    class_names) applied."""
    return read_project(config, schema=schema(), **overrides)


register(Stage(
    "scan", "Index every image file: readable or not (and why), size, format, content hash.",
    ScanOptions, "labelclean.scan.entry:run", reads=(),
    writes=(files.INDEX, files.HASHES, "thumbs.npy", files.QUALITY), needs=DATASET))
register(Stage(
    "dedupe", "Find exact and near-duplicate images, and copies that carry different labels.",
    DedupeOptions, "labelclean.dedupe.entry:run",
    reads=(files.INDEX, files.HASHES, "thumbs.npy", files.EMBEDDINGS_DIR),
    writes=(files.DUPLICATES, "related.csv", "leaks.csv")))
register(Stage(
    "embed", "Embed every image with a pretrained backbone (resumes an interrupted run).",
    EmbedOptions, "labelclean.embed.entry:run", reads=(files.INDEX,),
    writes=(files.EMBEDDINGS_DIR,), optional="oof then trains its own model"))
register(Stage(
    "oof", "Out-of-fold class probabilities for every labeled image (oof.csv).\n\n"
           "Folds are grouped by duplicate group, so no copy of an image is ever scored by a "
           "model that saw it.",
    OOFOptions, "labelclean.oof.entry:run",
    reads=(files.INDEX, files.DUPLICATES, files.EMBEDDINGS_DIR),
    writes=(files.OOF, "oof_folds.json", "oof_features.npy", "oof_features.json"),
    labels=True))
register(Stage(
    "noise", "Find wrong labels with cleanlab; write manifest.csv, clean.csv and summary.json.",
    NoiseOptions, "labelclean.noise.entry:run",
    reads=(files.INDEX, files.DUPLICATES, files.OOF, files.QUALITY, "oof_features.npy",
           files.EMBEDDINGS_DIR),
    writes=(files.MANIFEST, files.CLEAN, files.SUMMARY, files.OOF_SCORED, files.QUALITY),
    needs=DATASET,
    labels=True, reuses=False))
register(Stage(
    "report", "Write report/index.html: summary, figures, flagged-image gallery, duplicates, "
              "export.",
    ReportOptions, "labelclean.report.entry:run",
    reads=(files.INDEX, files.DUPLICATES, files.MANIFEST, files.SUMMARY, files.OOF_SCORED,
           files.QUALITY),
    writes=(files.REPORT_DIR,), reuses=True))
register(Stage(
    "train", "Train a classifier on the cleaned split: ce, dividemix or fixmatch.\n\n"
             "Writes <workdir>/train/<method>/ (model.pt, last.pt, metrics.csv, summary.json), "
             "scored on held-out images no copy of which is trained on; --compare trains the "
             "standard recipes on one split and writes train/comparison.csv.",
    TrainOptions, "labelclean.train.entry:run",
    reads=(files.INDEX, files.DUPLICATES, files.MANIFEST, files.CLEAN), writes=("train",),
    labels=True, reuses=False, optional="training is optional", off_unless="method"))
