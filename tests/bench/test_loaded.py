"""The loaded-tasks bench runs at tiny scale and reports one row per load level."""
from __future__ import annotations

import pytest

import pets
from pets.bench.loaded import LoadedConfig, run_loaded


def test_rows_per_level():
    df = run_loaded(LoadedConfig(loaded=(8, 40), batch_tasks=8, seq_len=4, repeats=2), progress=False)
    assert list(df.loaded) == [8, 40]
    assert df.vs_fewest.iloc[0] == 1.0 and (df.bytes_per_task > 0).all()


def test_levels_must_hold_the_batch():
    with pytest.raises(pets.PetsError, match="at least the batch"):
        LoadedConfig(loaded=(10,), batch_tasks=64)
