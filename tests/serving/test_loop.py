"""The serving loop: accounting, determinism, overload, lifecycle, real == engine."""
from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pets
from pets.serving import (ServeConfig, Trace, TraceRow, TraceSpec, engine_for_trace,
                          generate_trace, replay)

TRACE = generate_trace(TraceSpec(requests=200, rate=400, cv=2.0, tasks=6, seed=0))


@pytest.fixture(scope="module")
def engine():
    return engine_for_trace(TRACE, "bert-tiny")


def counts(report):
    s = report.summary()
    return s["completed"], s["rejected"], s["failed"], s["requests"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rate=st.floats(10, 5000), cv=st.floats(0.5, 4), queue=st.integers(1, 64),
       policy=st.sampled_from(sorted(pets.batching.POLICIES)), max_batch=st.integers(1, 16),
       seed=st.integers(0, 10))
def test_every_request_is_accounted_for(engine, rate, cv, queue, policy, max_batch, seed):
    tr = generate_trace(TraceSpec(requests=60, rate=rate, cv=cv, tasks=6, seed=seed))
    rep = replay(tr, engine, config=ServeConfig(policy=policy, queue_limit=queue,
                                                max_batch=max_batch), progress=False)
    done, rejected, failed, n = counts(rep)
    assert done + rejected + failed == n == 60
    assert all(r.status in ("completed", "rejected", "failed") for r in rep.records)
    assert all(r.reason for r in rep.records if r.status != "completed")
    finished = [r for r in rep.records if r.status == "completed"]
    assert all(r.arrival <= r.start <= r.finish for r in finished)


def test_sim_is_deterministic(engine):
    a = replay(TRACE, engine, progress=False).frame()
    b = replay(TRACE, engine, progress=False).frame()
    assert a.equals(b)


def test_overload_is_rejected_not_crashed(engine):
    tr = generate_trace(TraceSpec(requests=300, rate=1e6, tasks=6))
    rep = replay(tr, engine, config=ServeConfig(queue_limit=8, max_batch=4), progress=False)
    done, rejected, failed, n = counts(rep)
    assert rejected > 100 and done > 0 and done + rejected + failed == n
    assert {r.reason for r in rep.records if r.status == "rejected"} == {"queue full (8 waiting)"}


def test_bad_requests_are_rejected_with_reasons(engine):
    rows = (TraceRow(0.0, "task-0", 4), TraceRow(0.001, "nobody", 4),
            TraceRow(0.002, "task-1", 600), TraceRow(0.003, "task-2", 3, (101, 99999, 102)))
    rep = replay(Trace(rows), engine, progress=False)
    reasons = [r.reason for r in rep.records]
    assert reasons[0] == "" and reasons[1] == "task not loaded"
    assert "at most 512" in reasons[2] and "vocabulary" in reasons[3]


def test_lifecycle_events_take_effect_during_replay():
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="old", pet="bitfit"))
    spec = json.dumps({"name": "x", "pet": "lora", "rank": 4})
    rows = [TraceRow(0.00, "new", 5), TraceRow(0.01, "new", 0, event="add_task", spec=spec),
            TraceRow(0.02, "new", 5), TraceRow(0.03, "old", 5),
            TraceRow(0.031, "old", 0, event="remove_task"), TraceRow(0.04, "old", 5),
            TraceRow(0.05, "new", 0, event="add_task", spec="/no/such/folder")]
    rep = replay(Trace(tuple(rows)), eng, config=ServeConfig(max_wait_ms=50), progress=False)
    status = [(r.task, r.status, r.reason) for r in rep.records]
    assert status[0] == ("new", "rejected", "task not loaded")
    assert status[1][1] == "completed"
    assert status[2] == ("old", "rejected", "task removed")  # queued when its task went away
    assert status[3] == ("old", "rejected", "task not loaded")
    assert eng.tasks["new"].pet == "lora" and "old" not in eng.tasks
    assert any("failed" in line and "/no/such/folder" in line for line in rep.log)


def test_real_executor_outputs_equal_engine_infer(engine):
    from pets.serving.loop import ServingLoop
    from pets.serving.systems import make_system

    tr = generate_trace(TraceSpec(requests=40, rate=2000, tasks=6, seed=5))
    loop = ServingLoop(make_system("pets", engine),
                       ServeConfig(executor="real", keep_outputs=True, max_batch=8))
    rep = loop.run(tr, progress=False)
    assert counts(rep)[0] == 40 and len(rep.outputs) == 40
    assert rep.summary()["batches"] > 1  # really mixed into several batches
    for rid, res in rep.outputs.items():
        alone = engine.infer([loop.queries[rid]])[0]
        torch.testing.assert_close(res.pooled, alone.pooled, atol=1e-5, rtol=0)
        torch.testing.assert_close(res.logits, alone.logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("system", ["pets", "seqs", "base", "peft"])
@pytest.mark.parametrize("executor", ["sim", "real"])
def test_every_system_replays(engine, system, executor):
    tr = generate_trace(TraceSpec(requests=30, rate=500, tasks=6, seed=2))
    rep = replay(tr, engine, system=system, config=ServeConfig(executor=executor, max_batch=8),
                 progress=False)
    done, rejected, failed, n = counts(rep)
    assert done + rejected + failed == n == 30 and failed == 0
    if system == "peft":
        assert all(r.reason == "peft serves LoRA tasks only" for r in rep.records if r.status == "rejected")
        assert done == sum(engine.tasks[r.task].pet == "lora" for r in rep.records)
    else:
        assert done == 30


def test_bad_configs():
    with pytest.raises(pets.InvalidSpecError, match="policy"):
        ServeConfig(policy="lifo")
    with pytest.raises(pets.InvalidSpecError, match="executor"):
        ServeConfig(executor="quantum")
    with pytest.raises(pets.InvalidSpecError, match="queue_limit"):
        ServeConfig(queue_limit=0)
    with pytest.raises(pets.InvalidSpecError, match="unknown system"):
        replay(TRACE, pets.PetsEngine.from_preset("bert-tiny"), system="vllm")


def test_many_failing_batches_do_not_recurse(monkeypatch):
    """Every batch failing (max_batch 1, 1500 queued) ends each request failed, no RecursionError."""
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="t", pet="lora"))
    from pets.serving.systems import PetsSystem

    def boom(self, batch):
        raise pets.InvalidQueryError("synthetic failure")
    monkeypatch.setattr(PetsSystem, "predict", boom)
    rows = tuple(TraceRow(0.0, "t", 4) for _ in range(1500))
    rep = replay(Trace(rows), eng, config=ServeConfig(max_batch=1, queue_limit=2000), progress=False)
    assert counts(rep) == (0, 0, 1500, 1500)
    assert {r.reason for r in rep.records} == {"synthetic failure"}


def test_small_vocabulary_and_empty_reports():
    cfg = pets.ModelConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=64, vocab_size=500, max_position_embeddings=64)
    eng = pets.PetsEngine(pets.engine.backbone.Backbone.random(cfg))
    eng.add_task(pets.TaskSpec(name="t", pet="bitfit"))
    rep = replay(Trace((TraceRow(0.0, "t", 9),)), eng, progress=False)
    assert counts(rep) == (1, 0, 0, 1)
    spec = json.dumps({"name": "u", "pet": "lora"})
    only_events = replay(Trace((TraceRow(0.0, "u", 0, event="add_task", spec=spec),)), eng,
                         progress=False)
    assert only_events.summary()["requests"] == 0 and only_events.per_task().empty
    with pytest.raises(pets.InvalidSpecError, match="max_batch"):
        ServeConfig(max_batch=8.0)
