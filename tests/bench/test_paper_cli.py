"""`pets bench NAME` runs the paper-figure benches, prints them and writes NAME.csv."""
from __future__ import annotations

import pandas as pd

from pets.cli import main


def test_throughput_cli_writes_csv(tmp_path, capsys):
    out = tmp_path / "throughput.csv"
    assert main(["bench", "throughput", "--preset", "bert-tiny", "--task-counts", "1,2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "one task's throughput" in printed
    df = pd.read_csv(out)
    assert set(df.tasks) == {1, 2} and (df.scale == "quick").all()


def test_streams_cli_on_cpu_explains(capsys):
    assert main(["bench", "streams", "--preset", "bert-tiny"]) == 2
    assert "needs a GPU" in capsys.readouterr().err
