"""The compiled CPU segment kernel for Diff/Mask equals torch's CSR path and the plain
per-segment reference, for any segment lengths (partial 16-token tiles), in fp32 and bf16."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.pet.kernels import cpu_kernels
from tests.conftest import assert_kernel_paths_agree, engine_with, round_robin_queries

needs_kernel = pytest.mark.skipif(cpu_kernels() is None,
                                  reason="the C++ kernel could not be built here")
SPECS = [pets.TaskSpec(name=f"d{i}", pet="diff", density=0.02, num_labels=2, bias=i == 1)
         for i in range(3)] + [pets.TaskSpec(name=f"m{i}", pet="mask", num_labels=3) for i in range(3)]


def _engine(dtype, kernels: bool):
    return engine_with(SPECS, dtype, sparse_kernels=kernels)


def _queries(lengths):
    return round_robin_queries(SPECS, lengths)


@needs_kernel
@pytest.mark.parametrize("lengths", [[16] * 18, [1, 5, 16, 17, 33, 40] * 3, [64] * 18])
def test_kernel_equals_torch_path_and_reference(lengths):
    """fp32 exact against the torch path and the reference; bf16 within bf16 noise."""
    assert_kernel_paths_agree(_engine, _queries(lengths))


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape,density", [((37, 40), 0.2), ((768, 768), 0.05),
                                           ((48, 3072), 0.005), ((1, 17), 0.5),
                                           ((600, 70), 0.1)])  # partial last window
def test_kernel_equals_dense_reference_for_any_shape(dtype, shape, density):
    """Odd shapes (a partial last row block, `in` not a multiple of 16), partial token
    tiles, rows offset in x and y, every dtype; the reference runs the same inputs in fp32."""
    from pets.pet.params import random_sparse_indices
    from pets.pet.sparse import SparsePattern
    gen = torch.Generator().manual_seed(0)
    out_f, in_f = shape
    lens, start = [5, 16, 33], 2
    x = torch.randn(start + sum(lens) + 1, in_f).to(dtype)
    y = torch.randn(start + sum(lens) + 1, out_f).to(dtype)
    expected, keep, ptrs, starts = y.float().clone(), [], [], []
    for n in lens:
        pattern, _ = SparsePattern.from_indices(random_sparse_indices(shape, density, gen), shape,
                                                torch.device("cpu"))
        values = torch.randn(pattern.nnz, generator=gen).to(dtype)
        parts = pattern.sliced(values)
        keep.append(parts)
        ptrs.append([t.data_ptr() for t in parts])
        rows = slice(start, start + n)
        expected[rows] -= 0.5 * x[rows].float() @ pattern.csr(values.float()).to_dense().t()
        starts.append(start)
        start += n
    cpu_kernels().segment_spmm(x, y, torch.tensor(ptrs), torch.tensor(starts),
                                       torch.tensor(lens), False, -0.5)
    tol = 1e-5 if dtype == torch.float32 else 3e-2 * max(1.0, float(expected.abs().max()))
    torch.testing.assert_close(y.float(), expected, atol=tol, rtol=0 if dtype == torch.float32 else 1e-2)


@needs_kernel
def test_kernel_rejects_bad_operands():
    k = cpu_kernels()
    x, y = torch.randn(4, 8), torch.zeros(4, 6)
    crow, col, val = torch.zeros(7, dtype=torch.int32), torch.zeros(1, dtype=torch.int16), torch.zeros(1)
    slot = torch.arange(256, dtype=torch.uint8)
    ptrs = torch.tensor([[crow.data_ptr(), col.data_ptr(), val.data_ptr(), slot.data_ptr()]])
    one = lambda v: torch.tensor([v])  # noqa: E731
    k.segment_spmm(x, y, ptrs, one(0), one(4), False, 1.0)  # empty term: y unchanged
    assert not y.any()
    with pytest.raises(RuntimeError, match="out of range"):
        k.segment_spmm(x, y, ptrs, one(2), one(4), False, 1.0)
    with pytest.raises(RuntimeError, match="int64"):
        k.segment_spmm(x, y, ptrs.int(), one(0), one(4), False, 1.0)
    with pytest.raises(RuntimeError, match="null"):
        k.segment_spmm(x, y, torch.zeros(1, 4, dtype=torch.long), one(0), one(4), False, 1.0)
    with pytest.raises(RuntimeError, match=r"\[n, 4\]"):
        k.segment_spmm(x, y, ptrs[:, :3].contiguous(), one(0), one(4), False, 1.0)
    with pytest.raises(RuntimeError, match="float32, bfloat16 or float16"):
        k.segment_spmm(x.double(), y.double(), ptrs, one(0), one(4), False, 1.0)
