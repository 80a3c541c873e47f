"""Home page, and the page helpers that need no page: task mapping, charts on partial
frames, unsafe zips, jobs."""
from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

import pets
from pets.serving import Trace, TraceRow

from tests.app.conftest import open_page


def test_home_shows_the_workspace_and_links_every_page():
    at = open_page("Home")
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["bert-tiny", "0"]
    links = [p.proto.page.split("/")[-1] for p in at.get("page_link")]
    assert links[:3] == ["Tasks", "Replay", "Scalability"]


def test_map_tasks_renames_requests_round_robin_and_keeps_lifecycle_rows():
    from lib.replay_run import map_tasks

    rows = (TraceRow(0.0, "t0", 4), TraceRow(0.1, "t1", 4), TraceRow(0.2, "mine", 4),
            TraceRow(0.3, "new", event="add_task", spec="{}"), TraceRow(0.4, "new", 4),
            TraceRow(0.5, "t2", 4))
    out = map_tasks(Trace(rows), ["mine", "other"])
    assert [r.task for r in out.rows] == ["mine", "other", "mine", "new", "new", "mine"]


def _frame(status, arrival, start, finish, task=None):
    n = len(status)
    df = pd.DataFrame({"id": range(n), "task": task or ["a"] * n, "arrival": arrival,
                       "start": start, "finish": finish, "batch": 1, "status": status, "reason": ""})
    df["latency"] = df.finish - df.arrival
    return df


def test_charts_take_partial_and_empty_frames():
    from lib import charts

    nan = float("nan")
    partial = _frame(["completed", "", "rejected", ""], [0.0, 0.1, 0.2, 0.3],
                     [0.05, 0.2, nan, nan], [0.1, nan, nan, nan])
    frames = {"pets": partial, "seqs": partial.iloc[:0]}
    t, waiting = charts.waiting_counts(partial)
    assert list(t) == [0.0, 0.05, 0.1, 0.2, 0.3] and list(waiting) == [1, 0, 1, 0, 1]
    assert sum(charts.throughput_over_time(frames).data[0].y) * charts.bin_width(frames) == pytest.approx(1)
    assert charts.latency_percentiles(frames).data[0].y[0] == pytest.approx(100)
    assert len(charts.per_task_latency(frames).data) == 2
    counts = charts.status_counts(frames)
    assert counts.loc["pets", "pending"] == 2 and counts.loc["pets", "completed"] == 1


def test_unsafe_and_ambiguous_zips_are_refused():
    from lib.taskfiles import import_zip

    eng = pets.PetsEngine.from_preset("bert-tiny")
    for members, message in ((["../evil/pet.json"], "unsafe member path"),
                             (["a/pet.json", "b/pet.json"], "holds 2 pet.json files")):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for m in members:
                z.writestr(m, "{}")
        with pytest.raises(pets.TaskFileError, match=message):
            import_zip(eng, buf.getvalue(), filename="x.zip")
    assert not eng.tasks


def test_jobs_report_errors_as_messages_and_stop_on_request():
    from lib.jobs import Job

    def bad_input(job):
        raise pets.InvalidSpecError("rank must be >= 1")

    def endless(job):
        while True:
            job.report(0.5, "working")
            time.sleep(0.01)

    failed = Job.start("bad", bad_input)
    assert failed.wait(5) and failed.error == "rank must be >= 1" and not failed.ok
    running = Job.start("endless", endless)
    time.sleep(0.05)
    assert not running.done and running.progress == 0.5
    running.stop()
    assert running.wait(5) and running.error == "stopped"
    assert np.isfinite(running.elapsed)


def test_pets_dashboard_runs_streamlit_on_the_home_page(monkeypatch):
    import subprocess

    from pets import cli

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert cli.main(["dashboard", "--port", "8600", "--headless"]) == 0
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("app/Home.py")
    assert "--server.port=8600" in cmd and "--server.headless=true" in cmd


def test_streamlit_config_makes_no_outside_calls():
    import tomllib

    from tests.app.conftest import APP

    cfg = tomllib.loads((APP / ".streamlit" / "config.toml").read_text())
    assert cfg["browser"]["gatherUsageStats"] is False
    assert cfg["server"]["address"] == "localhost"  # no external-IP look-up when headless


def test_home_shows_no_red_arrow_on_a_saving():
    at = open_page("Home").switch_page("pages/1_Tasks.py").run()
    at.button(key="demo_tasks").click().run()
    at.switch_page("Home.py").run()
    pets_mem = next(m for m in at.metric if m.label == "PetS memory")
    assert pets_mem.proto.delta.startswith("-")  # down arrow, delta_color inverse: green
