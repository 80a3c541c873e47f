"""The scheduler plans outside the queue's lock: submits go on while the planner works, and a
task removed meanwhile never reaches the batch (its requests end with TaskRemovedError)."""
from __future__ import annotations

import threading

import pytest

from pets.errors import ServerStoppedError, TaskRemovedError
from pets.server.config import ServerConfig
from pets.server.scheduler import Scheduler

from tests.server.conftest import small_engine

IDS = [101, 2000, 3000, 102]


class HeldPlanner:
    """Wraps the scheduler's policy: the first plan waits until the test releases it."""

    def __init__(self, plan) -> None:
        self.plan, self.planning, self.release = plan, threading.Event(), threading.Event()
        self.calls = 0

    def __call__(self, queue, cost, **kw):
        self.calls += 1
        if self.calls == 1:
            self.planning.set()
            assert self.release.wait(30), "the test never released the planner"
        return self.plan(queue, cost, **kw)


@pytest.fixture()
def held():
    sched = Scheduler(small_engine(), ServerConfig(max_wait_ms=50.0, warm_up=False))
    planner = HeldPlanner(sched._plan)
    sched._plan = planner
    sched.start()
    yield sched, planner
    planner.release.set()
    sched.stop()


def _in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    return t, out


def test_submit_does_not_wait_for_the_planner(held):
    sched, planner = held
    first = sched.submit("lora", [IDS, IDS])  # two: a lone request runs unplanned
    assert planner.planning.wait(30)
    t, out = _in_thread(lambda: sched.submit("adapter", [IDS, IDS]))
    t.join(10)
    assert not t.is_alive(), "submit waited for the planner"
    assert sched.queue_length() >= 2
    planner.release.set()
    results = [f.result(30) for f in first + out[0]]
    assert [r.task for r in results] == ["lora", "lora", "adapter", "adapter"]


def test_a_task_removed_while_planning_never_runs(held):
    sched, planner = held
    kept = sched.submit("lora", [IDS])
    gone = sched.submit("diff", [IDS, IDS])
    assert planner.planning.wait(30)
    assert sched.remove_task("diff") == 2
    planner.release.set()
    assert kept[0].result(30).task == "lora"
    for f in gone:
        with pytest.raises(TaskRemovedError, match="removed"):
            f.result(30)
    assert sched.queue_length() == 0


def test_batches_run_on_the_schedulers_thread_with_its_torch_threads():
    """config.threads sets the torch threads of the one thread that warms up and runs
    batches (pets serve builds its engine on one thread, so only that thread keeps an
    OpenMP pool)."""
    import torch

    sched = Scheduler(small_engine(), ServerConfig(max_wait_ms=1.0, threads=1))
    seen = []
    run = sched.system.run
    sched.system.run = lambda batch: seen.append((threading.current_thread().name,
                                                  torch.get_num_threads())) or run(batch)
    sched.start()
    try:
        assert sched.submit("lora", [IDS])[0].result(30).task == "lora"
    finally:
        sched.stop()
        torch.set_num_threads(torch.get_num_threads())  # undo the global default it changed
    assert seen and set(seen) == {("pets-scheduler", 1)}  # warm-up batches included


def test_a_failed_start_raises_and_leaves_the_scheduler_stopped():
    sched = Scheduler(small_engine(), ServerConfig(max_wait_ms=1.0))

    def broken() -> None:
        raise RuntimeError("no memory for the copies")
    sched.system.prepare = broken
    with pytest.raises(RuntimeError, match="no memory"):
        sched.start()
    assert not sched.ready.is_set()
    with pytest.raises(ServerStoppedError, match="not running"):
        sched.submit("lora", [IDS])


@pytest.mark.parametrize("threads", [-1, 1.5, True])
def test_server_threads_must_be_a_count(threads):
    from pets.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError, match="threads"):
        ServerConfig(threads=threads)


def test_task_changes_in_other_threads_compute_on_one_and_restore_it(held):
    import torch

    sched, planner = held
    planner.release.set()
    before = torch.get_num_threads()
    seen = []
    sched.add_task(lambda eng: seen.append(torch.get_num_threads()) or eng.task("lora"))
    assert seen == [1] and torch.get_num_threads() == before
