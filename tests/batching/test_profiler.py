"""The profiler measures a grid the cost model can load."""
from __future__ import annotations

import pets
from pets.batching.cost import CostModel
from pets.batching.profiler import profile_engine


def test_profile_grid_loads_into_a_cost_model():
    eng = pets.PetsEngine.from_preset("bert-tiny")
    df = profile_engine(eng, batches=(1, 4), seqs=(8, 32), repeats=1, progress=False)
    assert set(df.op) == {"alpha", "beta"}
    assert set(df[df.op == "beta"].pet) == set(pets.method_names())
    assert (df.median_s > 0).all() and len(df) == 4 * 6
    cm = CostModel.from_frame(df)
    assert cm.alpha(4, 32) >= cm.alpha(1, 8) > 0
    assert not eng.tasks  # profiling used its own probe tasks


def test_calibration_factor_is_measured_on_mixed_batches():
    from pets.batching.profiler import calibrate

    eng = pets.PetsEngine.from_preset("bert-tiny")
    df = profile_engine(eng, batches=(1, 8, 32), seqs=(8, 128), repeats=1, progress=False)
    factor = calibrate(eng, df, batches=4, repeats=1, progress=False)
    assert 0.2 < factor < 5.0  # a sane ratio of measured to predicted latency


def test_cells_slower_than_a_larger_shape_are_implausible():
    from pets.batching.profiler import implausible

    grid = {("alpha", "", b, s): b * s * 1e-4 for b in (1, 2, 4) for s in (8, 16, 32)}
    assert implausible(grid, (1, 2, 4), (8, 16, 32)) == []
    grid[("alpha", "", 2, 16)] = 0.02  # slower than 4 x 16 (0.0064) and 2 x 32 (0.0064)
    grid[("beta", "lora", 4, 32)] = 1.0  # the largest cell has nothing to compare with
    assert implausible(grid, (1, 2, 4), (8, 16, 32)) == [("alpha", "", 2, 16)]


def test_profile_measures_implausible_cells_again_and_keeps_the_lower(monkeypatch):
    import pets.batching.profiler as profiler

    calls = []

    def fake_times(eng, cell, repeats, warmup):
        calls.append(cell)
        op, pet, b, s = cell
        spike = 10.0 if cell == ("alpha", "", 4, 8) and calls.count(cell) == 1 else 1.0
        return [spike * b * s * 1e-4] * repeats

    monkeypatch.setattr(profiler, "_cell_times", fake_times)
    eng = pets.PetsEngine.from_preset("bert-tiny")
    df = profile_engine(eng, batches=(1, 4, 8), seqs=(8, 32), repeats=2, progress=False)
    alpha = df[df.op == "alpha"].set_index(["batch", "seq"]).median_s
    assert alpha[(4, 8)] == 4 * 8 * 1e-4  # the re-measured value, not the spike
    assert calls.count(("alpha", "", 4, 8)) == 2  # measured once more, then plausible
    assert len(calls) == len(df) + 1
