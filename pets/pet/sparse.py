"""Sparse weight terms shared by Diff-Pruning and MaskBERT.

Run-time storage (what `engine.memory()` counts) is a `SparsePattern`: CSR row
pointers [out + 1] int32 and column indices [nnz] int16 (int32 only when a
weight has more than 32767 columns), 2 bytes per entry. Diff keeps its delta
values beside it; Mask keeps nothing else: its values are the shared weight's
own, gathered at op time. A CSR with int32 indices (what MKL/cuSPARSE take) is
built per hook call, just before its sparse GEMM, and dropped after it, so
only one target's CSR of one task is alive at a time.

Applied per segment as y[rows] += sign * (S @ x[rows]^T)^T, a sparse-dense GEMM
whose cost scales with nnz rather than out * in. Segments run in blocks of
CHUNK_ROWS rows: the transposed copies the sparse kernel makes then stay in
cache (CPU, 8192 rows, 768x768 at 0.5%: 32.5 ms whole vs 10.7 ms in 128-row
blocks; at 832 rows 1.10 vs 0.84 ms; dense GEMM 48 / 4.9 ms).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, TypeVar

import torch
from torch import Tensor

from pets.pet.ops import HookKey, OpTable, Segment, add_op

CHUNK_ROWS = 128
INT16_MAX_COLS = 32767  # column indices fit int16 up to here

# CSR on CPU/CUDA is stable for the ops used here (construction, sparse @ dense).
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

T = TypeVar("T")


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


def sparse_ops(items: list[tuple[dict[HookKey, T], Segment]], sign: float,
               to_csr: Callable[[HookKey, T], Tensor]) -> OpTable:
    """One op per hook point applying every task's sparse term to its segment's rows.

    `to_csr(key, term)` makes the CSR [out, in] of one task's term at the hook; it is
    called inside the op, so the CSR lives only for that call.
    """
    work: dict[HookKey, list[tuple[T, slice]]] = {}
    for terms, seg in items:
        for key, term in terms.items():
            work.setdefault(key, []).append((term, seg.rows))
    table: OpTable = {}
    for key, entries in work.items():
        add_op(table, key, _sparse_fn(key, entries, sign, to_csr))
    return table


def _sparse_fn(key: HookKey, entries: list[tuple[T, slice]], sign: float,
               to_csr: Callable[[HookKey, T], Tensor]):
    def apply(x: Tensor, y: Tensor) -> None:
        for term, rows in entries:
            csr = to_csr(key, term)
            for start in range(rows.start, rows.stop, CHUNK_ROWS):
                block = slice(start, min(start + CHUNK_ROWS, rows.stop))
                delta = torch.sparse.mm(csr, x[block].t().to(csr.dtype)).t()
                y[block].add_(delta.to(y.dtype), alpha=sign)
    return apply
