"""Replay page: a short replay runs in the background and ends in its summary; bad traces
and impossible generator settings show a message in the page."""
from __future__ import annotations

import pytest

from pets.batching.cost import data_dir
from pets.serving import load_trace
from pets.serving.default_load import DEFAULT_LOADS
from tests.app.conftest import errors, finish_job, open_page

SHORT = "poisson-uniform-8tasks.csv"  # 300 requests, 8 tasks


@pytest.fixture
def at():
    """The page on the short trace and bert-tiny (the defaults are heavier: see below)."""
    at = open_page("2_Replay")
    at.selectbox(key="speed").select("as fast as possible")
    at.selectbox(key="shipped_trace").select(SHORT)
    at.selectbox(key="replay_preset").select("bert-tiny")
    return at.run()


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_defaults_show_pets_ahead_of_seqs_at_the_slo(dtype, monkeypatch):
    """The default trace and preset (per serving dtype) load seqs beyond what it serves within
    the SLO, pets not."""
    monkeypatch.setenv("PETS_DTYPE", dtype)
    at = open_page("2_Replay")
    assert at.selectbox(key="shipped_trace").value == DEFAULT_LOADS[dtype].trace
    assert at.selectbox(key="replay_preset").value == "distilbert"
    assert at.radio(key="executor").value == "sim"
    at.selectbox(key="speed").select("as fast as possible")
    at.multiselect(key="systems").set_value(["pets", "seqs"])
    at.button(key="run_replay").click().run()
    job = finish_job(at, "replay_job")
    assert job.ok, job.error
    df = summary(at).set_index("system")
    assert (df.completed == len(load_trace(data_dir() / "traces" / DEFAULT_LOADS[dtype].trace).requests)).all()
    assert df.loc["pets", "goodput_rps"] > 1.1 * df.loc["seqs", "goodput_rps"]
    assert df.loc["pets", "p99_meets_slo"] and not df.loc["seqs", "p99_meets_slo"]
    assert df.loc["pets", "capacity_rps"] > df.loc["seqs", "capacity_rps"]


def summary(at):
    return next(d.value for d in at.dataframe if "throughput_rps" in d.value.columns)


def test_short_replay_ends_in_its_summary(at):
    at.multiselect(key="systems").set_value(["pets", "seqs", "base"])
    at.button(key="run_replay").click().run()
    job = finish_job(at, "replay_job")
    assert job.ok, job.error
    assert not at.exception and not errors(at)
    df = summary(at)
    assert list(df.system) == ["pets", "seqs", "base"]
    assert (df.requests == 300).all() and (df.completed + df.rejected + df.failed == 300).all()
    assert (df.throughput_rps > 0).all()
    assert {c.key for c in at.get("plotly_chart")} == {
        "chart_throughput", "chart_queue", "chart_cdf", "chart_percentiles", "chart_per_task"}
    csv = at.get("download_button")[0]
    assert csv.label == "Download per-request CSV"


def test_replay_on_my_tasks_maps_the_trace_onto_them():
    at = open_page("Home").switch_page("pages/1_Tasks.py").run()
    at.button(key="demo_tasks").click().run()
    at.switch_page("pages/2_Replay.py").run()
    at.selectbox(key="speed").select("as fast as possible")
    at.radio(key="tasks_from").set_value("mine (Tasks page)")
    at.radio(key="executor").set_value("real")  # the engine travels to the measuring process
    at.multiselect(key="systems").set_value(["pets"])
    at.button(key="run_replay").click().run()
    job = finish_job(at, "replay_job")
    assert job.ok, job.error
    served = set(job.result["pets"].frame().task)
    assert served <= set(at.session_state["workspace"].engine.tasks)
    assert job._process is not None
    assert summary(at).completed.iloc[0] == 600  # the default trace, on the Tasks page engine


def test_stop_ends_a_paced_replay(at):
    at.selectbox(key="speed").select("1x")  # 15 s of trace: stopped long before its end
    at.multiselect(key="systems").set_value(["pets"])
    at.button(key="run_replay").click().run()
    at.button(key="stop_replay").click().run()
    job = finish_job(at, "replay_job")
    assert job.error == "stopped"
    assert "Replay stopped" in at.warning[0].value


@pytest.mark.parametrize("content, message", [
    (b"arrival_s,task\n0,a\n", "missing columns ['seq_len']"),
    (b"arrival_s,task,seq_len\n0.5,a,8\n0.1,a,8\n", "line 3: arrival 0.1 is before"),
    (b"arrival_s,task,seq_len\nsoon,a,8\n", "line 2: arrival_s 'soon' is not a number"),
    (b"\xff\xfe\x00garbage", "is not UTF-8 text"),
])
def test_malformed_trace_upload_shows_the_error(at, content, message):
    at.radio(key="trace_source").set_value("Upload").run()
    at.file_uploader(key="trace_upload").set_value(("mine.csv", content, "text/csv"))
    at.run()
    assert not at.exception
    assert len(errors(at)) == 1 and message in errors(at)[0], errors(at)
    assert errors(at)[0].startswith("Trace rejected: mine.csv")
    assert not at.get("button") or all(b.key != "run_replay" for b in at.button)


def test_uploaded_trace_replays(at):
    csv = b"arrival_s,task,seq_len\n0.0,a,8\n0.01,b,12\n0.02,a,5\n"
    at.radio(key="trace_source").set_value("Upload").run()
    at.file_uploader(key="trace_upload").set_value(("ok.csv", csv, "text/csv"))
    at.run()
    at.multiselect(key="systems").set_value(["pets", "base"])
    at.radio(key="executor").set_value("real")
    at.button(key="run_replay").click().run()
    job = finish_job(at, "replay_job")
    assert job._process is not None  # a measurement: in its own process, not a server thread
    df = summary(at)
    assert list(df.executor) == ["real", "real"] and (df.completed == 3).all(), job.error
    assert (df.capacity_rps > 0).all()
    assert any("warmed up" in c.value for c in at.caption)


def test_generator_rejects_impossible_settings_and_generates_good_ones(at):
    at.radio(key="trace_source").set_value("Generate").run()
    at.number_input(key="gen_rate").set_value(0.0)
    at.button(key="gen_submit").click().run()
    assert "out of range: ['rate']" in errors(at)[0]
    at.number_input(key="gen_rate").set_value(100.0)
    at.number_input(key="gen_requests").set_value(50)
    at.button(key="gen_submit").click().run()
    assert not errors(at)
    assert at.session_state["generated_trace"].requests.__len__() == 50
    assert at.metric[0].value == "50"


def test_slo_input_reaches_the_replay_and_the_summary(at):
    assert at.number_input(key="slo_ms").value == 200.0
    at.number_input(key="slo_ms").set_value(25.0)
    at.multiselect(key="systems").set_value(["pets", "base"])
    at.button(key="run_replay").click().run()
    job = finish_job(at, "replay_job")
    assert job.ok, job.error
    assert job._process is None  # a simulation stays in a thread
    assert at.session_state["replay_plan"].config.slo_ms == 25.0
    df = summary(at)
    assert {"offered_rps", "capacity_rps", "goodput_rps", "within_slo", "mean_ms",
            "p99_meets_slo"} <= set(df.columns)
    assert (df.goodput_rps <= df.throughput_rps + 1e-9).all() and df.within_slo.between(0, 1).all()
    assert df.offered_rps.iloc[0] > 0
    cdf = next(c for c in at.get("plotly_chart") if c.key == "chart_cdf")
    assert "SLO 25 ms" in cdf.proto.spec
    assert not any("pets: pets:" in p.proto.text for p in at.get("progress"))


def test_views_tell_overlapping_systems_apart():
    import pandas as pd

    from lib import replay_view

    df = pd.DataFrame({"task": ["a"] * 3, "arrival": [0.0, 0.1, 0.2], "start": [0.0, 0.3, 0.3],
                       "finish": [0.05, 0.4, 0.45], "status": ["completed"] * 3})
    df["latency"] = df.finish - df.arrival
    frames = {"pets": df, "base": df}  # identical: the lines lie on top of each other
    for fig in (replay_view.queue_chart(frames), replay_view.latency_cdf(frames, 100.0)):
        assert len(fig.data) == 2
        assert fig.data[0].line.dash != fig.data[1].line.dash
        assert fig.data[0].marker.symbol != fig.data[1].marker.symbol
    assert max(replay_view.queue_chart(frames).data[0].y) == 2


def test_impossible_orderings_in_one_replay_are_warned():
    from lib import replay_view

    from pets.serving.metrics import Report, RequestRecord

    def report(system, seconds):
        recs = [RequestRecord(i, "a", i * 0.1, i * 0.1, i * 0.1 + seconds, 1, "completed")
                for i in range(10)]
        return Report(system, "real", "best", recs)
    assert replay_view.ordering_warnings({"pets": report("pets", 0.01), "base": report("base", 0.005)}) == []
    flags = replay_view.ordering_warnings({"pets": report("pets", 0.01), "base": report("base", 0.5)})
    assert any("base mean latency" in f for f in flags)
    assert all("IMPOSSIBLE ORDER" in f and "pets replay --repeats" in f for f in flags)


def test_load_sweep_finds_capacity_at_the_slo(at):
    at.selectbox(key="sweep_preset").select("bert-tiny")
    at.number_input(key="sweep_requests").set_value(60)
    at.number_input(key="sweep_slo").set_value(30.0)
    at.button(key="sweep_run").click().run()
    job = finish_job(at, "sweep_job")
    assert job.ok, job.error
    assert job._process is not None  # in a measuring process
    assert not at.exception and not errors(at)
    cap = next(d.value for d in at.dataframe if "capacity_at_slo_rps" in d.value.columns)
    assert list(cap.system) == ["pets", "seqs", "base"]
    assert any(c.key == "chart_sweep" for c in at.get("plotly_chart"))
    assert any("capacity at the SLO" in m.value for m in at.markdown)
