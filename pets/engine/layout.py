"""Token layout of a batch: where each query's tokens sit, per padding mode.

All shared GEMMs run over a 2-D token tensor [T, H]. Query i owns rows
[start_i, start_i + P_i), its first len_i rows real, the rest padding; the
padding mode (`pets.batching.padding`) only chooses P_i.

Attention needs [n, heads, L, d] blocks. Runs of consecutive queries with the
same P_i are contiguous in the token tensor and reshape to a block for free;
when there are many such runs (packed, varied lengths) the layout instead
gathers every query into one [B, L_max] block once per attention call.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from pets.batching.batch import Batch
from pets.batching.padding import padded_lengths
from pets.pet.ops import Segment

MAX_BLOCKS = 8  # above this many same-length runs, attention gathers instead


@dataclass(frozen=True)
class AttentionBlock:
    """Queries [q0, q1) padded to `length`, rows [row0, row0 + n * length)."""

    row0: int
    n: int
    length: int
    key_mask: Tensor | None  # [n, 1, 1, length] bool, True = attend; None if no padding


@dataclass(frozen=True)
class TokenLayout:
    """Token rows of one batch.

    input_ids, position_ids: [T]. cls_rows: [B] row of each query's first token.
    segments: one per task run, in batch order.
    """

    input_ids: Tensor
    position_ids: Tensor
    cls_rows: Tensor
    segments: tuple[Segment, ...]
    query_segments: tuple[int, ...]  # segment index of each query, in batch order
    blocks: tuple[AttentionBlock, ...] | None
    gather: tuple[Tensor, Tensor, Tensor] | None  # (rows [B, L], key_mask [B,1,1,L], back [T])

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.numel())

    def attention(self, q: Tensor, k: Tensor, v: Tensor, heads: int) -> Tensor:
        """Multi-head attention within each query. q, k, v: [T, H] -> [T, H]."""
        t, h = q.shape
        d = h // heads
        if self.blocks is not None:
            out = torch.empty(t, h, dtype=q.dtype, device=q.device)
            for b in self.blocks:
                rows = slice(b.row0, b.row0 + b.n * b.length)
                split = lambda z: z[rows].reshape(b.n, b.length, heads, d).transpose(1, 2)  # noqa: E731
                o = F.scaled_dot_product_attention(split(q), split(k), split(v),
                                                   attn_mask=b.key_mask)
                out[rows] = o.transpose(1, 2).reshape(b.n * b.length, h)
            return out
        rows, key_mask, back = self.gather
        n, length = rows.shape
        split = lambda z: z[rows].view(n, length, heads, d).transpose(1, 2)  # noqa: E731
        o = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=key_mask)
        return o.transpose(1, 2).reshape(n * length, h)[back]


def build_layout(batch: Batch, padding: str, device: torch.device,
                 rank: Mapping[str, int] | None = None) -> TokenLayout:
    """Lay the batch's queries out as token rows under a padding mode.

    `rank` (task -> slot group number) orders the rows so that each slot group's
    segments are adjacent (stable; the batch's own order within a group): a PET
    operator then reads its whole group as one slice. Results still come back in
    batch order through `cls_rows` and `query_segments`.
    """
    queries = batch.queries
    lengths_all = [q.length for q in queries]
    padded_all = padded_lengths(lengths_all, batch.group_of, padding)
    order = list(range(len(queries)))
    if rank is not None:
        order.sort(key=lambda i: rank.get(queries[i].task, -1))
    lengths = [lengths_all[i] for i in order]
    padded = [padded_all[i] for i in order]
    starts = list(accumulate(padded, initial=0))
    ids, pos = [], []
    for i, p in zip(order, padded):
        q = queries[i]
        ids.extend(q.input_ids)
        ids.extend([0] * (p - q.length))
        pos.extend(range(p))
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long, device=device)  # noqa: E731

    segments: list[Segment] = []
    query_segments = [0] * len(queries)
    cls_rows = [0] * len(queries)
    for j, i in enumerate(order):
        task = queries[i].task
        if segments and segments[-1].task == task:
            segments[-1] = Segment(task, segments[-1].start, starts[j + 1])
        else:
            segments.append(Segment(task, starts[j], starts[j + 1]))
        query_segments[i] = len(segments) - 1
        cls_rows[i] = starts[j]

    runs = _same_length_runs(padded)
    blocks, gather = None, None
    if len(runs) <= MAX_BLOCKS:
        blocks = tuple(
            AttentionBlock(starts[q0], q1 - q0, padded[q0],
                           _key_mask(lengths[q0:q1], padded[q0], device))
            for q0, q1 in runs)
    else:
        gather = _gather_plan(lengths, starts, device)
    return TokenLayout(
        input_ids=as_long(ids), position_ids=as_long(pos), cls_rows=as_long(cls_rows),
        segments=tuple(segments), query_segments=tuple(query_segments),
        blocks=blocks, gather=gather)


def _same_length_runs(padded: list[int]) -> list[tuple[int, int]]:
    runs, q0 = [], 0
    for i in range(1, len(padded) + 1):
        if i == len(padded) or padded[i] != padded[q0]:
            runs.append((q0, i))
            q0 = i
    return runs


def _key_mask(lengths: list[int], length: int, device: torch.device) -> Tensor | None:
    if all(n == length for n in lengths):
        return None
    lens = torch.tensor(lengths, device=device)
    return (torch.arange(length, device=device) < lens[:, None])[:, None, None, :]


def _gather_plan(lengths: list[int], starts: list[int],
                 device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Index tensors to scatter queries into one padded [B, L] block and back.

    Padding in rows[] points at the query's own first row (masked out as a key).
    back[r] is the position in the flattened [B * L] block of token row r.
    """
    lens = torch.tensor(lengths, device=device)
    start = torch.tensor(starts[:-1], device=device)
    length = max(lengths)
    ar = torch.arange(length, device=device)
    valid = ar < lens[:, None]
    rows = torch.where(valid, start[:, None] + ar, start[:, None])
    flat = torch.arange(len(lengths) * length, device=device).view(len(lengths), length)
    padded_per_query = torch.tensor([b - a for a, b in zip(starts[:-1], starts[1:])], device=device)
    # every row of query i (real or padding) maps to its position in the block;
    # padding rows beyond len_i map to the last real position (their values are unused).
    pos = torch.repeat_interleave(torch.arange(len(lengths), device=device), padded_per_query)
    offset = torch.arange(starts[-1], device=device) - start[pos]
    offset = torch.minimum(offset, lens[pos] - 1)
    back = flat[pos, offset]
    return rows, valid[:, None, None, :], back
