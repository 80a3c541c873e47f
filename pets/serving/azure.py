"""Importer for the Azure Functions 2019 trace (per-minute invocation counts).

Files `invocations_per_function_md.anon.d*.csv` have columns
HashOwner,HashApp,HashFunction,Trigger,1..1440: invocations of a function in
each minute of a day. Each function becomes a task (the `top` busiest, named
`fn-<i>`); a minute's invocations are spread uniformly at random inside it.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from pets.serving.trace import Trace, TraceError, TraceRow

KEYS = ("HashOwner", "HashApp", "HashFunction", "Trigger")


def import_azure(path: str | Path, *, top: int = 32, minutes: int = 60, start_minute: int = 1,
                 seq_len: int = 32, seed: int = 0, scale: float = 1.0) -> Trace:
    """Requests of the `top` busiest functions over `minutes` minutes from `start_minute`.

    `scale` multiplies every count (thin or thicken the load).
    """
    path = Path(path)
    if not (1 <= start_minute and minutes >= 1 and start_minute + minutes - 1 <= 1440):
        raise TraceError(f"minutes {start_minute}..{start_minute + minutes - 1} are outside the "
                         "day's 1..1440")
    try:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header or tuple(header[:4]) != KEYS:
                raise TraceError(f"{path} line 1: expected columns {','.join(KEYS)},1..1440")
            cols = slice(4 + start_minute - 1, 4 + start_minute - 1 + minutes)
            counts = []
            for line_no, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    raise TraceError(f"{path} line {line_no}: {len(row)} fields, header has {len(header)}")
                try:
                    values = [int(v) for v in row[cols]]
                except ValueError:
                    raise TraceError(f"{path} line {line_no}: per-minute counts must be ints") from None
                if min(values, default=0) < 0:
                    raise TraceError(f"{path} line {line_no}: negative invocation count")
                counts.append(values)
    except OSError as e:
        raise TraceError(f"cannot read {path}: {e}") from None
    if not counts:
        raise TraceError(f"{path}: no functions")
    table = np.array(counts, dtype=float) * scale
    busiest = np.argsort(-table.sum(axis=1), kind="stable")[:top]
    rng = np.random.default_rng(seed)
    events = []
    for rank, fn in enumerate(busiest):
        for minute, n in enumerate(rng.poisson(table[fn]) if scale != 1.0 else table[fn].astype(int)):
            for t in minute * 60 + rng.uniform(0, 60, int(n)):
                events.append((float(t), f"fn-{rank}"))
    events.sort()
    rows = tuple(TraceRow(round(t - events[0][0], 6), task, seq_len) for t, task in events)
    if not rows:
        raise TraceError(f"{path}: no invocations in minutes {start_minute}..{start_minute + minutes - 1}")
    return Trace(rows, name=f"azure-{path.stem}")
