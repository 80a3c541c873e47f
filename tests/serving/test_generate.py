"""Generated traces name their tasks as `every_task` does, so engines built for it serve them."""
from __future__ import annotations

from pets.serving import TraceSpec, generate_trace
from pets.serving.generate import every_task


def test_every_task_names_the_tasks_generated_traces_use_in_order():
    trace = generate_trace(TraceSpec(requests=400, rate=100.0, tasks=5, alpha=0.5, seed=1))
    assert every_task(5).tasks == sorted(trace.tasks, key=lambda t: int(t.split("-")[1]))
    assert [r.task for r in every_task(3).rows] == ["task-0", "task-1", "task-2"]
