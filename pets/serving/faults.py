"""What a replay survives: the errors one trace row or one batch may raise without
stopping the replay, and how they are worded in a request's reason or the log.

A `PetsError` is bad input and says what to do. The others are what a row can still
provoke in code below the checks (an allocation too big for the machine, a file that is
not what its name says); they end that row or batch, with their type named, and the
replay goes on so that every request is accounted for.
"""
from __future__ import annotations

from pets.errors import PetsError

# A lifecycle row (add_task / remove_task) that raises one of these is logged as failed.
ROW_ERRORS: tuple[type[BaseException], ...] = (
    PetsError, ValueError, TypeError, KeyError, OSError, RuntimeError, MemoryError, OverflowError)
# A batch whose run raises one of these ends its requests failed (RuntimeError covers
# torch.OutOfMemoryError).
RUN_ERRORS: tuple[type[BaseException], ...] = (PetsError, RuntimeError, MemoryError)


def describe(e: BaseException) -> str:
    """The message of `e`; for anything but a PetsError, prefixed with its type."""
    if isinstance(e, PetsError):
        return str(e)
    return f"{type(e).__name__}: {e}".rstrip(": ")


def at_row(row, trace: str, message: str) -> str:
    """`message` prefixed with `<trace> line N: ` when `row` came from a file."""
    return f"{row.where(trace)}: {message}" if row.line else message
