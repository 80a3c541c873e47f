"""Server page against a real `pets serve` app on a free local port (uvicorn in a thread of
this process, over bert-tiny): health, the task table, classify with label names, a short
loadgen run's summary, a server that goes away mid-run, the no-server and bad-URL messages,
and a local `pets serve` started and stopped from the page."""
from __future__ import annotations

import math
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import pets  # noqa: E402
from pets.batching.cost import data_dir  # noqa: E402
from pets.server.config import ServerConfig  # noqa: E402
from pets.server.run import ServerThread, free_port  # noqa: E402
from pets.serving import engine_for_trace, load_trace  # noqa: E402

from tests.app.conftest import errors, finish_job, open_page  # noqa: E402

TRACE = "poisson-uniform-8tasks.csv"  # task-0 .. task-7, ~20 req/s
LABELS = ("negative", "positive")


def engine() -> pets.PetsEngine:
    """The trace's random tasks plus one with label names."""
    eng = engine_for_trace(load_trace(data_dir() / "traces" / TRACE), "bert-tiny")
    eng.add_task(pets.TaskSpec(name="sentiment", pet="lora", rank=4, num_labels=2, labels=LABELS))
    return eng


@pytest.fixture(scope="module")
def server():
    with ServerThread(engine(), ServerConfig(max_wait_ms=2.0)) as s:
        yield s


def at_url(url: str):
    at = open_page("5_Server")
    at.text_input(key="srv_url").set_value(url)
    return at.run()


def warnings(at) -> list[str]:
    return [w.value for w in at.warning]


COLUMN_OF = {"srv_tasks": "pet", "srv_classified": "all probabilities",
             "srv_lg_summary": "throughput_rps"}  # AppTest keeps no key of a dataframe


def frames(at, key: str) -> list:
    return [d.value for d in at.dataframe if COLUMN_OF[key] in d.value.columns]


def frame(at, key: str):
    return frames(at, key)[0]


def test_health_tasks_and_live_charts(server):
    at = at_url(server.url)
    assert not at.exception and not errors(at) and not warnings(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Model"] == "bert-tiny" and metrics["Tasks"] == "9"
    tasks = frame(at, "srv_tasks")
    assert list(tasks.columns) == ["name", "pet", "labels", "bytes"]
    assert set(tasks.name) == {f"task-{i}" for i in range(8)} | {"sentiment"}
    assert tasks.set_index("name").labels["sentiment"] == "negative, positive"
    assert {c.key for c in at.get("plotly_chart")} == {
        "srv_chart_throughput", "srv_chart_queue", "srv_chart_latency", "srv_chart_tasks"}
    at.selectbox(key="srv_lg_trace").set_value("lifecycle-demo.csv").run()
    assert any("removes task-1" in i.value for i in at.info)  # before it is sent


def test_classify_shows_label_names(server):
    at = at_url(server.url)
    at.multiselect(key="srv_classify_tasks").set_value(["sentiment", "task-3"])
    at.text_area(key="srv_text").set_value("A lovely, moving film.")
    at.button(key="srv_classify").click().run()
    assert not at.exception and not errors(at)
    df = frame(at, "srv_classified").set_index("task")
    assert df.label["sentiment"] in LABELS and df.label["task-3"] in ("label 0", "label 1")
    assert "negative: 0." in df["all probabilities"]["sentiment"]
    assert df["all probabilities"]["task-3"].startswith("label 0: 0.")
    assert ((df.probability >= 0.5) & (df.probability <= 1.0)).all()
    at.text_area(key="srv_text").set_value("   ")
    at.button(key="srv_classify").click().run()
    assert any("Type a sentence" in e for e in errors(at))


def test_unknown_task_is_a_message(server):
    from lib.server_client import classify

    out = classify(server.url, "no-such-task", "hello")
    assert out.error.startswith("404") and "no-such-task" in out.error and not out.probs


def test_short_loadgen_run_ends_in_its_summary(server):
    at = at_url(server.url)
    assert at.selectbox(key="srv_lg_trace").value == TRACE
    assert not at.checkbox(key="srv_lg_map").value  # the server holds the trace's tasks
    at.number_input(key="srv_lg_seconds").set_value(2.0)
    at.button(key="srv_lg_run").click().run()
    job = finish_job(at, "srv_lg_job")
    assert job.ok, job.error
    assert not at.exception and not errors(at)
    s = frame(at, "srv_lg_summary").iloc[0]
    assert 20 <= s.requests <= 80 and s.completed == s.requests  # ~2 s at ~20 req/s
    assert s.throughput_rps > 0 and s.p99_ms >= s.p50_ms > 0
    assert any("== sent" in c.value for c in at.caption)
    assert {m.label for m in at.metric} >= {"Sent", "Completed", "Throughput (req/s)", "p99 (ms)"}
    from lib.server_metrics import latency_percentiles, per_task, rates

    history = at.session_state["srv_history"]  # one /metrics sample per page run
    assert len(history.samples) >= 2 and rates(history).completed_rps.max() > 0
    assert per_task(history.latest).completed.sum() >= s.completed
    assert latency_percentiles(history).p99_ms.max() > 0


def test_metrics_history_and_histogram_quantiles():
    from lib.server_metrics import History, Sample, histogram_quantile, latency_percentiles, rates

    buckets = [(0.01, 10.0), (0.1, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01 + 0.09 * 40 / 80)
    assert histogram_quantile(0.05, buckets) == pytest.approx(0.005)
    assert histogram_quantile(0.99, [(0.1, 0.0), (float("inf"), 5.0)]) == 0.1
    assert math.isnan(histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]))

    def sample(t, done, lat):
        return Sample(t, {("a", "completed"): done}, ((0.01, lat), (float("inf"), lat)))

    h = History("u")
    for t, done in ((0.0, 0.0), (2.0, 10.0), (4.0, 30.0)):
        h.add(sample(t, done, done))
    assert list(rates(h).completed_rps) == [5.0, 10.0]
    assert latency_percentiles(h).p50_ms.iloc[-1] == pytest.approx(5.0)  # within the 0-10 ms bucket
    h.add(sample(6.0, 1.0, 1.0))  # counters went back: a restarted server
    assert len(h.samples) == 1


def test_server_gone_mid_run():
    small = engine_for_trace(load_trace(data_dir() / "traces" / TRACE), "bert-tiny")
    s = ServerThread(small, ServerConfig(max_wait_ms=2.0)).start()
    at = at_url(s.url)
    at.number_input(key="srv_lg_seconds").set_value(3.0)
    at.button(key="srv_lg_run").click().run()
    job = at.session_state["srv_lg_job"]
    deadline = time.monotonic() + 60
    while job.progress < 0.3 and not job.done and time.monotonic() < deadline:
        time.sleep(0.1)  # the measuring process starts, then sends for a while
    s.stop()
    job = finish_job(at, "srv_lg_job")
    assert job.ok, job.error
    assert not at.exception
    summary = frame(at, "srv_lg_summary").iloc[0]
    assert summary.failed > 0
    assert summary.completed + summary.rejected + summary.failed == summary.requests
    assert any("no server answers" in w for w in warnings(at))
    assert any("connection error" in w for w in warnings(at))


def test_no_server_and_bad_url_messages():
    at = at_url(f"http://127.0.0.1:{free_port()}")
    assert not at.exception and not errors(at)
    assert any("no server answers" in w and "pets serve" in w for w in warnings(at))
    assert not frames(at, "srv_tasks")
    at.text_input(key="srv_url").set_value("not a url at all").run()
    assert not at.exception
    assert any("is not a server URL" in e for e in errors(at))


def test_minilm_without_a_zoo_says_what_to_do():
    at = at_url(f"http://127.0.0.1:{free_port()}")
    at.selectbox(key="srv_backbone").set_value(pets.config.MINILM_NAME)
    at.button(key="srv_start").click().run()
    assert not at.exception
    assert any("no trained tasks" in e and "pets zoo" in e for e in errors(at))


@pytest.mark.slow  # a `pets serve` process: ~10 s to load and warm up
def test_start_and_stop_a_local_server():
    from lib.server_local import local_server

    url = f"http://127.0.0.1:{free_port()}"
    at = at_url(url)
    at.button(key="srv_start").click().run()
    assert not at.exception and not errors(at)
    proc = local_server(url)
    assert proc is not None and proc.running
    assert any("`pets serve` is starting" in i.value for i in at.info)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _healthy(url):
            assert proc.running, proc.log_tail()
            time.sleep(0.3)
        at.run()
        assert frame(at, "srv_tasks").shape[0] == 8  # the default trace's random tasks
        at.button(key="srv_stop").click().run()
        assert not proc.running
        assert any("no server answers" in w for w in warnings(at))
    finally:
        proc.stop()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
