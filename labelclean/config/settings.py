"""The stage options a project file may set, and their checks.

Every ``[stage]`` table of ``labelclean.toml`` takes the long names of that command's
options (``[dedupe] radius = 8``, ``[oof] epochs = 20``, ``[run] skip = ["embed"]``). They
are checked when the project file is read, so a misspelt key or a value of the wrong type
is one clear error before any work starts, not a silent default or a traceback mid-run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labelclean.errors import ConfigError

INT, NUMBER, BOOL, TEXT, NAMES = "an integer", "a number", "true or false", "a string", "names"

#: The keys of ``[dataset]`` (all strings; paths are relative to the project file).
DATASET_OPTIONS = {key: TEXT for key in ("images", "labels", "id_col", "label_col",
                                               "path_col", "class_names", "workdir")}

#: stage -> option -> kind. NAMES: a list of strings or one comma-separated string.
STAGE_OPTIONS: dict[str, dict[str, str]] = {
    "scan": {"hash": NAMES, "workers": INT},
    "dedupe": {"method": NAMES, "hash": TEXT, "radius": INT, "k": INT, "threshold": NUMBER,
               "thumbnail_threshold": NUMBER, "verify": BOOL, "min_correlation": NUMBER,
               "max_difference": NUMBER, "max_shift": NUMBER, "embeddings": TEXT},
    "embed": {"model": TEXT, "weights": TEXT, "no_pretrained": BOOL, "batch_size": INT,
              "device": TEXT, "image_size": INT, "normalize": BOOL, "dtype": TEXT,
              "workers": INT},
    "oof": {"folds": INT, "seed": INT, "from": TEXT, "learner": TEXT, "embeddings": TEXT,
            "no_calibrate": BOOL, "model": TEXT, "image_size": INT, "epochs": INT,
            "batch_size": INT, "lr": NUMBER, "loss": TEXT, "augment": TEXT, "no_tta": BOOL,
            "pretrained": BOOL, "weights": TEXT, "device": TEXT, "workers": INT},
    "noise": {"oof": NAMES, "logits": BOOL, "ensemble": TEXT, "oof_id_col": TEXT,
              "ignore_duplicates": BOOL, "filter_by": TEXT, "rank_by": TEXT,
              "relabel_threshold": NUMBER, "review_threshold": NUMBER},
    "report": {"thumb_size": INT, "workers": INT, "oof": TEXT, "out": TEXT},
    "run": {"skip": NAMES},
}


def as_names(value: str | Iterable[str] | None) -> list[str]:
    """A list of names from a comma-separated string or a list (empty entries dropped)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [str(v).strip() for v in items if str(v).strip()]


def _fits(kind: str, value: Any) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == TEXT:
        return isinstance(value, str)
    return isinstance(value, str) or (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value))


def check_project_tables(data: dict[str, Any], source: str
                         ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Check every table of a project file: ``([dataset] table, {stage: its table})``.

    ``source`` names the file in messages. Keys may use ``-`` or ``_``; NAMES options come
    back as lists. Raises :class:`ConfigError` for an unknown section or key (listing the
    valid ones) or a value of the wrong type.
    """
    sections = {"dataset": DATASET_OPTIONS, **STAGE_OPTIONS}
    checked: dict[str, dict[str, Any]] = {}
    for section, table in data.items():
        if section not in sections:
            raise ConfigError(f"{source}: unknown section [{section}]; sections are: "
                              f"{', '.join(sections)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: '{section}' must be a table ([{section}]), not a "
                              "value")
        valid = sections[section]
        checked[section] = {}
        for raw_key, value in table.items():
            key = raw_key.replace("-", "_")
            if key not in valid:
                raise ConfigError(f"{source}: unknown option '{raw_key}' in [{section}]; "
                                  f"options are: {', '.join(sorted(valid))}")
            kind = valid[key]
            if not _fits(kind, value):
                expected = "a list of strings or a comma-separated string" if (
                    kind == NAMES) else kind
                raise ConfigError(f"{source}: [{section}] {raw_key} must be {expected}, not "
                                  f"{value!r}")
            checked[section][key] = as_names(value) if kind == NAMES else value
    return checked.pop("dataset", {}), checked
