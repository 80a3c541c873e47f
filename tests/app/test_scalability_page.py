"""Scalability page: nothing runs until Run is pressed; a quick run goes in the background as
independent rounds, belongs to the session (no cache shared between visitors), and shows
throughput with its spread, memory, and ratios to 2 decimals with a plain reading. Committed
results draw one line per query shape and the capacity result as bars."""
from __future__ import annotations

import pandas as pd

from pets.bench.scalability import ScalabilityConfig, run_scalability

from tests.app.conftest import errors, finish_job, open_page


def small(at, tasks=(1, 2, 4), queries=8, seq_len=8, repeats=1, rounds=2):
    at.multiselect(key="scale_tasks").set_value(list(tasks))
    at.number_input(key="scale_queries").set_value(queries)
    at.number_input(key="scale_seq_len").set_value(seq_len)
    at.number_input(key="scale_repeats").set_value(repeats)
    at.number_input(key="scale_rounds").set_value(rounds)
    return at.button(key="scale_run").click().run()


def test_nothing_runs_until_asked_and_the_noise_caveat_shows():
    at = open_page("3_Scalability")
    assert not at.exception and not errors(at)
    assert "scale_job" not in at.session_state
    assert any("Nothing measured yet" in i.value for i in at.info)
    assert any("Read the ratios with their spread" in i.value for i in at.info)
    at.run()  # a rerun (another widget, another visit) starts nothing either
    assert "scale_job" not in at.session_state


def test_quick_run_draws_throughput_with_spread_and_ratios():
    at = small(open_page("3_Scalability"))
    job = finish_job(at, "scale_job")
    assert job.ok, job.error
    assert job._process is not None  # measured in its own process, not a server thread
    assert not at.exception and not errors(at)
    df = job.result
    assert set(df.system) == {"pets", "seqs", "peft"} and sorted(df.tasks.unique()) == [1, 2, 4]
    assert sorted(df["round"].unique()) == [0, 1]
    seqs = df[(df.system == "seqs") & (df["round"] == 0)].set_index("tasks").memory_bytes
    pets_mem = df[(df.system == "pets") & (df["round"] == 0)].set_index("tasks").memory_bytes
    assert seqs[4] > 3.5 * seqs[1] and pets_mem[4] < 1.1 * pets_mem[1]
    charts = {c.key: c for c in at.get("plotly_chart")}
    assert {"scale_throughput", "scale_memory"} <= set(charts)
    ratios = next(d.value for d in at.dataframe if "pets / seqs throughput" in d.value.columns)
    assert list(ratios.tasks) == [1, 2, 4]
    assert (ratios["pets / seqs throughput"] == ratios["pets / seqs throughput"].round(2)).all()
    assert ratios["pets / seqs spread"].str.fullmatch(r"\d+\.\d\d to \d+\.\d\d").all()
    assert set(ratios["vs seqs"]) <= {"pets faster", "seqs faster", "tie (within the spread)"}

    # Another visitor starts with nothing: the run is not shared between sessions.
    assert "scale_job" not in open_page("3_Scalability").session_state


def test_impossible_settings_show_a_message():
    at = small(open_page("3_Scalability"), tasks=(1, 8), queries=4)
    assert "queries (4) must be at least the largest task count (8)" in errors(at)[0]
    assert "scale_job" not in at.session_state


def test_ratio_table_reads_spread():
    from lib.scale_rounds import ratio_table

    rows = []
    for r, (p, s) in enumerate([(10.0, 5.0), (12.0, 13.0)]):
        rows += [dict(tasks=1, system="pets", round=r, throughput_qps=p, memory_bytes=1),
                 dict(tasks=1, system="seqs", round=r, throughput_qps=s, memory_bytes=2),
                 dict(tasks=2, system="pets", round=r, throughput_qps=p, memory_bytes=1),
                 dict(tasks=2, system="seqs", round=r, throughput_qps=p / 2, memory_bytes=4)]
    t = ratio_table(pd.DataFrame(rows)).set_index("tasks")
    assert t.loc[1, "vs seqs"] == "tie (within the spread)" and t.loc[1, "pets / seqs spread"] == "0.92 to 2.00"
    assert t.loc[2, "vs seqs"] == "pets faster" and t.loc[2, "pets / seqs throughput"] == 2.0
    assert t.loc[2, "seqs / pets memory"] == 4.0


def test_paper_mix_leaves_peft_out():
    df = run_scalability(ScalabilityConfig(tasks=(1, 5), queries=5, seq_len=4, repeats=1,
                                           mix="paper"))
    assert set(df.system) == {"pets", "seqs"} and len(df) == 4
    assert isinstance(df, pd.DataFrame) and (df.throughput_qps > 0).all()


def test_committed_results_draw_one_line_per_shape_and_capacity_bars():
    from lib.committed import figures
    from lib.scale import committed_results

    files = committed_results()
    at = open_page("3_Scalability")
    keys = {c.key for c in at.get("plotly_chart")}
    assert "committed_chart_0" in keys
    if any(p.name == "capacity.csv" for p in files.values()):
        assert "capacity_chart_0" in keys
    shapes = pd.DataFrame({"shape": ["{1,128}"] * 2 + ["{2,64}"] * 2, "tasks": [1, 2, 1, 2],
                           "queries_per_s": [3.0, 4.0, 5.0, 6.0], "normalised": [1, 1.3, 1, 1.2]})
    figs = figures(shapes, "throughput.csv")
    assert all(len(f.data) == 2 for f in figs)  # one line per shape, not a zig-zag across them
    assert [list(t.y) for t in figs[1].data] == [[3.0, 4.0], [5.0, 6.0]]
    assert "log scale" in figs[0].layout.xaxis.title.text
    cap = pd.DataFrame({"group": ["dense", "lora"], "tasks": [4, 1348], "ratio_vs_dense": [1, 337],
                        "budget_copies": [4, 4], "preset": ["distilbert"] * 2})
    assert figures(cap, "capacity.csv")[0].data[0].type == "bar"
