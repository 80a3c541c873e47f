"""`pets trace gen` and `pets replay` from the command line."""
from __future__ import annotations

import pandas as pd

from pets.cli import main


def test_generate_then_replay(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    assert main(["trace", "gen", "--out", str(trace), "--requests", "40", "--rate", "300",
                 "--tasks", "5", "--cv", "2"]) == 0
    assert main(["replay", str(trace), "--system", "pets,base", "--executor", "sim",
                 "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "throughput req/s" in out and "pets" in out
    df = pd.read_csv(tmp_path / "rep" / "t-pets-sim.csv")
    assert len(df) == 40 and set(df.status) == {"completed"}


def test_malformed_trace_is_a_clear_cli_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,task,seq_len\n1,a,3\n0,a,3\n")
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv line 3" in err and "Traceback" not in err
