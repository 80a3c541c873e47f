"""Sparse weight terms shared by Diff-Pruning and MaskBERT.

Run-time storage (what `engine.memory()` counts) is a `SparsePattern`: CSR row
pointers [out + 1] int32 and column indices [nnz] int16 (int32 only when a
weight has more than 32767 columns), 2 bytes per entry. Diff keeps its delta
values beside it; Mask keeps nothing else: its values are the shared weight's
own, gathered at op time. The int32 columns (and Mask's gathered values) that
MKL/cuSPARSE take are kept, per engine, for the most recently run tasks
(`SparseLRU`) and counted in `engine.memory()`.

Applied per segment as y[rows] += sign * (S @ x[rows]^T)^T, a sparse-dense GEMM
whose cost scales with nnz rather than out * in; one op per hook point runs all
segments of a slot group and adds their results in one pass. Segments run in blocks of
CHUNK_ROWS rows: the transposed copies the sparse kernel makes then stay in
cache (CPU, 8192 rows, 768x768 at 0.5%: 32.5 ms whole vs 10.7 ms in 128-row
blocks; at 832 rows 1.10 vs 0.84 ms; dense GEMM 48 / 4.9 ms).
"""
from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from pets.pet.ops import GroupRun, OpContext

CHUNK_ROWS = 128
INT16_MAX_COLS = 32767  # column indices fit int16 up to here

# CSR on CPU/CUDA is stable for the ops used here (construction, sparse @ dense).
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


def sparse_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """dtype of CSR values: the engine's, except fp32 for half types on CPU (MKL has no
    bf16/fp16 sparse kernels there); the op casts its few inputs and outputs."""
    if device.type == "cpu" and dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return dtype


@dataclass
class SparsePattern:
    """Where the entries of a sparse [out, in] matrix sit, row-compressed.

    crow: [out + 1] int32, entries of row r are crow[r]:crow[r+1];
    col: [nnz] int16 (int32 when in > 32767), ascending within each row.
    """

    crow: Tensor
    col: Tensor
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.col.numel())

    @classmethod
    def from_indices(cls, indices: Tensor, shape: tuple[int, int],
                     device: torch.device) -> tuple["SparsePattern", Tensor | None]:
        """COO indices [2, nnz] (any order) -> (pattern, order): entry j of the pattern is
        input entry order[j], so values[order] lines up with it (order None: the input
        was already row-major)."""
        out_f, in_f = shape
        indices = indices.to(device)
        flat = indices[0] * in_f + indices[1]
        if bool((flat[1:] > flat[:-1]).all()):  # already row-major (generated, exported): no sort
            order = None
            rows, cols = indices[0], indices[1]
        else:
            order = flat.argsort()
            rows, cols = indices[0][order], indices[1][order]
        crow = torch.zeros(out_f + 1, dtype=torch.int64, device=device)
        crow[1:] = torch.bincount(rows, minlength=out_f).cumsum(0)
        col_dtype = torch.int16 if in_f <= INT16_MAX_COLS else torch.int32
        return cls(crow.to(torch.int32), cols.to(col_dtype), tuple(shape)), order

    def rows(self) -> Tensor:
        """Row of each entry. [nnz] int32."""
        counts = self.crow.diff()
        return torch.repeat_interleave(torch.arange(self.shape[0], dtype=torch.int32,
                                                    device=counts.device), counts,
                                       output_size=self.nnz)

    def indices(self) -> Tensor:
        """COO indices [2, nnz] int64, row-major order, on the CPU."""
        return torch.stack([self.rows().long(), self.col.long()]).cpu()

    def gather(self, weight: Tensor) -> Tensor:
        """weight [out, in] at the pattern's entries. [nnz], weight's dtype."""
        return self._gather(weight, self.col.to(torch.int32))

    def csr(self, values: Tensor, col: Tensor | None = None) -> Tensor:
        """A CSR tensor [out, in] with these values [nnz] (int32 indices, as MKL takes)."""
        col = self.col.to(torch.int32) if col is None else col
        return torch.sparse_csr_tensor(self.crow, col, values, size=self.shape,
                                       check_invariants=False)

    def csr_of(self, weight: Tensor, dtype: torch.dtype) -> Tensor:
        """CSR [out, in] of `weight` restricted to the pattern, values in `dtype`."""
        col = self.col.to(torch.int32)
        return self.csr(self._gather(weight, col).to(dtype), col)

    def _gather(self, weight: Tensor, col: Tensor) -> Tensor:
        base = torch.arange(self.shape[0], dtype=torch.int32, device=weight.device) * self.shape[1]
        flat = torch.repeat_interleave(base, self.crow.diff(), output_size=self.nnz).add_(col)
        return weight.reshape(-1).index_select(0, flat)


@dataclass
class SparseDelta:
    """A sparse matrix with its own values: pattern + values [nnz] in pattern order."""

    pattern: SparsePattern
    values: Tensor

    def csr(self) -> Tensor:
        return self.pattern.csr(self.values)


class SparseLRU:
    """Which sparse states keep their cached kernel operands (`state.cached`): the
    `capacity` most recently run, per engine. Evicted states drop theirs."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._recent: OrderedDict[int, weakref.ref] = OrderedDict()

    def touch(self, state) -> None:
        self._recent.pop(id(state), None)
        self._recent[id(state)] = weakref.ref(state)
        while len(self._recent) > self.capacity:
            _, ref = self._recent.popitem(last=False)
            if (old := ref()) is not None:
                old.cached.clear()

    def holds(self, state) -> bool:
        """Whether `state` may keep operands (it is among the most recently run)."""
        ref = self._recent.get(id(state))
        return ref is not None and ref() is state


def sparse_lru(ctx: OpContext) -> SparseLRU:
    return ctx.cache("sparse-lru", lambda: SparseLRU(ctx.sparse_cache_tasks))


Operand = Callable[[int], "CsrParts"]  # slot -> that task's term at one hook


@dataclass(frozen=True)
class CsrParts:
    """One task's sparse term [out, in] as the kernels take it: crow [out + 1] int32,
    col [nnz] int32, values [nnz]."""

    crow: Tensor
    col: Tensor
    values: Tensor
    shape: tuple[int, int]

    def csr(self) -> Tensor:
        return torch.sparse_csr_tensor(self.crow, self.col, self.values, size=self.shape,
                                       check_invariants=False)


def block_diagonal(parts: list[CsrParts]) -> Tensor:
    """The tasks' terms as one block-diagonal CSR [n * out, n * in], built with a
    handful of vectorised ops whatever n is."""
    out_f, in_f = parts[0].shape
    n = len(parts)
    nnz = torch.tensor([p.col.numel() for p in parts], device=parts[0].col.device)
    offsets = (torch.cumsum(nnz, 0) - nnz).to(torch.int32)
    crow = torch.stack([p.crow[1:] for p in parts]).add_(offsets[:, None]).reshape(-1)
    crow = torch.cat([crow.new_zeros(1), crow])
    col_shift = torch.repeat_interleave(
        torch.arange(n, device=nnz.device, dtype=torch.int32) * in_f, nnz)
    col = torch.cat([p.col for p in parts]).add_(col_shift)
    return torch.sparse_csr_tensor(crow, col, torch.cat([p.values for p in parts]),
                                   size=(n * out_f, n * in_f), check_invariants=False)


def sparse_op(run: GroupRun, sign: float, parts_of: Operand, concat_nnz: int):
    """y[rows_s] += sign * x[rows_s] @ S_s^T for every segment s of the group.

    Two ways, chosen by the terms' size: small terms (Diff-Pruning's 0.5%) run as
    ONE sparse GEMM of their block-diagonal concatenation over the group's rows
    as [n * in, L] (per-call overhead dominates them); large ones (MaskBERT's
    5%, where concatenating would copy every entry) as one sparse GEMM per
    segment. Either way x's rows are cast once and added back in one op.
    """
    def apply(x: Tensor, y: Tensor) -> None:
        parts = [parts_of(slot) for slot in run.slot_list]
        dt = parts[0].values.dtype
        if sum(p.col.numel() for p in parts) <= concat_nnz * len(parts):
            out_f, in_f = parts[0].shape
            xs = run.blocks(x).to(dt).transpose(1, 2).reshape(run.n * in_f, -1)  # [n * in, L]
            delta = torch.sparse.mm(block_diagonal(parts), xs)  # [n * out, L]
            run.add_blocks(y, delta.view(run.n, out_f, -1).transpose(1, 2).to(y.dtype).mul_(sign))
            return
        xs = x[run.start:run.stop].to(dt)
        acc = torch.empty(run.stop - run.start, y.shape[-1], dtype=dt, device=y.device)
        for p, rows in zip(parts, run.rows):
            csr = p.csr()
            for r0 in range(rows.start - run.start, rows.stop - run.start, CHUNK_ROWS):
                block = slice(r0, min(r0 + CHUNK_ROWS, rows.stop - run.start))
                acc[block] = torch.sparse.mm(csr, xs[block].t()).t()
        y[run.start:run.stop].add_(acc.to(y.dtype), alpha=sign)
    return apply


def sparse_loop(run: GroupRun, sign: float, dense_of: Operand):
    """The per-segment reference of `sparse_op`: dense_of(slot) -> S [out, in], dense."""
    def apply(x: Tensor, y: Tensor) -> None:
        for slot, rows in zip(run.slot_list, run.rows):
            s = dense_of(slot)
            y[rows] += sign * (x[rows].to(s.dtype) @ s.t()).to(y.dtype)
    return apply
