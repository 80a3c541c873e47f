"""Importer for the Azure Functions 2019 trace (per-minute invocation counts).

Files `invocations_per_function_md.anon.d*.csv` have columns
HashOwner,HashApp,HashFunction,Trigger,1..1440: invocations of a function in
each minute of a day. Each function becomes a task (the `top` busiest, named
`fn-<i>`); a minute's invocations are spread uniformly at random inside it.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from pets.serving.trace import Trace, TraceError, TraceRow

KEYS = ("HashOwner", "HashApp", "HashFunction", "Trigger")
MAX_REQUESTS = 10_000_000
MAX_SCALE = 1e4


def _check_options(*, top: int, minutes: int, start_minute: int, seq_len: int, seed: int,
                   scale: float) -> None:
    """Raise TraceError naming each option out of range and its range."""
    is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    bad = [k for k, ok in {
        "top": is_int(top) and top >= 1,
        "minutes": is_int(minutes) and minutes >= 1,
        "seq_len": is_int(seq_len) and 1 <= seq_len <= 1_000_000,
        "seed": is_int(seed) and seed >= 0,
        "scale": isinstance(scale, (int, float)) and not isinstance(scale, bool)
        and math.isfinite(scale) and 0 < scale <= MAX_SCALE}.items() if not ok]
    if bad:
        raise TraceError(f"Azure import options out of range: {bad}; top and minutes "
                         f"are ints >= 1, seq_len 1..1000000, seed >= 0, scale a "
                         f"number in (0, {MAX_SCALE:g}] (it multiplies every count)")
    if not is_int(start_minute) or start_minute < 1 or start_minute + minutes - 1 > 1440:
        raise TraceError(f"minutes {start_minute}..{start_minute + minutes - 1} are outside the "
                         "day's 1..1440")


def import_azure(path: str | Path, *, top: int = 32, minutes: int = 60, start_minute: int = 1,
                 seq_len: int = 32, seed: int = 0, scale: float = 1.0) -> Trace:
    """Requests of the `top` busiest functions over `minutes` minutes from `start_minute`.

    `scale` multiplies every count (thin or thicken the load).
    """
    path = Path(path)
    _check_options(top=top, minutes=minutes, start_minute=start_minute, seq_len=seq_len,
                   seed=seed, scale=scale)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header or tuple(header[:4]) != KEYS:
                raise TraceError(f"{path} line 1: expected columns {','.join(KEYS)},1..1440")
            cols = slice(4 + start_minute - 1, 4 + start_minute - 1 + minutes)
            if len(header) < cols.stop:
                raise TraceError(f"{path} line 1: {len(header) - 4} minute columns, minutes "
                                 f"{start_minute}..{cols.stop - 4} asked for")
            counts = []
            for row in reader:
                line_no = reader.line_num
                if len(row) != len(header):
                    raise TraceError(f"{path} line {line_no}: {len(row)} fields, header has {len(header)}")
                try:
                    values = [int(v) for v in row[cols]]
                except ValueError:
                    raise TraceError(f"{path} line {line_no}: per-minute counts must be ints") from None
                if min(values, default=0) < 0:
                    raise TraceError(f"{path} line {line_no}: negative invocation count")
                counts.append(values)
    except UnicodeDecodeError:
        raise TraceError(f"{path} is not a text CSV file; give an Azure Functions 2019 "
                         "invocations_per_function_md.anon.d*.csv") from None
    except csv.Error as e:
        raise TraceError(f"{path} line {reader.line_num}: not valid CSV ({e}); give an Azure "
                         "Functions 2019 invocations_per_function_md.anon.d*.csv") from None
    except OSError as e:
        raise TraceError(f"cannot read {path}: {e}") from None
    if not counts:
        raise TraceError(f"{path}: no functions")
    table = np.array(counts, dtype=float) * scale
    if table.sum() > MAX_REQUESTS:
        raise TraceError(f"{path}: {table.sum():,.0f} invocations at scale {scale:g} exceed "
                         f"{MAX_REQUESTS:,} requests; lower --scale, --minutes or --top")
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
