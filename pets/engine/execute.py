"""Running one Batch: shared ops once over all rows, PET ops once per slot group.

Per batch the host work is: lay the rows out (each slot group's segments
adjacent), build one `GroupRun` per slot group (slot indices + rows), and ask
each group's method for its hook functions. Nothing here loops over queries in
Python per hook point, and nothing depends on how many tasks are loaded.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from pets.batching.batch import Batch
from pets.batching.query import Result
from pets.engine.backbone import Backbone
from pets.engine.layout import TokenLayout, build_layout
from pets.engine.trace import OpTrace
from pets.pet.method import PetMethod
from pets.pet.ops import GroupRun, OpContext, OpTable, merge_tables
from pets.pet.spec import TaskSpec


@dataclass(frozen=True)
class LoadedTask:
    """A task as held by an engine: spec, PET method, its slot in a store, optional head.

    method None: no PET op (a dense copy with the PET merged into the backbone).
    group: the store's key; head: (W [k, H], b [k]).
    """

    spec: TaskSpec
    method: PetMethod | None
    group: tuple | None
    slot: int
    head: tuple[Tensor, Tensor] | None


@dataclass(frozen=True)
class RunOptions:
    padding: str
    pet_ops: bool = True       # False: the shared model alone (heads still apply)
    reference: bool = False    # the plain per-segment operators (test oracle)
    trace: OpTrace | None = None
    # per-task tables -> the table to run (e.g. spread over CUDA streams); None: one per group
    schedule: Callable[[list[OpTable]], OpTable] | None = None


def group_ranks(batch: Batch, tasks: Mapping[str, LoadedTask]) -> dict[str, int]:
    """Task -> number of its slot group, in order of first appearance in the batch."""
    numbers: dict[Any, int] = {}
    return {t: numbers.setdefault(tasks[t].group, len(numbers)) for t in batch.tasks}


def pet_ops(backbone: Backbone, layout: TokenLayout, tasks: Mapping[str, LoadedTask],
            stores: Mapping[tuple, Any], ctx: OpContext, opts: RunOptions) -> OpTable:
    """One OpTable for the batch: per slot group, one operator per hook point
    (with `opts.schedule`: one table per task, handed to the schedule)."""
    groups: dict[Any, tuple[LoadedTask, list[int], list[slice]]] = {}
    for i, seg in enumerate(layout.segments):
        task = tasks[seg.task]
        if task.method is not None:
            _, slots, rows = groups.setdefault(i if opts.schedule else task.group, (task, [], []))
            slots.append(task.slot)
            rows.append(seg.rows)
    tables = []
    for first, slots, rows in groups.values():
        method, store = first.method, stores[first.group]
        run = GroupRun.build(slots, rows, backbone.device)
        tables.append(method.reference_ops(store, run, backbone) if opts.reference
                      else method.ops(store, run, backbone, ctx))
    return opts.schedule(tables) if opts.schedule else merge_tables(tables)


@torch.inference_mode()
def run_batch(backbone: Backbone, batch: Batch, tasks: Mapping[str, LoadedTask],
              stores: Mapping[tuple, Any], ctx: OpContext, opts: RunOptions) -> list[Result]:
    """Results in batch order (`batch.queries`)."""
    t0 = time.perf_counter()
    layout = build_layout(batch, opts.padding, backbone.device,
                          group_ranks(batch, tasks) if opts.pet_ops else None)
    t1 = time.perf_counter()
    table = pet_ops(backbone, layout, tasks, stores, ctx, opts) if opts.pet_ops else {}
    if opts.trace is not None:
        opts.trace.layout_s += t1 - t0
        opts.trace.build_s += time.perf_counter() - t1
        table = opts.trace.wrap_table(table)
    hidden = backbone.encode(layout, table)
    pooled = backbone.pool(hidden[layout.cls_rows])
    logits = _heads(pooled, layout, tasks)
    return [Result(query_id=q.id, task=q.task, pooled=pooled[j], logits=logits[j],
                   label_names=tasks[q.task].spec.labels)
            for j, q in enumerate(batch.queries)]


def _heads(pooled: Tensor, layout: TokenLayout,
           tasks: Mapping[str, LoadedTask]) -> list[Tensor | None]:
    """All heads of the batch as one GEMM over the concatenated classifiers.

    pooled: [B, H]. Each query keeps the columns of its own task's labels.
    """
    seg_tasks = [layout.segments[s].task for s in layout.query_segments]
    heads = {t: tasks[t].head for t in dict.fromkeys(seg_tasks) if tasks[t].head is not None}
    if not heads:
        return [None] * len(seg_tasks)
    cols, start = {}, 0
    for t, (w, _) in heads.items():
        cols[t] = slice(start, start + w.shape[0])
        start += w.shape[0]
    w_cat = torch.cat([w for w, _ in heads.values()])
    b_cat = torch.cat([b for _, b in heads.values()])
    all_logits = F.linear(pooled, w_cat, b_cat)  # [B, sum of num_labels]
    return [all_logits[j, cols[t]] if t in cols else None for j, t in enumerate(seg_tasks)]
