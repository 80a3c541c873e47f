"""The compiled CPU kernel for LoRA's and adapters' projections (`segment_gemm`) equals
torch's batched-GEMM path and the plain per-segment reference, for any segment lengths, in
every dtype, and refuses bad operands with a clear error."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.pet.kernels import cpu_kernels
from tests.conftest import assert_kernel_paths_agree, engine_with, round_robin_queries

needs_kernel = pytest.mark.skipif(cpu_kernels() is None,
                                  reason="the C++ kernels could not be built here")
SPECS = [pets.TaskSpec(name="l4", pet="lora", rank=4, alpha=8, num_labels=2),
         pets.TaskSpec(name="l4b", pet="lora", rank=4, alpha=1, num_labels=2),
         pets.TaskSpec(name="l8", pet="lora", rank=8, targets=("query", "value", "output")),
         pets.TaskSpec(name="a8", pet="adapter", bottleneck=8, num_labels=3),
         pets.TaskSpec(name="a8b", pet="adapter", bottleneck=8, num_labels=3),
         pets.TaskSpec(name="a24", pet="adapter", bottleneck=24)]


def _engine(dtype, kernels: bool):
    return engine_with(SPECS, dtype, lowrank_kernels=kernels)


def _queries(lengths):
    return round_robin_queries(SPECS, lengths)


@needs_kernel
@pytest.mark.parametrize("lengths", [[16] * 18, [1, 5, 16, 17, 33, 40] * 3])
def test_kernel_equals_torch_path_and_reference(lengths):
    """fp32 exact against the torch path and the reference; bf16 within bf16 noise."""
    assert_kernel_paths_agree(_engine, _queries(lengths))


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("out_f,in_f", [(64, 768), (768, 64), (8, 768), (37, 51), (3, 5)])
def test_kernel_equals_dense_reference_for_any_shape(dtype, out_f, in_f):
    """Partial 16-output blocks, odd `in`, partial token tiles, rows offset in x and y,
    slots out of order and repeated, per-segment scales, bias; reference in fp32."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(5, out_f, in_f, generator=gen).to(dtype)
    b = torch.randn(5, out_f, generator=gen).to(dtype)
    lens, slots, xs, ys = [5, 16, 33], [3, 0, 3], [2, 7, 23], [0, 5, 21]
    scales = torch.tensor([0.5, 2.0, 1.0])
    x = torch.randn(sum(lens) + 2, in_f, generator=gen).to(dtype)
    y = torch.randn(sum(lens) + 4, out_f, generator=gen).to(dtype)
    expected = y.float().clone()
    for s, n, a, c, f in zip(slots, lens, xs, ys, scales.tolist()):
        expected[c:c + n] += f * (x[a:a + n].float() @ w[s].float().t()) + b[s].float()
    t = torch.tensor
    cpu_kernels().segment_gemm(x, y, w, b, t(slots), t(xs), t(ys), t(lens), scales, True)
    # sums of up to 768 products of N(0, 1) values: tolerances relative to their size
    tol = (1e-5 if dtype == torch.float32 else 3e-2) * max(1.0, float(expected.abs().max()))
    torch.testing.assert_close(y.float(), expected, atol=tol, rtol=0 if dtype == torch.float32 else 1e-2)
    overwrite = torch.full_like(y, float("nan"))  # accumulate=False ignores what y held
    cpu_kernels().segment_gemm(x, overwrite, w, torch.empty(0), t(slots), t(xs), t(ys), t(lens),
                               torch.empty(0), False)
    for s, n, a, c in zip(slots, lens, xs, ys):
        ref = x[a:a + n].float() @ w[s].float().t()
        torch.testing.assert_close(overwrite[c:c + n].float(), ref, atol=tol, rtol=0 if
                                   dtype == torch.float32 else 1e-2)


@needs_kernel
def test_kernel_rejects_bad_operands():
    k = cpu_kernels()
    x, y, w = torch.randn(4, 8), torch.zeros(4, 6), torch.randn(2, 6, 8)
    one = lambda v: torch.tensor([v])  # noqa: E731
    none = torch.empty(0)
    k.segment_gemm(x, y, w, none, one(1), one(0), one(0), one(4), none, True)
    torch.testing.assert_close(y, x @ w[1].t())
    with pytest.raises(RuntimeError, match="slot out of range"):
        k.segment_gemm(x, y, w, none, one(2), one(0), one(0), one(4), none, True)
    with pytest.raises(RuntimeError, match="out of range"):
        k.segment_gemm(x, y, w, none, one(0), one(1), one(0), one(4), none, True)
    with pytest.raises(RuntimeError, match="must fit w"):
        k.segment_gemm(x, y, w.transpose(1, 2).contiguous(), none, one(0), one(0), one(0), one(4),
                       none, True)
    with pytest.raises(RuntimeError, match="b must be empty"):
        k.segment_gemm(x, y, w, torch.zeros(2, 5), one(0), one(0), one(0), one(4), none, True)
    with pytest.raises(RuntimeError, match="share a dtype"):
        k.segment_gemm(x, y.double(), w, none, one(0), one(0), one(0), one(4), none, True)
    with pytest.raises(RuntimeError, match="scales"):
        k.segment_gemm(x, y, w, none, one(0), one(0), one(0), one(4), torch.ones(3), True)
