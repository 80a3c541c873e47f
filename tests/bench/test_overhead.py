"""The overhead benchmark runs end to end at tiny scale, per length, and reports every system."""
from __future__ import annotations

import pandas as pd
import pytest

import pets
from pets.bench.overhead import SYSTEMS, OverheadConfig, run_overhead
from pets.cli import main


def test_overhead_reports_all_systems_per_length():
    df = run_overhead(OverheadConfig(preset="bert-tiny", tasks=6, seq_lens=(4, 8), repeats=2,
                                     systems=SYSTEMS), progress=False)
    for seq_len, part in df.groupby("seq_len"):
        assert set(part.system) == {"base", "pets", "seqs", "seqs-copies", "seqs-hf",
                                    "base-hf[lora]", "peft[lora]", "pets[lora]"}
        assert part.loc[part.system == "base", "vs_base"].iloc[0] == 1.0
        assert part.loc[part.system == "pets", "queries"].iloc[0] == 6
        pets_row = part[part.system == "pets"].iloc[0]
        assert pets_row.iqr_low_s <= pets_row.median_s <= pets_row.iqr_high_s
        assert pets_row.host_ms > 0 and pets_row.pet_ops_ms > 0
    assert (df.median_s > 0).all()
    assert set(df.dtype) == {"float32"}  # PETS_DTYPE under test


def test_cli_sweeps_lengths_and_writes_csv(tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert main(["bench", "overhead", "--preset", "bert-tiny", "--tasks", "5", "--seq-lens", "4,8",
                 "--repeats", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pets/base" in printed and "pets/seqs" in printed and "8 tokens" in printed
    assert set(pd.read_csv(out).seq_len) == {4, 8}


def test_bad_systems_are_refused():
    with pytest.raises(pets.PetsError, match="unknown system"):
        OverheadConfig(systems=("pets", "vllm"))


def test_cli_reports_bad_input_without_traceback(capsys):
    assert main(["bench", "overhead", "--preset", "gpt-7", "--repeats", "1"]) == 2
    assert "unknown preset" in capsys.readouterr().err
