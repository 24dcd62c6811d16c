"""The one error path for user mistakes.

Every mistake a user can make (a missing file, a bad column, an OOF that does not fit the
dataset) raises a subclass of :class:`LabelcleanError` whose message names the input, what
was expected, what was found, and the fix. The CLI prints ``Error: <message>`` and exits 1.
Anything else is a bug and keeps its traceback.
"""

import errno


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


class TrainingError(LabelcleanError):
    """Training went wrong in a way the settings explain (the loss became NaN or blew up)."""


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


class WorkdirWriteError(LabelcleanError):
    """A file could not be written: a read-only file system, a full disk, no permission, or
    a work directory that is not a usable folder. The file it names is left as it was."""


class WorkdirLockedError(LabelcleanError):
    """Another labelclean process is working in the same work directory."""


#: what the environment did (errno) -> (what was found, the fix; {there}: where else to write)
_ENVIRONMENT = {
    errno.ENOSPC: ("the disk is full", "free some space, or {there} on another disk"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space, or {there} on another disk"),
    errno.EROFS: ("the file system is read-only", "{there} on a writable disk"),
    errno.EACCES: ("permission denied", "give yourself write permission (chmod u+w), or "
                                        "{there} you can write to"),
    errno.EPERM: ("operation not permitted", "give yourself write permission (chmod u+w), or "
                                             "{there} you can write to"),
}


def environment_error(exc: OSError, path: object = None, detail: str = "", *,
                      option: str | None = "workdir",
                      verb: str = "write") -> WorkdirWriteError | None:
    """The user's error for an OSError of the environment (read-only, disk full, permission
    denied) met on ``path`` (default: the error's own file name), or None for any other
    OSError (a bug keeps its traceback). ``detail`` follows what was found; the fix names
    ``option`` (None: write elsewhere)."""
    found = _ENVIRONMENT.get(exc.errno)
    if found is None:
        return None
    where = path if path is not None else (exc.filename or "a file")
    there = f"pass `{option}` naming a folder" if option else "use a folder"
    return WorkdirWriteError(f"cannot {verb} {where}: {found[0]}{detail}; "
                             + found[1].format(there=there))
