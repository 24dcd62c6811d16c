"""The checks of a project file's tables, derived from the stages' option dataclasses.

Every ``[stage]`` table of ``labelclean.toml`` takes the keys of that stage's options
(``[dedupe] radius = 8``, ``[oof] epochs = 20``, ``[run] skip = ["embed"]``), declared once
with :func:`labelclean.config.options.option`. They are checked when the project file is
read, so a misspelt key, a value of the wrong type or out of range is one clear error
before any work starts, not a silent default or a traceback mid-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labelclean.config.options import TEXT, OptionSpec, check_value, specs
from labelclean.errors import ConfigError

#: The keys of ``[dataset]`` (all strings; paths are relative to the project file).
DATASET_OPTIONS = ("images", "labels", "id_col", "label_col", "path_col", "class_names",
                   "workdir", "group_col")


def _dataset_specs() -> dict[str, OptionSpec]:
    return {key: OptionSpec(name=key, key=key, kind=TEXT, default=None, help="")
            for key in DATASET_OPTIONS}


def table_specs(schema: Mapping[str, type]) -> dict[str, dict[str, OptionSpec]]:
    """section -> key -> spec of every option a project file may set."""
    sections = {"dataset": _dataset_specs()}
    for stage, options_class in schema.items():
        sections[stage] = {s.key: s for s in specs(options_class) if s.in_file}
    return sections


def check_project_tables(data: dict[str, Any], source: str, schema: Mapping[str, type]
                         ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Check every table of a project file: ``([dataset] table, {stage: its table})``.

    ``schema`` maps each stage to its options dataclass; ``source`` names the file in
    messages. Keys may use ``-`` or ``_``; list options come back as lists. Raises
    :class:`ConfigError` for an unknown section or key (listing the valid ones) or a value
    of the wrong type or out of its range.
    """
    sections = table_specs(schema)
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
            where = f"{source}: [{section}] {raw_key}"
            checked[section][key] = check_value(valid[key], value, where)
    return checked.pop("dataset", {}), checked
