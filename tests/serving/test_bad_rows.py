"""One bad row never aborts a replay; bad options are PetsErrors; a non-finite output is
never counted as completed (issue 17, classes 1-3 and 6)."""
from __future__ import annotations

import csv
import json
import math
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pets
from pets.batching.query import Result
from pets.serving import (ServeConfig, Trace, TraceError, TraceRow, TraceSpec, generate_trace,
                          load_trace, replay)
from pets.serving.azure import import_azure
from pets.serving.loop import ServingLoop
from pets.serving.systems import PetsSystem, make_system
from pets.serving.trace import parse_trace

BAD_LIFECYCLE = {  # spec field of an add_task row -> what the log says
    "targets int": json.dumps({"name": "x", "pet": "lora", "targets": 5}),
    "absurd rank": json.dumps({"name": "x", "pet": "lora", "rank": 10**7}),
    "alpha Infinity": '{"name": "x", "pet": "lora", "alpha": Infinity}',
    "bias string": json.dumps({"name": "x", "pet": "diff", "bias": "false"}),
    "not json": "{oops",
    "deep json": "{" + '"a":[' * 5000 + "1" + "]" * 5000 + "}",
    "missing folder": "/no/such/folder",
    "spec list": json.dumps({"name": "x", "pet": ["lora"]}),
}


@pytest.fixture
def eng():
    e = pets.PetsEngine.from_preset("bert-tiny")
    e.add_task(pets.TaskSpec(name="a", pet="lora", num_labels=2))
    return e


def _csv(rows: list[list[str]]) -> list[str]:
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["arrival_s", "task", "seq_len", "event", "spec"])
    w.writerows(rows)
    return buf.getvalue().splitlines()


@pytest.mark.parametrize("executor", ["sim", "real"])
def test_bad_lifecycle_rows_are_logged_and_the_replay_goes_on(eng, executor):
    rows = [["0.0", "a", "8", "", ""]]
    for i, spec in enumerate(BAD_LIFECYCLE.values()):
        rows.append([f"{0.01 * (i + 1):.3f}", f"new{i}", "", "add_task", spec])
        rows.append([f"{0.01 * (i + 1) + 0.001:.3f}", "a", "8", "", ""])
    trace = parse_trace(_csv(rows), name="life.csv")
    rep = replay(trace, eng, config=ServeConfig(executor=executor, max_wait_ms=1), progress=False)
    s = rep.summary()
    assert s["completed"] == s["requests"] == len(BAD_LIFECYCLE) + 1
    failed = [line for line in rep.log if "failed" in line]
    assert len(failed) == len(BAD_LIFECYCLE)
    assert all("life.csv line" in line for line in failed)
    assert set(eng.tasks) == {"a"}


def test_a_huge_seq_len_is_rejected_at_once(eng):
    trace = parse_trace(["arrival_s,task,seq_len", "0,a,1000000000000", "0.1,a,10000000", "0.2,a,8"],
                        name="long.csv")
    start = time.perf_counter()
    rep = replay(trace, eng, config=ServeConfig(executor="real"), progress=False)
    assert time.perf_counter() - start < 5
    status = [(r.status, r.reason) for r in rep.records]
    assert status[0][0] == status[1][0] == "rejected" and status[2][0] == "completed"
    assert "long.csv line 2" in status[0][1] and "at most 512" in status[0][1]
    assert "long.csv line 3" in status[1][1]


BAD_FILES = {
    "field over the csv limit": ("arrival_s,task,seq_len,input_ids\n0,a,3,\"" + "1 " * 70000 + "\"\n",
                                 "line 2: not valid CSV"),
    "NUL byte": ("arrival_s,task,seq_len\n0,a,\x003\n", "line 2"),
    "float token id": ("arrival_s,task,seq_len,input_ids\n0,a,2,101.7 102\n", "space-separated ints"),
    "huge seq_len text": ("arrival_s,task,seq_len\n0,a," + "9" * 5000 + "\n", "not an int"),
    "nan arrival": ("arrival_s,task,seq_len\nnan,a,3\n", "finite"),
    "inf arrival": ("arrival_s,task,seq_len\ninf,a,3\n", "finite"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_trace_files_name_file_and_line(tmp_path, case):
    text, match = BAD_FILES[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TraceError, match=match) as info:
        load_trace(path)
    assert "bad.csv" in str(info.value)


def test_a_bom_is_skipped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfarrival_s,task,seq_len\n0,a,3\n")
    assert load_trace(path).rows[0].task == "a"


def test_a_binary_trace_is_a_trace_error(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(TraceError, match="UTF-8"):
        load_trace(path)


@pytest.mark.parametrize("field,value", [
    ("std_len", math.inf), ("mean_len", math.inf), ("rate", math.inf), ("rate", math.nan),
    ("cv", math.inf), ("alpha", math.inf), ("requests", 10**12), ("tasks", 10**9),
    ("max_len", 10**12), ("requests", 2.5), ("std_len", -1.0), ("seed", -1),
])
def test_generator_infinities_and_absurd_sizes(field, value):
    with pytest.raises(pets.InvalidSpecError, match=field):
        generate_trace(TraceSpec(**{field: value}))


def _azure(tmp_path, rows=("o,a,f,http," + ",".join(["1"] * 1440),)):
    header = "HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(i) for i in range(1, 1441))
    path = tmp_path / "az.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize("kw,match", [
    (dict(scale=-1.0), "scale"), (dict(scale=math.inf), "scale"), (dict(scale=math.nan), "scale"),
    (dict(scale=0.0), "scale"), (dict(top=0), "top"), (dict(seq_len=0), "seq_len"),
    (dict(minutes=0), "minutes"), (dict(start_minute=1440, minutes=2), "outside the day"),
    (dict(scale=1e4, minutes=1440), "exceed"),
])
def test_azure_options(tmp_path, kw, match):
    with pytest.raises(TraceError, match=match):
        import_azure(_azure(tmp_path, rows=("o,a,f,http," + ",".join(["1000"] * 1440),)), **kw)


def test_azure_on_a_binary_file(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(TraceError, match="bin.csv"):
        import_azure(path)


@pytest.mark.parametrize("kw", [
    dict(max_wait_ms=math.inf), dict(max_wait_ms=math.nan), dict(max_wait_ms=-1.0),
    dict(slo_ms=math.inf), dict(max_batch=10**9), dict(queue_limit=0), dict(window=True),
    dict(seed=-1),
])
def test_serve_config_bounds(kw):
    with pytest.raises(pets.InvalidSpecError, match="serving config out of range"):
        ServeConfig(**kw)


class Poisoned(PetsSystem):
    """Serves like pets but gives task `bad` NaN logits and task `worse` an inf pooled output."""

    name = "pets"

    def run(self, batch):
        out = []
        for r in super().run(batch):
            if r.task == "bad":
                r = Result(r.query_id, r.task, r.pooled, torch.full_like(r.logits, math.nan))
            elif r.task == "worse":
                r = Result(r.query_id, r.task, torch.full_like(r.pooled, math.inf), r.logits)
            out.append(r)
        return out


@pytest.fixture(scope="module")
def poisoned_engine():
    e = pets.PetsEngine.from_preset("bert-tiny")
    for name in ("good", "bad", "worse"):
        e.add_task(pets.TaskSpec(name=name, pet="bitfit", num_labels=2))
    return e


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1000), max_batch=st.integers(1, 16), rate=st.floats(50, 5000))
def test_no_completed_request_carries_a_non_finite_output(poisoned_engine, seed, max_batch, rate):
    trace = generate_trace(TraceSpec(requests=40, rate=rate, tasks=3, seed=seed, max_len=32,
                                     task_names=("good", "bad", "worse")))
    system = Poisoned(poisoned_engine, make_system("pets", poisoned_engine).cost, "mini")
    rep = ServingLoop(system, ServeConfig(executor="real", keep_outputs=True,
                                          max_batch=max_batch)).run(trace, progress=False)
    assert all(r.status in ("completed", "rejected", "failed") for r in rep.records)
    for rec in rep.records:
        if rec.status == "completed":
            out = rep.outputs[rec.id]
            assert torch.isfinite(out.pooled).all() and torch.isfinite(out.logits).all()
            assert rec.task == "good"
        elif rec.task in ("bad", "worse"):
            assert rec.status == "failed" and "non-finite output" in rec.reason


def test_a_failing_batch_does_not_abort_the_replay(poisoned_engine):
    class Exploding(PetsSystem):
        def run(self, batch):
            if any(q.task == "bad" for q in batch.queries):
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            return super().run(batch)

    trace = Trace(tuple(TraceRow(0.01 * i, ("good", "bad")[i % 2], 8) for i in range(10)))
    system = Exploding(poisoned_engine, make_system("pets", poisoned_engine).cost, "mini")
    rep = ServingLoop(system, ServeConfig(executor="real", max_batch=1)).run(trace, progress=False)
    s = rep.summary()
    assert s["completed"] == 5 and s["failed"] == 5
    assert all("OutOfMemoryError" in r.reason for r in rep.records if r.status == "failed")
