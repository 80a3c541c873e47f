"""`make demo` on the real MiniLM backbone: the trained zoo (or random tasks) in one mixed batch."""
from __future__ import annotations

import pytest

from pets.demo import DEMO_TASKS, run_demo


def test_demo_serves_the_zoo_and_matches_dense_models(capsys):
    df = run_demo()
    assert set(df.pet) >= {"lora", "adapter", "bitfit", "diff", "mask"}
    assert all(float(v) < 1e-4 for v in df["max |diff| vs dense HF model"])
    out = capsys.readouterr().out
    assert "all-MiniLM-L6-v2" in out and "saved" in out and "ONE mixed batch" in out
    if (df["trained on"] != "random").all():
        assert "positive" in out and "negative" in out  # label names, not numbers


def test_demo_without_a_zoo_says_its_tasks_are_random(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PETS_ZOO_DIR", str(tmp_path))
    df = run_demo()
    assert list(df.task) == [s.name for s in DEMO_TASKS]
    assert "RANDOM parameters" in capsys.readouterr().out
