"""The streams bench (Fig. 11) is GPU-only; its per-task schedule is exact on any device."""
from __future__ import annotations

import pytest
import torch

import pets
from pets.bench.fixedlen import fixed_batch
from pets.bench import registry
from pets.bench.streams import _run_scheduled, run_streams
from pets.pet.mixes import round_robin_specs


def test_cpu_says_it_needs_a_gpu():
    with pytest.raises(pets.PetsError, match="needs a GPU"):
        run_streams(registry.config("streams", device="cpu"), progress=False)


def test_per_task_schedule_matches_the_engine():
    eng = pets.PetsEngine.from_preset("bert-tiny")
    for spec in round_robin_specs(6):
        eng.add_task(spec)
    batch = fixed_batch(list(eng.tasks), (2, 5), eng.config.vocab_size)
    scheduled = _run_scheduled(eng, batch, "none", [None])
    for a, b in zip(scheduled, eng.run(batch, padding="none")):
        torch.testing.assert_close(a.pooled, b.pooled, atol=1e-5, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_streams_on_gpu():
    df = run_streams(registry.config("streams", preset="bert-tiny", tasks=4, stream_counts=(1, 2),
                                     repeats=1),
                     progress=False)
    assert set(df.schedule) == {"engine", "streams"}
    assert df[(df.schedule == "streams") & (df.streams == 1)].vs_one_stream.iloc[0] == 1.0

