"""The one error path for user mistakes.

Every mistake a user can make (a missing file, a bad column, an OOF that does not fit the
dataset) raises a subclass of :class:`LabelcleanError` whose message names the input, what
was expected, what was found, and the fix. The CLI prints ``Error: <message>`` and exits 1.
Anything else is a bug and keeps its traceback.
"""


class LabelcleanError(Exception):
    """Base class of every user-facing error."""


class ConfigError(LabelcleanError):
    """The project file or the command-line options are missing or inconsistent."""


class NoDatasetError(ConfigError):
    """No images folder was given anywhere."""

    def __init__(self) -> None:
        super().__init__("no dataset: run 'labelclean init --images DIR' or pass --images")


class LabelsFileError(LabelcleanError):
    """The labels file cannot be read as one row per image."""


class NoLabelsError(LabelcleanError):
    """A stage that needs labels was run on an unlabeled dataset."""


class MissingStageError(LabelcleanError):
    """A stage needs the output of an earlier stage that has not been run."""


class OOFError(LabelcleanError):
    """An out-of-fold probabilities file does not fit the dataset."""


class ManifestError(LabelcleanError):
    """An (edited) manifest does not fit the dataset."""


class WorkdirFileError(LabelcleanError):
    """A file in the work directory exists but does not have the expected content."""


class WeightsError(LabelcleanError):
    """Pretrained weights could not be found or loaded."""


class RegistryError(LabelcleanError):
    """A name was looked up in a registry of swappable parts and not found."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        super().__init__(f"unknown {kind} '{name}'; choose one of: {', '.join(sorted(valid))}")
