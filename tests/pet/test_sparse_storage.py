"""Run-time storage of the sparse PETs: Mask keeps only positions (int16 columns),
Diff positions + values; any input order loads, exports come back row-major."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.pet.params import random_sparse_indices
from pets.pet.sparse import SparsePattern
from pets.pet.targets import linear_path, linear_shape


def _engine():
    return pets.PetsEngine.from_preset("bert-tiny", seed=0)


def test_mask_holds_two_bytes_per_zeroed_entry():
    eng = _engine()
    eng.add_task(pets.TaskSpec(name="m", pet="mask", density=0.05))
    cfg = eng.config
    nnz = sum(round(0.05 * o * i) for o, i in (linear_shape(cfg, t) for t in
                                               ("query", "key", "value", "attn_out", "intermediate", "output")))
    rows = sum(linear_shape(cfg, t)[0] + 1 for t in
               ("query", "key", "value", "attn_out", "intermediate", "output"))
    assert eng.memory().tasks["m"] == cfg.num_hidden_layers * (2 * nnz + 4 * rows)


def test_diff_in_any_order_equals_row_major():
    eng = _engine()
    spec = pets.TaskSpec(name="d", pet="diff", targets=("intermediate",), density=0.02)
    gen = torch.Generator().manual_seed(1)
    shape = linear_shape(eng.config, "intermediate")
    params = {}
    for layer in range(eng.config.num_hidden_layers):
        idx = random_sparse_indices(shape, 0.02, gen)
        name = f"{linear_path('intermediate', layer)}.weight"
        params[f"{name}.indices"], params[f"{name}.values"] = idx, torch.randn(idx.shape[1], generator=gen)
    shuffled = dict(params)
    for name in [n for n in params if n.endswith(".indices")]:
        perm = torch.randperm(params[name].shape[1], generator=gen)
        shuffled[name] = params[name][:, perm]
        shuffled[name.replace(".indices", ".values")] = params[name.replace(".indices", ".values")][perm]
    eng.add_task(spec, params)
    eng.add_task(spec.renamed("d-shuffled"), shuffled)
    q = [pets.Query(task=t, input_ids=[101, 2000, 3000, 102]) for t in ("d", "d-shuffled")]
    a, b = eng.infer(q)
    torch.testing.assert_close(a.pooled, b.pooled, atol=1e-6, rtol=0)
    exported = eng.task_params("d-shuffled")
    for name, t in params.items():
        assert torch.equal(exported[name], t), name


def test_pattern_round_trip_and_gather():
    gen = torch.Generator().manual_seed(0)
    idx = random_sparse_indices((40, 70), 0.1, gen)
    pattern, order = SparsePattern.from_indices(idx, (40, 70), torch.device("cpu"))
    assert order is None and pattern.col.dtype == torch.int16 and pattern.crow.dtype == torch.int32
    assert torch.equal(pattern.indices(), idx)
    w = torch.randn(40, 70)
    assert torch.equal(pattern.gather(w), w[idx[0], idx[1]])
    dense = pattern.csr_of(w, torch.float32).to_dense()
    expected = torch.zeros_like(w)
    expected[idx[0], idx[1]] = w[idx[0], idx[1]]
    assert torch.equal(dense, expected)


@pytest.mark.parametrize("shape", [(37, 50), (300, 20)])  # a partial last block / window
def test_sliced_layout_holds_every_entry_once_and_pads_with_the_zero_column(shape):
    gen = torch.Generator().manual_seed(1)
    idx = random_sparse_indices(shape, 0.2, gen)
    pattern, _ = SparsePattern.from_indices(idx, shape, torch.device("cpu"))
    values = torch.randn(pattern.nnz)
    slice_, col, vals, slot = pattern.sliced(values)
    blocks, windows = (shape[0] + 15) // 16, (shape[0] + 255) // 256
    assert slice_.dtype == torch.int32 and slice_.numel() == blocks + 1 and col.dtype == torch.int16
    assert slot.dtype == torch.uint8 and slot.numel() == windows * 256
    row_at = {256 * (r // 256) + int(slot[r]): r for r in range(shape[0])}
    assert len(row_at) == shape[0]  # a permutation of each window's rows
    lens = pattern.crow.diff()
    for w in range(windows):  # longest first within the window
        in_window = [lens[row_at[q]] for q in range(256 * w, min(256 * (w + 1), shape[0]))]
        assert in_window == sorted(in_window, reverse=True)
    rebuilt = torch.zeros(shape)
    for b in range(blocks):
        for e in range(int(slice_[b]), int(slice_[b + 1])):
            at, c = 16 * b + (e - int(slice_[b])) % 32 // 2, int(col[e])
            if c == shape[1]:  # padding (of a short row or a row past `out`): column `in`, 0
                assert vals[e] == 0
            else:
                rebuilt[row_at[at], c] += vals[e]
    assert torch.equal(rebuilt, pattern.csr(values).to_dense())
    assert (slice_.diff() % 32 == 0).all()  # whole entry pairs for all 16 rows
    empty, _ = SparsePattern.from_indices(torch.zeros(2, 0, dtype=torch.long), shape,
                                          torch.device("cpu"))
    s0, c0, v0, _ = empty.sliced(torch.zeros(0))
    assert not s0.any() and c0.numel() >= 32  # no entries, but never a null pointer


def test_sorting_rows_keeps_the_sliced_padding_small():
    """At Mask's 5% of a 768 x 768 weight, unsorted 16-row blocks pad ~28%; sorted, a few %."""
    gen = torch.Generator().manual_seed(0)
    pattern, _ = SparsePattern.from_indices(random_sparse_indices((768, 768), 0.05, gen),
                                            (768, 768), torch.device("cpu"))
    slice_, *_ = pattern.sliced(torch.ones(pattern.nnz))
    assert int(slice_[-1]) / pattern.nnz < 1.08


def test_mask_values_are_kept_for_recently_run_tasks_only():
    eng = pets.PetsEngine.from_preset("bert-tiny", seed=0, sparse_cache_tasks=1)
    for name in ("a", "b"):
        eng.add_task(pets.TaskSpec(name=name, pet="mask", density=0.05, num_labels=2))
    idle = eng.memory().tasks["a"]
    q = lambda task: pets.Query(task=task, input_ids=[101, 2000, 2001, 102])  # noqa: E731
    first = eng.infer([q("a")])[0]
    assert eng.memory().tasks["a"] > idle  # gathered values + int32 columns now resident
    again = eng.infer([q("a")])[0]  # served from the kept values
    torch.testing.assert_close(again.pooled, first.pooled, rtol=0, atol=0)
    eng.infer([q("b")])  # b is now the most recently run: a drops its values
    assert eng.memory().tasks["a"] == idle and eng.memory().tasks["b"] > idle
    torch.testing.assert_close(eng.infer([q("a")])[0].pooled, first.pooled, rtol=0, atol=0)
