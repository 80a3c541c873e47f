"""`make demo` on the real MiniLM backbone: five PET types in one mixed batch."""
from __future__ import annotations

from pets.demo import run_demo


def test_demo_runs_all_five_types_and_matches_dense_models(capsys):
    df = run_demo()
    assert set(df.pet) == {"lora", "adapter", "bitfit", "diff", "mask"}
    assert all(float(v) < 1e-5 for v in df["max |diff| vs dense HF model"])
    out = capsys.readouterr().out
    assert "all-MiniLM-L6-v2" in out and "saved" in out
