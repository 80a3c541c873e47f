"""What a live worker says about one request, and what the router does with it.

A worker answers every request it was sent with one `Event`. Errors raised by the worker's
scheduler map to an outcome through `OUTCOME_OF` (a registry by exception class, most
specific first): `reroute` means the request never ran there and goes to another holder
(its task left that worker, or the worker is stopping), the others end the request.
"""
from __future__ import annotations

from dataclasses import dataclass

from pets.errors import (BatchFailedError, InvalidQueryError, QueueFullError, ServerStoppedError,
                         TaskRemovedError, UnknownTaskError)

COMPLETED, REJECTED, FAILED, REROUTE = "completed", "rejected", "failed", "reroute"

OUTCOME_OF: dict[type[Exception], str] = {
    TaskRemovedError: REROUTE,    # its task moved away while it waited
    UnknownTaskError: REROUTE,    # it reached the worker after its task had left
    ServerStoppedError: REROUTE,  # the worker is stopping
    QueueFullError: REJECTED,
    InvalidQueryError: REJECTED,
    BatchFailedError: FAILED,
}


def outcome_of(error: BaseException) -> str:
    """The router's action for a request that ended with `error` (unknown errors: failed)."""
    return next((kind for cls, kind in OUTCOME_OF.items() if isinstance(error, cls)), FAILED)


@dataclass(frozen=True)
class Event:
    """One request's end on a worker: `kind` is an outcome above; `output` the worker's
    queue's output (the server's `Output`) when completed and outputs were asked for."""

    rid: int
    kind: str
    reason: str = ""
    output: object = None


@dataclass(frozen=True)
class Reply:
    """One answer to a worker's `completions` poll: the events since the last poll and the
    worker's batch time so far (seconds, cumulative), from which the driver derives busy time,
    its queue length and how many batches it has run."""

    events: tuple[Event, ...]
    batch_s: float
    queued: int
    batches: int = 0
