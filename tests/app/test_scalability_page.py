"""Scalability page: the quick-scale run starts on the first visit, in the background, is
cached per setting, and draws throughput and memory against the number of tasks."""
from __future__ import annotations

import pandas as pd

from pets.bench.scalability import ScalabilityConfig, run_scalability

from tests.app.conftest import errors, finish_job, open_page


def small(at, tasks=(1, 2, 4), queries=8, seq_len=8, repeats=1):
    at.multiselect(key="scale_tasks").set_value(list(tasks))
    at.number_input(key="scale_queries").set_value(queries)
    at.number_input(key="scale_seq_len").set_value(seq_len)
    at.number_input(key="scale_repeats").set_value(repeats)
    return at.button(key="scale_run").click().run()


def test_quick_scale_draws_throughput_and_memory_against_tasks():
    at = open_page("3_Scalability")
    assert at.session_state["scale_job"] is not None  # started on the first visit
    at.session_state["scale_job"].stop()
    small(at)
    job = finish_job(at, "scale_job")
    assert job.ok, job.error
    assert not at.exception and not errors(at)
    df = job.result
    assert set(df.system) == {"pets", "seqs", "peft"} and sorted(df.tasks.unique()) == [1, 2, 4]
    seqs = df[df.system == "seqs"].set_index("tasks").memory_bytes
    pets_mem = df[df.system == "pets"].set_index("tasks").memory_bytes
    assert seqs[4] > 3.5 * seqs[1] and pets_mem[4] < 1.1 * pets_mem[1]
    assert {c.key for c in at.get("plotly_chart")} >= {"scale_throughput", "scale_memory"}
    speedups = next(d.value for d in at.dataframe if "pets / seqs throughput" in d.value.columns)
    assert list(speedups.tasks) == [1, 2, 4]

    small(at)  # the same setting again: served from st.cache_data
    assert finish_job(at, "scale_job").elapsed < 1.0


def test_impossible_settings_show_a_message():
    at = open_page("3_Scalability")
    at.session_state["scale_job"].stop()
    small(at, tasks=(1, 8), queries=4)
    assert "queries (4) must be at least the largest task count (8)" in errors(at)[0]


def test_paper_mix_leaves_peft_out():
    df = run_scalability(ScalabilityConfig(tasks=(1, 5), queries=5, seq_len=4, repeats=1,
                                           mix="paper"))
    assert set(df.system) == {"pets", "seqs"} and len(df) == 4
    assert isinstance(df, pd.DataFrame) and (df.throughput_qps > 0).all()


def test_committed_results_are_found_and_plotted(tmp_path):
    from lib.scale import auto_figure, committed_results

    (tmp_path / "cpu").mkdir()
    pd.DataFrame({"tasks": [1, 2], "system": ["pets", "pets"], "queries_per_s": [3.0, 4.0]}).to_csv(
        tmp_path / "cpu" / "throughput-x.csv", index=False)
    (tmp_path / "cpu" / "padding-x.csv").write_text("a\n1\n")
    files = committed_results(tmp_path)
    assert list(files) == ["cpu/throughput-x.csv"]
    fig = auto_figure(pd.read_csv(files["cpu/throughput-x.csv"]), "t")
    assert fig.data[0].y.tolist() == [3.0, 4.0]
    assert auto_figure(pd.DataFrame({"a": [1]}), "t") is None
