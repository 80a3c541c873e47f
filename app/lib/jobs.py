"""Background jobs: long computations run in a thread so the page keeps rendering.

A page starts a `Job`, keeps it in st.session_state, and a fragment with
`run_every` polls `job.progress` / `job.done`. The work function receives the job
and calls `job.report(fraction, message)`, which also raises `Cancelled` once
the user pressed Stop. Errors end up as a message in `job.error`, never as a
traceback in the page (unexpected ones are logged to stderr with their trace).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pets

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a job's work when the user stopped it."""


@dataclass(eq=False)
class Job:
    name: str
    progress: float = 0.0
    message: str = "starting"
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    live: dict = field(default_factory=dict)  # what the work exposes while it runs
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @classmethod
    def start(cls, name: str, work: Callable[["Job"], Any]) -> "Job":
        job = cls(name)
        job._thread = threading.Thread(target=job._run, args=(work,), name=f"job-{name}", daemon=True)
        job._thread.start()
        return job

    def _run(self, work: Callable[["Job"], Any]) -> None:
        try:
            self.result = work(self)
            self.progress, self.message = 1.0, "done"
        except Cancelled:
            self.error = "stopped"
        except pets.PetsError as e:
            self.error = str(e)
        except Exception as e:  # a bug, not bad input: keep the page alive, log the trace
            log.exception("job %s failed", self.name)
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.finished = time.monotonic()

    def report(self, fraction: float, message: str = "") -> None:
        """Called by the work: record progress; raise Cancelled when asked to stop."""
        self.check()
        self.progress = min(max(float(fraction), 0.0), 1.0)
        if message:
            self.message = message

    def check(self) -> None:
        """Raise Cancelled when the user asked the job to stop."""
        if self._cancel.is_set():
            raise Cancelled()

    def stop(self) -> None:
        self._cancel.set()

    @property
    def stopping(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def ok(self) -> bool:
        return self.done and self.error is None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (tests, scripts); True when it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done
