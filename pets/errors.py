"""Error types. Every failure a user can cause raises a subclass of `PetsError`
whose message says what went wrong and what to do about it."""
from __future__ import annotations


class PetsError(Exception):
    """Base class of every error the workbench raises on bad input."""


class UnknownTaskError(PetsError, KeyError):
    """A query or call named a task the engine does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateTaskError(PetsError, ValueError):
    """A task with that name is already loaded."""


class InvalidSpecError(PetsError, ValueError):
    """A TaskSpec or model config field is out of range or unknown."""


class InvalidParamsError(PetsError, ValueError):
    """PET parameters have wrong names, shapes, dtypes or values."""


class InvalidQueryError(PetsError, ValueError):
    """A query or batch cannot run: empty, too long, token ids out of range."""


class TaskFileError(PetsError, OSError):
    """A task folder (pet.json + pet.safetensors) is missing or corrupt."""


class PeftImportError(PetsError, ValueError):
    """A PEFT adapter folder cannot be imported into this engine."""


class CheckpointError(PetsError, OSError):
    """A backbone checkpoint cannot be loaded."""


class QueueFullError(PetsError):
    """The server's request queue is full; retry after `retry_after_s` seconds."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TaskRemovedError(PetsError):
    """A request's task was removed while the request waited in the server's queue."""


class BatchFailedError(PetsError):
    """The batch holding a request failed to run, or produced a non-finite output."""


class ServerStoppedError(PetsError):
    """The server stopped before it served the request."""


class LoadgenError(PetsError):
    """`pets loadgen` cannot run: the server is unreachable or the options are out of range."""


class DataError(PetsError, ValueError):
    """A data set cannot be found or read, or its rows are unusable (no label, one class...)."""


class TrainError(PetsError, ValueError):
    """A training run cannot start: unknown method, bad options, or a task folder that does
    not match what it claims (labels vs head)."""
