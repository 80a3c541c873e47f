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
