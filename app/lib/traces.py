"""Where a replay's trace comes from: a shipped file, the generator, or an upload."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from pets.batching.cost import data_dir
from pets.serving import Trace, TraceError, load_trace
from pets.serving.trace import parse_trace

MAX_UPLOAD_ROWS = 200_000


def shipped_traces() -> dict[str, Path]:
    """File name -> path of the traces under data/traces/."""
    return {p.name: p for p in sorted((data_dir() / "traces").glob("*.csv"))}


@st.cache_data(show_spinner=False, max_entries=16)
def load_shipped(path: str) -> Trace:
    return load_trace(path)


def parse_upload(filename: str, data: bytes) -> Trace:
    """A trace from uploaded CSV bytes; TraceError names the file and line of a problem.

    An upload carries no task folders, so its add_task rows must give JSON TaskSpecs: a
    folder path would load whatever lies at that path on the server.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TraceError(f"{filename} is not UTF-8 text; upload a CSV trace") from None
    lines = text.splitlines()
    if len(lines) > MAX_UPLOAD_ROWS:
        raise TraceError(f"{filename} has {len(lines)} lines; the dashboard takes at most "
                         f"{MAX_UPLOAD_ROWS} (use `pets replay` for bigger traces)")
    trace = parse_trace(lines, name=filename)
    for row in trace.rows:
        if row.event == "add_task" and not row.spec.lstrip().startswith("{"):
            raise TraceError(
                f"{filename} line {row.line}: add_task names the folder {row.spec!r}; an uploaded "
                "trace may only add tasks it carries itself, as a JSON TaskSpec (e.g. "
                '{"pet": "lora", "rank": 8}); upload task folders on the Tasks page')
    return trace


def describe(trace: Trace) -> dict[str, float]:
    requests = trace.requests
    span = trace.duration_s
    return {"requests": len(requests), "tasks": len(trace.tasks), "duration_s": span,
            "rate_rps": len(requests) / span if span > 0 else float("nan"),
            "lifecycle events": len(trace.rows) - len(requests)}
