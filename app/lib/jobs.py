"""Background jobs: long computations run off the page so it keeps rendering.

A page starts a `Job`, keeps it in st.session_state, and a fragment with
`run_every` polls `job.progress` / `job.done`. The work function receives the job
and calls `job.report(fraction, message)`, which also raises `Cancelled` once
the user pressed Stop, and `job.publish(**values)` to expose what it has so far
(`job.live`). Errors end up as a message in `job.error`, never as a traceback in
the page (unexpected ones are logged to stderr with their trace).

`Job.start` runs the work in a thread of the Streamlit server: fine for simulations.
Measurements (wall-clock timing) use `Job.start_process`: the work runs in a fresh
'spawn' process, so the server's threads (other sessions, chart redraws) do not share
its interpreter; progress, published values and the result come back over a queue,
and Stop reaches the process through an event. Its work must be a picklable function
(defined at module level) with picklable arguments.
"""
from __future__ import annotations

import logging
import multiprocessing
import queue as queue_mod
import sys
import threading
import time
import traceback
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

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
    _process: Any = field(default=None, repr=False)         # start_process: the process,
    _queue: Any = field(default=None, repr=False)           # what it sends,
    _remote_cancel: Any = field(default=None, repr=False)   # and its Stop

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

    def publish(self, **values: Any) -> None:
        """Called by the work: expose values (partial results) to the page in `job.live`."""
        self.live.update(values)

    # ---- in a separate process -----------------------------------------------------------
    @classmethod
    def start_process(cls, name: str, work: Callable[..., Any], *args: Any) -> "Job":
        """Run `work(*args, job)` in a fresh 'spawn' process; this Job mirrors it (progress,
        `live`, result, error) from a thread that drains the process's queue."""
        ctx = multiprocessing.get_context("spawn")
        job = cls(name, message="starting a measuring process")
        job._queue, job._remote_cancel = ctx.Queue(), ctx.Event()
        job._process = ctx.Process(target=_child, args=(work, args, job._queue, job._remote_cancel),
                                   name=f"job-{name}", daemon=True)
        with _bare_main():
            job._process.start()
        job._thread = threading.Thread(target=job._drain, name=f"job-{name}-drain", daemon=True)
        job._thread.start()
        return job

    def _drain(self) -> None:
        try:
            while True:
                try:
                    kind, payload = self._queue.get(timeout=0.2)
                except queue_mod.Empty:
                    if not self._process.is_alive():
                        try:  # the last messages may land just after the process ended
                            kind, payload = self._queue.get(timeout=1.0)
                        except queue_mod.Empty:
                            self.error = (f"the measuring process ended unexpectedly (exit code "
                                          f"{self._process.exitcode}); see the server's log")
                            return
                    else:
                        continue
                if kind == "progress":
                    self.progress, message = payload
                    self.message = message or self.message
                elif kind == "live":
                    self.live.update(payload)
                elif kind == "result":
                    self.result, self.progress, self.message = payload, 1.0, "done"
                    return
                else:  # "error"
                    self.error = payload
                    return
        finally:
            self._process.join(timeout=5)
            self.finished = time.monotonic()

    def check(self) -> None:
        """Raise Cancelled when the user asked the job to stop."""
        if self._cancel.is_set():
            raise Cancelled()

    def stop(self) -> None:
        self._cancel.set()
        if self._remote_cancel is not None:
            self._remote_cancel.set()

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


class RemoteJob:
    """What the work sees inside a `Job.start_process` process: the same report / check /
    stopping / publish / live as a Job, sent to the page's process over a queue."""

    def __init__(self, queue, cancel) -> None:
        self._queue, self._cancel = queue, cancel
        self.live: dict = {}

    def report(self, fraction: float, message: str = "") -> None:
        self.check()
        self._queue.put(("progress", (min(max(float(fraction), 0.0), 1.0), message)))

    def publish(self, **values: Any) -> None:
        self.live.update(values)
        self._queue.put(("live", values))

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    @property
    def stopping(self) -> bool:
        return self._cancel.is_set()


_MAIN_LOCK = threading.Lock()


@contextmanager
def _bare_main() -> Iterator[None]:
    """Streamlit runs a page as sys.modules['__main__'] with the page's __file__, and a spawn
    child re-runs its parent's __main__ file as __mp_main__: the whole page again, outside
    Streamlit (a backbone loaded for nothing, session-state warnings). While the process
    starts, __main__ is a bare module, so the child imports only what the work needs (work
    functions live in lib modules, never in a page)."""
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _child(work: Callable[..., Any], args: tuple, queue, cancel) -> None:
    """A measuring process: run the work, send its result or what went wrong."""
    job = RemoteJob(queue, cancel)
    try:
        queue.put(("result", work(*args, job)))
    except Cancelled:
        queue.put(("error", "stopped"))
    except pets.PetsError as e:
        queue.put(("error", str(e)))
    except Exception as e:  # a bug, not bad input: the trace goes to the server's log
        traceback.print_exc()
        queue.put(("error", f"{type(e).__name__}: {e}"))
