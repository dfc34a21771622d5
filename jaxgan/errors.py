"""Errors that mean 'the user must change something'. CLIs print them as one line, exit 2."""


class JaxganError(Exception):
    """Base of all user-facing errors; the message is complete and actionable."""


class ConfigError(JaxganError, ValueError):
    """A configuration or command-line value that cannot work."""


class DataError(JaxganError):
    """The dataset cannot be provided."""


class CheckpointError(JaxganError):
    """No usable checkpoint."""


class IncompatibleCheckpointError(CheckpointError):
    """The checkpoint is readable but was trained with other model shapes."""


class EvaluationError(JaxganError):
    """The metrics cannot be computed trustworthily (inputs or classifier)."""


class TrainingError(JaxganError):
    """Training cannot start or continue (existing run, diverged losses, unwritable workdir)."""


def one_line(error: BaseException, limit: int = 200) -> str:
    """An error for a one-line message: jaxgan's own as written, others as `Type: first line`."""
    if isinstance(error, JaxganError):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text.splitlines()[0][:limit] if text else ''}"
