"""Request traces: CSV files of arrivals, plus task add/remove events.

Columns: `arrival_s, task, seq_len` (required), optionally `input_ids`
(space-separated token ids; seq_len then must match) or `text` (tokenized at
replay with the bundled uncased BERT WordPiece tokenizer; seq_len may be empty), `event`
(empty for a request, or add_task / remove_task) and `spec` (for add_task:
a task folder path, or a JSON TaskSpec). Rows must be in arrival order.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from pets.errors import PetsError

REQUIRED = ("arrival_s", "task", "seq_len")
OPTIONAL = ("input_ids", "event", "spec", "text")
EVENTS = ("", "request", "add_task", "remove_task")


class TraceError(PetsError, ValueError):
    """A trace file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class TraceRow:
    """One row: a request (event "") or a lifecycle event for `task`."""

    arrival_s: float
    task: str
    seq_len: int = 0
    input_ids: tuple[int, ...] | None = None
    event: str = ""
    spec: str = ""
    text: str = ""
    line: int = field(default=0, compare=False)  # line in its trace file (0: not from a file)

    def where(self, trace: str = "trace") -> str:
        """`trace line N` for messages about this row (just `trace` without a line)."""
        return f"{trace} line {self.line}" if self.line else trace

    @property
    def is_request(self) -> bool:
        return self.event in ("", "request")


@dataclass(frozen=True)
class Trace:
    rows: tuple[TraceRow, ...]
    name: str = "trace"

    @property
    def requests(self) -> list[TraceRow]:
        return [r for r in self.rows if r.is_request]

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys(r.task for r in self.rows))

    @property
    def duration_s(self) -> float:
        return self.rows[-1].arrival_s - self.rows[0].arrival_s if self.rows else 0.0


def load_trace(path: str | Path) -> Trace:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Excel's CSV export) is skipped
    except UnicodeDecodeError:
        raise TraceError(f"{path} is not UTF-8 text; a trace is a CSV file") from None
    except OSError as e:
        raise TraceError(f"cannot read trace {path}: {e}") from None
    return parse_trace(text.splitlines(), name=str(path))


def parse_trace(lines: Iterable[str], name: str = "trace") -> Trace:
    """A Trace from CSV lines; TraceError names the file and line of the first problem."""
    reader = csv.reader(_without_bom(lines))
    try:
        return _parse(reader, name)
    except csv.Error as e:
        limit = csv.field_size_limit()
        hint = (f"; a field may hold at most {limit} characters (input_ids that long exceed "
                "any model's length: shorten the row)" if "field larger" in str(e) else
                "; check the row's quoting")
        raise TraceError(f"{name} line {reader.line_num}: not valid CSV ({e}){hint}") from None


def _without_bom(lines: Iterable[str]) -> Iterable[str]:
    for i, line in enumerate(lines):
        yield line.removeprefix("\ufeff") if i == 0 else line


def _parse(reader, name: str) -> Trace:
    header = next(reader, None)
    if not header:
        raise TraceError(f"{name}: empty file; expected a header {','.join(REQUIRED)}")
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise TraceError(f"{name} line 1: duplicate columns in {header}")
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    missing = [h for h in REQUIRED if h not in header]
    if unknown or missing:
        raise TraceError(f"{name} line 1: unknown columns {unknown}, missing columns {missing}; "
                         f"columns are {REQUIRED} plus optional {OPTIONAL}")
    rows, last = [], -math.inf
    for values in reader:
        line_no = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise TraceError(f"{name} line {line_no}: {len(values)} fields, header has {len(header)}")
        row = _parse_row(dict(zip(header, (v.strip() for v in values))), f"{name} line {line_no}",
                         line_no)
        if row.arrival_s < last:
            raise TraceError(f"{name} line {line_no}: arrival {row.arrival_s} is before the previous "
                             f"row's {last}; sort the trace by arrival_s")
        last = row.arrival_s
        rows.append(row)
    if not rows:
        raise TraceError(f"{name}: no rows after the header")
    return Trace(tuple(rows), name=name)


def _parse_row(d: dict[str, str], where: str, line: int = 0) -> TraceRow:
    try:
        arrival = float(d["arrival_s"])
    except ValueError:
        raise TraceError(f"{where}: arrival_s {d['arrival_s']!r} is not a number") from None
    if not math.isfinite(arrival) or arrival < 0:
        raise TraceError(f"{where}: arrival_s must be a finite time >= 0, got {d['arrival_s']}")
    event = d.get("event", "")
    if event not in EVENTS:
        raise TraceError(f"{where}: event {event!r} unknown; use add_task, remove_task or leave empty")
    if not d["task"]:
        raise TraceError(f"{where}: task is empty")
    if event in ("add_task", "remove_task"):
        if event == "add_task" and not d.get("spec"):
            raise TraceError(f"{where}: add_task needs a spec (task folder path or JSON TaskSpec)")
        return TraceRow(arrival, d["task"], event=event, spec=d.get("spec", ""), line=line)
    ids = None
    if d.get("input_ids"):
        try:
            ids = tuple(int(t) for t in d["input_ids"].split())
        except ValueError:
            raise TraceError(f"{where}: input_ids must be space-separated ints "
                             "(token ids, e.g. 101 2023 102)") from None
    text = d.get("text", "")
    if text and ids is None and not d["seq_len"]:
        return TraceRow(arrival, d["task"], text=text, line=line)
    try:
        seq_len = int(d["seq_len"]) if d["seq_len"] else (len(ids) if ids else 0)
    except ValueError:
        raise TraceError(f"{where}: seq_len {d['seq_len']!r} is not an int "
                         "(a token count such as 32)") from None
    if seq_len < 1:
        raise TraceError(f"{where}: seq_len must be >= 1")
    if ids is not None and len(ids) != seq_len:
        raise TraceError(f"{where}: seq_len {seq_len} but {len(ids)} input_ids")
    return TraceRow(arrival, d["task"], seq_len, ids, text=text, line=line)


def save_trace(trace: Trace, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with_events = any(not r.is_request for r in trace.rows)
    with_ids = any(r.input_ids for r in trace.rows)
    with_text = any(r.text for r in trace.rows)
    header = (list(REQUIRED) + (["input_ids"] if with_ids else []) + (["text"] if with_text else [])
              + (["event", "spec"] if with_events else []))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in trace.rows:
            row = [f"{r.arrival_s:.6f}", r.task, r.seq_len or ""]
            if with_ids:
                row.append(" ".join(map(str, r.input_ids or ())))
            if with_text:
                row.append(r.text)
            if with_events:
                row += [r.event, r.spec]
            w.writerow(row)
    return path


def spec_from_field(spec: str):
    """The TaskSpec (and optional params folder) an add_task row names."""
    from pets.pet.spec import TaskSpec

    if spec.lstrip().startswith("{"):
        try:
            return TaskSpec.from_dict(json.loads(spec)), None
        except (json.JSONDecodeError, RecursionError) as e:
            raise TraceError(f"add_task spec is not valid JSON: {e}") from None
    return None, Path(spec)
