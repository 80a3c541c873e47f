"""Real replays warm every system and task up before the clock starts."""
from __future__ import annotations

import pytest

from pets.serving import ServeConfig, TraceSpec, engine_for_trace, generate_trace
from pets.serving.loop import ServingLoop
from pets.serving.systems import make_system

TRACE = generate_trace(TraceSpec(requests=30, rate=200, tasks=5, seed=1))


class Counting:
    """Wraps a system's run to count batches and the tasks seen before the first timed one."""

    def __init__(self, system):
        self.system, self.batches, self.tasks = system, 0, set()
        inner = system.run

        def run(batch):
            self.batches += 1
            self.tasks.update(batch.tasks)
            return inner(batch)
        system.run = run


@pytest.mark.parametrize("system", ["pets", "seqs", "base"])
@pytest.mark.parametrize("warm", [True, False])
def test_warm_up_runs_every_task_first(system, warm):
    eng = engine_for_trace(TRACE, "bert-tiny")
    counting = Counting(make_system(system, eng))
    cfg = ServeConfig(executor="real", max_batch=2, warm_up=warm)
    report = ServingLoop(counting.system, cfg).run(TRACE, progress=False)
    timed = report.summary()["batches"]
    assert counting.batches == timed + (2 * 3 if warm else 0)  # 5 tasks, 2 per batch, 2 rounds
    assert {r.id for r in report.records} == set(range(30))  # warm-up queries never reported
    if warm:
        assert counting.tasks == set(TRACE.tasks)
