"""The overhead benchmark runs end to end at tiny scale and reports every system."""
from __future__ import annotations

import pandas as pd

from pets.bench.overhead import OverheadConfig, run_overhead
from pets.cli import main


def test_overhead_reports_all_systems():
    df = run_overhead(OverheadConfig(preset="bert-tiny", tasks=6, seq_len=8, repeats=1),
                      progress=False)
    assert set(df.system) == {"base", "pets", "seqs", "seqs-hf", "base-hf[lora]", "peft[lora]",
                              "pets[lora]"}
    assert (df.median_s > 0).all()
    assert df.loc[df.system == "base", "vs_base"].iloc[0] == 1.0
    assert df.loc[df.system == "pets", "queries"].iloc[0] == 6


def test_cli_writes_csv(tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert main(["bench", "overhead", "--preset", "bert-tiny", "--tasks", "5", "--seq-len", "4",
                 "--repeats", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pets / base throughput" in printed and "pets / seqs throughput" in printed
    assert len(pd.read_csv(out)) == 7


def test_cli_reports_bad_input_without_traceback(capsys):
    assert main(["bench", "overhead", "--preset", "gpt-7", "--repeats", "1"]) == 2
    assert "unknown preset" in capsys.readouterr().err
