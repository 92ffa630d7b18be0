"""The project's own errors: each one is a message a user can act on.

The command line prints these as one line (`error: ...`) and exits non-zero; any other
exception is a bug and is shown with its traceback. The catalogue is `docs/errors.md`.
"""


class TFModelsError(Exception):
    """Base class: something the user can fix (a config, a file, a folder).

    The message is one line: line breaks that come from the user's own input (a value, a file's
    content) are shown escaped, as `\\n`.
    """

    exit_code = 2
    multiline = False  # a subclass that reports other programs' output may keep its lines

    def __init__(self, message: str = ""):
        message = str(message)
        if not self.multiline:
            message = message.replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(message)


class ConfigError(TFModelsError):
    """A config key, value or type is wrong."""


class DataError(TFModelsError):
    """A data spec or a data file is wrong, missing or unreadable."""


class RunDirError(TFModelsError):
    """A run folder is missing, unfinished, or already holds a finished run."""


class ExportError(TFModelsError):
    """An export folder exists already, or a SavedModel cannot be used as asked."""


class TrainingDivergedError(TFModelsError):
    """The loss became NaN or infinite."""

    exit_code = 3
