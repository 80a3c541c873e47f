"""The states of a background job on a page, shown the same way everywhere."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from lib.jobs import Job


def finished_result(job: Job | None, polling: bool, *, idle: Callable[[], Any], what: str,
                    stop_key: str, running: str = "") -> Any | None:
    """None while there is nothing to show: no job yet (`idle()` says what to do), still
    running (progress bar + Stop), or failed (an error naming `what`). Else its result."""
    if job is None:
        idle()
        return None
    if polling and job.done:
        st.rerun()
    if not job.done:
        st.progress(job.progress, text=f"{running}{job.message} · {job.elapsed:.1f} s")
        if st.button("Stop", key=stop_key):
            job.stop()
        return None
    if job.error:
        st.error(f"{what} failed: {job.error}")
        return None
    return job.result


def polled(view: Callable[..., None], job_key: str, every_s: float) -> None:
    """Draw `view(polling=...)` in a fragment that reruns every `every_s` while the job kept
    in st.session_state[job_key] runs (and once more when it ends)."""
    job: Job | None = st.session_state.get(job_key)
    polling = job is not None and not job.done
    st.fragment(view, run_every=every_s if polling else None)(polling=polling)
