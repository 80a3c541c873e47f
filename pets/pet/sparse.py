"""Sparse weight terms shared by Diff-Pruning and MaskBERT.

Run-time storage (what `engine.memory()` counts) is a `SparsePattern`: CSR row
pointers [out + 1] int32 and column indices [nnz] int16 (int32 only when a
weight has more than 32767 columns), 2 bytes per entry. Diff keeps its delta
values beside it; Mask keeps nothing else: its values are the shared weight's
own, gathered at op time. The operands the kernels take are kept, per engine,
for the most recently run tasks (`SparseLRU`) and counted in `engine.memory()`:
for the compiled CPU kernel the terms in its sliced layout (`SparsePattern.sliced`:
columns + values in the engine's dtype, rows sorted by length and padded to their
16-row block's longest: in bf16 about 4.2 bytes per entry at 5% density, 5 at 0.5%), for
MKL/cuSPARSE int32 columns (and Mask's gathered values).

Applied per segment as y[rows] += sign * (S @ x[rows]^T)^T, a sparse-dense GEMM
whose cost scales with nnz rather than out * in; one op per hook point runs all
segments of a slot group: on the CPU one call of the compiled segment kernel
(`pets.pet.kernels`), elsewhere torch's CSR kernels over the rows transposed once
(handed over as [in, L] contiguous, so they make no transposed copies).
"""
from __future__ import annotations

import threading
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from pets.pet.ops import GroupRun, HookKey, OpContext, OpTable, add_op

CHUNK_COLS = 256  # tokens per sparse GEMM call beyond which the columns run in blocks
INT16_MAX_COLS = 32767  # column indices fit int16 up to here
SLICE_WINDOW = 256  # the kernel layout sorts rows within windows of this many (slot: uint8)

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

    def sliced(self, values: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The term in the CPU kernel's sliced layout (SELL-16-256, see segment_spmm.cpp).

        Within each window of 256 rows the rows are sorted by their number of entries,
        longest first (ties in row order): slot[r] is row r's position in that order, and
        row r sits at sorted position q = 256 * (r // 256) + slot[r]. Sorted rows go in
        blocks of 16; block b holds width_b entry pairs per row (its longest row, rounded up
        to pairs), pair-major: entry p of the row at q sits at
        slice[b] + 32 * (p // 2) + 2 * (q % 16) + p % 2 with b = q // 16. Short rows are
        padded with (column `in`, value 0). Returns slice [ceil(out / 16) + 1] int32, col [E]
        (the pattern's dtype), values [E] (values' dtype), E >= 32 (never empty), and slot
        [windows * 256] uint8. values: [nnz] in pattern order.
        """
        out_f, in_f = self.shape
        dev = self.col.device
        blocks = (out_f + 15) // 16
        windows = (blocks + SLICE_WINDOW // 16 - 1) // (SLICE_WINDOW // 16)
        lens = torch.zeros(windows * SLICE_WINDOW, dtype=torch.int64, device=dev)
        lens[:out_f] = self.crow.diff()
        by_window = lens.view(windows, SLICE_WINDOW)
        order = torch.sort(-by_window, dim=1, stable=True).indices  # sorted position -> row
        slot = torch.empty_like(order).scatter_(
            1, order, torch.arange(SLICE_WINDOW, device=dev).expand(windows, -1))
        sorted_lens = by_window.gather(1, order).flatten()[:blocks * 16]
        width = (sorted_lens.view(blocks, 16).amax(1) + 1) // 2 * 2
        slice_ = torch.zeros(blocks + 1, dtype=torch.int64, device=dev)
        slice_[1:] = (width * 16).cumsum(0)
        rows = self.rows().long()
        at = rows // SLICE_WINDOW * SLICE_WINDOW + slot.flatten()[rows]  # sorted position
        pos = torch.arange(self.nnz, device=dev) - self.crow.long()[rows]
        dest = slice_[at // 16] + (pos // 2) * 32 + (at % 16) * 2 + pos % 2
        size = max(int(slice_[-1]), 32)
        col = torch.full((size,), in_f, dtype=self.col.dtype, device=dev)
        col[dest] = self.col
        vals = torch.zeros(size, dtype=values.dtype, device=dev)
        vals[dest] = values
        return slice_.to(torch.int32), col, vals, slot.flatten().to(torch.uint8)

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
        self._mutex = threading.Lock()  # batches may run in several threads

    def touch(self, state) -> None:
        with self._mutex:
            self._touch(state)

    def _touch(self, state) -> None:
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


@dataclass(frozen=True)
class KernelOperands:
    """One task's sparse terms at every hook point, as the CPU kernel takes them.

    ptrs: [K, 4] int64, per hook point (`keys`, in `state.sparse_keys()` order) the data
    pointers of the term's sliced layout (`SparsePattern.sliced`): slice int32, col
    int16/int32, values in the engine's dtype and slot uint8. tensors: those pointed-to
    tensors, made for the kernel and counted by `engine.memory()`.
    """

    ptrs: Tensor
    tensors: tuple[Tensor, ...]
    keys: tuple[HookKey, ...]


def kernel_operands(state, keys: tuple[HookKey, ...], pattern_of, values_of,
                    dtype: torch.dtype) -> KernelOperands:
    """A task's pointer table, its operands laid out and checked once here (the kernel
    trusts it)."""
    rows, made = [], []
    for key in keys:
        pattern, values = pattern_of(state, key), values_of(state, key)
        if not (pattern.crow.dtype == torch.int32 and pattern.crow.numel() == pattern.shape[0] + 1
                and pattern.col.dtype in (torch.int16, torch.int32)
                and values.numel() == pattern.nnz):
            raise ValueError(f"sparse operands at {key} do not fit the kernel")
        parts = pattern.sliced(values.to(dtype))
        made += parts
        rows.append(tuple(t.data_ptr() for t in parts))
    return KernelOperands(torch.tensor(rows, dtype=torch.long), tuple(made), keys)


def kernel_ops(run: GroupRun, sign: float, keep: list, keys: tuple[HookKey, ...],
               operands: list[KernelOperands], col32: list[bool], kernel) -> OpTable:
    """One kernel call per hook point over every segment of the group. The pointer tables,
    starts and lengths are built once for the batch and shared by all its hook points;
    `keep` (the states) and `operands` stay referenced by the ops, so every pointed-to
    tensor outlives the batch even if the LRU drops it meanwhile."""
    ptrs = torch.stack([o.ptrs for o in operands], dim=1)  # [K, n, 4]
    starts, lens = run.segment_starts, run.segment_lens
    alive = (keep, operands)

    def op(k: int):
        table_k, c32 = ptrs[k], col32[k]

        def apply(x: Tensor, y: Tensor, _alive=alive) -> None:
            kernel.segment_spmm(x, y, table_k, starts, lens, c32, sign)
        return apply

    table: OpTable = {}
    for k, key in enumerate(keys):
        add_op(table, key, op(k))
    return table


def sparse_op(run: GroupRun, sign: float, parts_of: Operand, concat_nnz: int):
    """y[rows_s] += sign * x[rows_s] @ S_s^T for every segment s of the group.

    The group's rows are cast once to the kernels' dtype and transposed once to
    [n, in, L] (what the CSR kernels of MKL / cuSPARSE take without copies). Small
    terms (Diff-Pruning's 0.5%: per-call overhead dominates) then run as ONE sparse
    GEMM of their block-diagonal concatenation over [n * in, L]; large ones
    (MaskBERT's 5%, where concatenating would copy every entry) as one sparse GEMM
    per segment into its slice of the output. The result goes back in one add.
    """
    def apply(x: Tensor, y: Tensor) -> None:
        parts = [parts_of(slot) for slot in run.slot_list]
        dt = parts[0].values.dtype
        out_f, in_f = parts[0].shape
        blocks = run.blocks(x)  # [n, L, in]
        length = blocks.shape[1]
        xt = torch.empty(run.n, in_f, length, dtype=dt, device=x.device)
        xt.copy_(blocks.transpose(1, 2))
        out = torch.empty(run.n, out_f, length, dtype=dt, device=y.device)
        if sum(p.col.numel() for p in parts) <= concat_nnz * len(parts):
            _spmm(block_diagonal(parts), xt.view(run.n * in_f, length),
                  out.view(run.n * out_f, length))
        else:
            for j, p in enumerate(parts):
                _spmm(p.csr(), xt[j], out[j])
        delta = torch.empty(run.n, length, out_f, dtype=y.dtype, device=y.device)
        delta.copy_(out.to(y.dtype).transpose(1, 2))  # cast, then transpose: 2x faster on CPU
        run.add_blocks(y, delta if sign == 1.0 else delta.neg_())
    return apply


def _spmm(csr: Tensor, dense: Tensor, out: Tensor) -> None:
    """out [m, L] = csr [m, k] @ dense [k, L], in column blocks when L is large (the
    blocks' operands stay in cache: 768x768 at 5%, 8192 columns: 28 ms whole, 18 ms
    in 128-column blocks, one core)."""
    length = dense.shape[1]
    if length <= CHUNK_COLS:
        torch.mm(csr, dense, out=out)
        return
    for c0 in range(0, length, CHUNK_COLS):
        cols = slice(c0, min(c0 + CHUNK_COLS, length))
        out[:, cols] = torch.mm(csr, dense[:, cols].contiguous())


def sparse_loop(run: GroupRun, sign: float, dense_of: Operand):
    """The per-segment reference of `sparse_op`: dense_of(slot) -> S [out, in], dense."""
    def apply(x: Tensor, y: Tensor) -> None:
        for slot, rows in zip(run.slot_list, run.rows):
            s = dense_of(slot)
            y[rows] += sign * (x[rows].to(s.dtype) @ s.t()).to(y.dtype)
    return apply


def group_sparse_ops(run: GroupRun, ctx: OpContext, backbone, states: dict, sign: float,
                     pattern_of: Callable[[object, HookKey], SparsePattern],
                     values_of: Callable[[object, HookKey], Tensor]) -> OpTable:
    """One sparse operator per hook point for a slot group of Diff or Mask tasks.

    `states[slot]` is each task's state (with a `cached` dict), `pattern_of(state, key)` its
    positions at a hook, `values_of(state, key)` its values there. Recently run tasks
    (`SparseLRU`) keep the operands the kernels take: on the CPU with the compiled kernel
    the terms in its sliced layout and their pointer table; otherwise int32 columns +
    values in the CSR kernels' dtype.
    """
    lru = sparse_lru(ctx)
    for state in states.values():
        lru.touch(state)
    kernel = ctx.sparse_kernels_for(backbone.device, backbone.dtype)
    first = states[run.slot_list[0]]
    keys = tuple(first.sparse_keys())
    if kernel:
        operands = []
        for slot in run.slot_list:
            state = states[slot]
            got = state.cached.get("kernel")
            if got is None or got.keys != keys:
                got = kernel_operands(state, keys, pattern_of, values_of, backbone.dtype)
                if lru.holds(state):
                    state.cached["kernel"] = got
            operands.append(got)
        col32 = [pattern_of(first, key).col.dtype == torch.int32 for key in keys]
        return kernel_ops(run, sign, list(states.values()), keys, operands, col32, kernel)
    values_dtype = sparse_dtype(backbone.device, backbone.dtype)

    def parts_of(key: HookKey) -> Operand:
        def make(slot: int) -> CsrParts:
            state = states[slot]
            pattern = pattern_of(state, key)
            operands = state.cached.get(key)
            if operands is None:
                operands = (pattern.col.to(torch.int32), values_of(state, key).to(values_dtype))
                if lru.holds(state):
                    state.cached[key] = operands
            col, values = operands
            return CsrParts(pattern.crow, col, values, pattern.shape)
        return make

    table: OpTable = {}
    for key in keys:
        add_op(table, key, sparse_op(run, sign, parts_of(key), ctx.sparse_concat_nnz))
    return table
