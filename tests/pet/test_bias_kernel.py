"""The compiled CPU kernel for task-bias adds (`segment_bias`: BitFit, Diff's biases) equals
torch's broadcast add and the per-segment reference for any segment lengths, bit for bit in
every dtype, and refuses bad operands with a clear error."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.pet.kernels import cpu_kernels
from tests.conftest import assert_kernel_paths_agree, engine_with, round_robin_queries

needs_kernel = pytest.mark.skipif(cpu_kernels() is None,
                                  reason="the C++ kernels could not be built here")
SPECS = [pets.TaskSpec(name="b1", pet="bitfit", num_labels=2),
         pets.TaskSpec(name="b2", pet="bitfit", num_labels=3),
         pets.TaskSpec(name="b3", pet="bitfit"),
         pets.TaskSpec(name="d1", pet="diff", density=0.02, bias=True, num_labels=2)]


def _engine(dtype, kernels: bool):
    return engine_with(SPECS, dtype, lowrank_kernels=kernels)


@needs_kernel
@pytest.mark.parametrize("lengths", [[16] * 8, [1, 5, 16, 17, 33, 40, 2, 9]])
def test_kernel_equals_torch_path_and_reference(lengths):
    assert_kernel_paths_agree(_engine, round_robin_queries(SPECS, lengths))


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("width", [768, 37, 5])
def test_kernel_equals_torch_add_bit_for_bit(dtype, width):
    """Partial 16-lane rows, strided bias rows (a column slice of a wider table), segments out
    of order with gaps and an empty one; rows outside every segment stay as they were."""
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(4, width + 11, generator=gen).to(dtype)
    vectors = table[:, 3:3 + width]
    starts, lens = [20, 0, 9, 40], [7, 5, 0, 33]
    y = torch.randn(80, width, generator=gen).to(dtype)
    expected = y.clone()
    for v, a, n in zip(vectors, starts, lens):
        expected[a:a + n] += v
    cpu_kernels().segment_bias(y, vectors, torch.tensor(starts), torch.tensor(lens))
    assert torch.equal(y, expected)


@needs_kernel
@pytest.mark.parametrize("bad, message", [
    (dict(starts=[70]), "out of range"),
    (dict(lens=[-1]), "out of range"),
    (dict(vectors=torch.zeros(1, 9)), "width"),
    (dict(vectors=torch.zeros(1, 8, dtype=torch.float64)), "dtype"),
    (dict(starts=[0, 1]), "one int64 start"),
])
def test_bad_operands_are_refused(bad, message):
    y = torch.zeros(72, 8)
    args = dict(vectors=torch.ones(1, 8), starts=[0], lens=[4]) | bad
    with pytest.raises(RuntimeError, match=message):
        cpu_kernels().segment_bias(y, args["vectors"], torch.tensor(args["starts"]),
                                   torch.tensor(args["lens"]))
    assert not y.any()
