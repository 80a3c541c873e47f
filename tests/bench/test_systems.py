"""The systems bench (Fig. 8) times seqs, pars and pets on the same queries."""
from __future__ import annotations

import pytest

import pets
from pets.bench.systems import summary_lines
from pets.bench.registry import run
from pets.viz import systems_lines


def test_systems_grid():
    df = run("systems", "quick", preset="bert-tiny", shapes=((2, 8),), task_counts=(2, 4),
             repeats=1, progress=False)
    assert set(df.system) == {"seqs", "pars", "pets"} and len(df) == 6
    assert (df[df.system == "seqs"].vs_seqs == 1.0).all()
    assert (df.queries == df.tasks * 2).all() and (df.median_s > 0).all()
    assert "tasks" in summary_lines(df)[1]
    assert len(systems_lines(df).data) == 3


def test_unknown_system():
    with pytest.raises(pets.PetsError, match="unknown system"):
        run("systems", "quick", systems=("vllm",), progress=False)
