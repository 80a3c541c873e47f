"""`pets loadgen` against a live server: the replay's CSV and summary, every request
accounted for (completed + rejected + failed == sent)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from pets.cli import main
from pets.errors import LoadgenError
from pets.server.config import ServerConfig
from pets.server.loadgen import LoadgenConfig, run_loadgen
from pets.server.run import ServerThread, free_port
from pets.serving import TraceSpec, engine_for_trace, generate_trace, save_trace
from pets.serving.metrics import RequestRecord
from pets.serving.trace import Trace, TraceRow

TRACE = generate_trace(TraceSpec(requests=60, rate=200.0, tasks=4, mean_len=12, std_len=4,
                                 max_len=32, seed=3))


@pytest.fixture(scope="module")
def live():
    with ServerThread(engine_for_trace(TRACE, "bert-tiny"), ServerConfig(max_wait_ms=2.0)) as s:
        yield s


def _accounted(summary: dict) -> None:
    assert summary["completed"] + summary["rejected"] + summary["failed"] == summary["requests"]


def test_loadgen_completes_a_small_trace(live):
    report = run_loadgen(TRACE, LoadgenConfig(url=live.url))
    s = report.summary()
    assert s["requests"] == 60 and s["completed"] == 60
    _accounted(s)
    assert s["executor"] == "online" and s["system"] == "pets@online" and s["policy"] == "best"
    assert s["throughput_rps"] > 0 and s["p50_ms"] > 0 and 0 < s["batches"] <= 60
    assert s["offered_rps"] == pytest.approx(60 / (TRACE.rows[-1].arrival_s - TRACE.rows[0].arrival_s))
    df = report.frame()
    assert list(df.columns) == [*RequestRecord.__dataclass_fields__, "latency"]
    assert (df.finish >= df.start).all() and (df.start >= df.arrival - 0.05).all()


def test_loadgen_counts_rejections_and_failures():
    rows = TRACE.rows[:20] + (TraceRow(0.01, "not-loaded", 8), TraceRow(0.02, "task-0", 10_000))
    trace = Trace(tuple(sorted(rows, key=lambda r: r.arrival_s)))
    cfg = ServerConfig(queue_limit=2, max_wait_ms=50.0)
    with ServerThread(engine_for_trace(TRACE, "bert-tiny"), cfg) as s:
        report = run_loadgen(trace, LoadgenConfig(url=s.url))
    s = report.summary()
    _accounted(s)
    assert s["requests"] == 22 and s["rejected"] >= 2
    reasons = " ".join(report.frame().reason.astype(str))
    assert "404 unknown_task" in reasons and "not sent" in reasons


def test_loadgen_timeouts_are_failures(live):
    report = run_loadgen(Trace(TRACE.rows[:5]), LoadgenConfig(url=live.url, timeout_s=1e-4))
    s = report.summary()
    _accounted(s)
    assert s["failed"] >= 1 and "timeout" in " ".join(report.frame().reason)


def test_loadgen_duration_limits_what_is_sent(live):
    report = run_loadgen(TRACE, LoadgenConfig(url=live.url, duration_s=0.05))
    sent = [r for r in TRACE.rows if r.arrival_s - TRACE.rows[0].arrival_s <= 0.05]
    assert report.summary()["requests"] == len(sent) < 60


def test_loadgen_sends_lifecycle_rows(live):
    spec = json.dumps({"name": "x", "pet": "bitfit", "num_labels": 2})
    rows = (TraceRow(0.0, "added", event="add_task", spec=spec), TraceRow(0.05, "added", 8),
            TraceRow(0.1, "added", event="remove_task"))
    report = run_loadgen(Trace(rows), LoadgenConfig(url=live.url))
    assert report.summary()["completed"] == 1
    assert [line.split(": ")[1] for line in report.log] == ["ok", "ok"]


def test_loadgen_says_when_no_server_answers():
    with pytest.raises(LoadgenError, match="pets serve"):
        run_loadgen(TRACE, LoadgenConfig(url=f"http://127.0.0.1:{free_port()}"))


@pytest.mark.parametrize("field,value", [("timeout_s", 0), ("duration_s", float("inf")),
                                         ("url", "127.0.0.1:8000"), ("max_connections", 0)])
def test_loadgen_options_are_checked(field, value):
    with pytest.raises(LoadgenError, match=field):
        LoadgenConfig(**{field: value})


def test_pets_loadgen_cli_writes_the_replay_csv(live, tmp_path, capsys):
    path = save_trace(TRACE, tmp_path / "small.csv")
    assert main(["loadgen", str(path), "--url", live.url, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "sent 60 = completed 60 + rejected 0 + failed 0" in out
    df = pd.read_csv(tmp_path / "out" / "small-online.csv")
    assert len(df) == 60 and set(df.status) == {"completed"}


def test_pets_loadgen_cli_error_is_one_line(tmp_path, capsys):
    path = save_trace(TRACE, tmp_path / "small.csv")
    assert main(["loadgen", str(path), "--url", f"http://127.0.0.1:{free_port()}"]) == 2
    assert capsys.readouterr().err.startswith("pets: error: cannot reach the server")
