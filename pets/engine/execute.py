"""Running one Batch: shared ops once over all rows, PET ops per task segment."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from pets.batching.batch import Batch
from pets.batching.query import Result
from pets.engine.backbone import Backbone
from pets.engine.layout import TokenLayout, build_layout
from pets.pet.method import PetMethod
from pets.pet.ops import OpTable, Segment, merge_tables
from pets.pet.spec import TaskSpec


@dataclass
class LoadedTask:
    """A task as held by an engine: spec, run-time PET state, optional head (W [k, H], b [k])."""

    spec: TaskSpec
    method: PetMethod | None  # None: no PET op (a dense copy with the PET merged in)
    state: Any
    head: tuple[Tensor, Tensor] | None


def pet_ops(backbone: Backbone, segments: tuple[Segment, ...],
            tasks: Mapping[str, LoadedTask]) -> OpTable:
    """One OpTable for the batch: each method gets all of its tasks' segments at once."""
    by_method: dict[str, tuple[PetMethod, list[tuple[Any, Segment]]]] = {}
    for seg in segments:
        task = tasks[seg.task]
        if task.method is not None:
            by_method.setdefault(task.method.name, (task.method, []))[1].append((task.state, seg))
    return merge_tables([m.ops(items, backbone) for m, items in by_method.values()])


@torch.inference_mode()
def run_batch(backbone: Backbone, batch: Batch, tasks: Mapping[str, LoadedTask],
              padding: str) -> list[Result]:
    """Results in batch order (`batch.queries`)."""
    layout = build_layout(batch, padding, backbone.device)
    hidden = backbone.encode(layout, pet_ops(backbone, layout.segments, tasks))
    pooled = backbone.pool(hidden[layout.cls_rows])
    logits = _heads(pooled, layout, tasks)
    return [Result(query_id=q.id, task=q.task, pooled=pooled[j], logits=logits[j])
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
