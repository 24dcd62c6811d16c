"""The project file ``labelclean.toml``: which dataset, which work directory, stage options.

Layout::

    [dataset]
    images = "train_images"      # relative paths are relative to the project file
    labels = "train.csv"
    id_col = "image_id"
    label_col = "label"
    path_col = ""
    group_col = "patient_id"     # optional: rows of one group stay in one fold
    workdir = ".labelclean"

    [dedupe]                      # any stage option, by its key
    threshold = 0.95              # (checked against the stage's options dataclass)

Command-line options override the file; the file overrides built-in defaults.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labelclean.config.settings import check_project_tables
from labelclean.errors import ConfigError, NoDatasetError
from labelclean.io.guard import check_workdir
from labelclean.io.locations import as_location, is_uri
from labelclean.io.workdir import write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT_FILE = "labelclean.toml"
DEFAULT_WORKDIR = ".labelclean"


@dataclass
class DatasetSpec:
    """Where the images and labels are and how to read the labels file."""

    images: Path | str | None = None  # a folder, or a URI (s3://bucket/prefix)
    labels: Path | None = None
    id_col: str = "image_id"
    label_col: str = "label"
    path_col: str | None = None
    class_names: Path | None = None
    #: A labels-file column (patient, plant, field) whose groups stay on one side of every
    #: split (oof folds, held-out splits); read with :func:`labelclean.io.groups.read_groups`.
    group_col: str | None = None


@dataclass
class Project:
    """A resolved project: dataset, work directory and per-stage options."""

    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    workdir: Path = Path(DEFAULT_WORKDIR)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    config_path: Path | None = None
    _loaded: Any = field(default=None, repr=False, compare=False)

    def require_dataset(self) -> DatasetSpec:
        if self.dataset.images is None:
            raise NoDatasetError()
        return self.dataset

    def load_dataset(self, listing: str | Path | None = None):
        """The dataset the project names (read once per listing; the work directory is left
        out of the walk). ``listing``: a Parquet listing of the images instead of the walk
        (:func:`~labelclean.io.dataset.read_listing`), by default ``[scan] listing``, so
        every stage sees the files the scan saw without walking millions of them. Raises
        :class:`NoDatasetError` when none is named."""
        if listing is None:
            listing = (self.stages.get("scan") or {}).get("listing") or None
        key = str(listing) if listing else None
        if self._loaded is None or self._loaded[0] != key:
            from labelclean.io.dataset import load_dataset, read_listing

            spec = self.require_dataset()
            files = read_listing(as_location(listing)) if listing else None
            self._loaded = key, load_dataset(spec.images, spec.labels, id_col=spec.id_col,
                                             label_col=spec.label_col, path_col=spec.path_col,
                                             exclude=[self.workdir], files=files)
        return self._loaded[1]


def _resolve(base: Path, value: str | None) -> Path | str | None:
    if value in (None, ""):
        return None
    path = as_location(value)
    if isinstance(path, str):  # a URI
        return path
    return path if path.is_absolute() else base / path


def read_project(config: str | Path | None = None, *, schema: Mapping[str, type],
                 images: str | Path | None = None, labels: str | Path | None = None,
                 workdir: str | Path | None = None, id_col: str | None = None,
                 label_col: str | None = None, path_col: str | None = None,
                 class_names: str | Path | None = None,
                 group_col: str | None = None) -> Project:
    """Read the project file (if any), check its stage tables against ``schema`` (stage ->
    options dataclass) and apply command-line overrides.

    ``config`` defaults to ``./labelclean.toml``; a missing default file is fine (everything
    may come from the overrides), a missing explicit one is an error. Most callers want
    :func:`labelclean.pipeline.stages.load_project`, which passes every stage's options.
    """
    explicit = config is not None
    config_path = Path(config) if explicit else Path(PROJECT_FILE)
    data: dict[str, Any] = {}
    if config_path.exists():
        data = _read_toml(config_path)
    elif explicit:
        raise ConfigError(f"project file {config_path} does not exist; "
                          "run 'labelclean init --images DIR' to create one")
    base = config_path.resolve().parent
    ds, stages = check_project_tables(data, str(config_path), schema)
    spec = DatasetSpec(
        images=as_location(images) if images else _resolve(base, ds.get("images")),
        labels=Path(labels) if labels else _resolve(base, ds.get("labels")),
        id_col=id_col or ds.get("id_col") or "image_id",
        label_col=label_col or ds.get("label_col") or "label",
        path_col=path_col or ds.get("path_col") or None,
        class_names=(Path(class_names) if class_names
                     else _resolve(base, ds.get("class_names"))),
        group_col=group_col or ds.get("group_col") or None,
    )
    if workdir:
        wd = Path(workdir)
    else:
        wd = _resolve(base, ds.get("workdir")) or Path(DEFAULT_WORKDIR)
    check_workdir(wd, images=spec.images, labels=spec.labels)
    return Project(dataset=spec, workdir=wd, stages=stages,
                   config_path=config_path if config_path.exists() else None)


def _read_toml(path: Path) -> dict[str, Any]:
    """The tables of the project file ``path``; anything but a UTF-8 TOML file is an error."""
    fix = "fix it or run 'labelclean init' again"
    if path.is_dir():
        raise ConfigError(f"project file {path} is a folder; pass the labelclean.toml file "
                          f"(e.g. {path / PROJECT_FILE})")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"project file {path} is not UTF-8 text (byte {exc.start}: "
                          f"{exc.reason}); expected a labelclean.toml; {fix}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"project file {path} is not valid TOML ({exc}); {fix}") from None
    except OSError as exc:
        raise ConfigError(f"project file {path} cannot be read ({exc.strerror or exc}); "
                          f"{fix}") from None


def write_project(path: str | Path, spec: DatasetSpec, workdir: str | Path,
                  stages: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write a project file; paths are stored relative to its folder when they can be."""
    import tomli_w

    path = Path(path)
    base = path.resolve().parent

    def rel(p: Path | str | None) -> str:
        if p in (None, ""):
            return ""
        if is_uri(p):
            return str(p)
        p = Path(p).resolve()
        try:
            return p.relative_to(base).as_posix()
        except ValueError:
            return str(p)

    dataset = {k: v for k, v in asdict(spec).items() if v is not None}
    for key in ("images", "labels", "class_names"):
        if key in dataset:
            dataset[key] = rel(dataset[key])
    dataset["workdir"] = rel(workdir)
    doc: dict[str, Any] = {"dataset": dataset}
    doc.update(stages or {})
    return write_text(tomli_w.dumps(doc), path)
