"""The bench registry: one interface per bench, `pets bench NAME` generated from it."""
from __future__ import annotations

from dataclasses import fields, is_dataclass

import pandas as pd
import pytest

from pets.bench.registry import BENCHES, config
from pets.cli import build_parser, main


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_every_bench_has_the_interface(name):
    bench = BENCHES[name]
    module = bench.load()
    assert is_dataclass(bench.config_class) and callable(getattr(module, bench.run))
    assert callable(module.summary_lines) and "quick" in bench.scales
    assert all(isinstance(c, bench.config_class) for c in bench.scales.values())
    assert isinstance(config(name, "quick"), bench.config_class)


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_every_bench_has_its_own_options_in_its_help(name, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", name, "--help"])
    text = capsys.readouterr().out
    assert "--scale" in text and "default" in text
    for f in fields(BENCHES[name].config_class):  # one option per config field
        assert f"--{f.name.replace('_', '-')}" in text, f.name


def test_scalability_runs_from_the_cli(tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["bench", "scalability", "--tasks", "1,2", "--queries", "4", "--seq-len", "8",
                 "--repeats", "1", "--systems", "pets,seqs", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert set(df.system) == {"pets", "seqs"} and set(df.tasks) == {1, 2}
    assert "pets / seqs throughput" in capsys.readouterr().out


def test_padding_times_the_modes_side_by_side(tmp_path):
    out = tmp_path / "p.csv"
    assert main(["bench", "padding", "--preset", "bert-tiny", "--tasks", "4", "--queries", "8",
                 "--repeats", "1", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert set(df.padding) == {"macro", "mini", "none"} and (df.median_s > 0).all()


def test_bad_options_are_clear_errors(capsys):
    assert main(["bench", "capacity", "--preset", "gpt-7"]) == 2
    assert "unknown preset" in capsys.readouterr().err
