"""The Cluster page's live mode on real Ray actors: what it publishes while it serves, and
every request accounted for at the end."""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

import pets  # noqa: E402
from lib.cluster_live import LivePlan, migrations_frame, run_live, samples_frame  # noqa: E402


class RecordingJob:
    """What `Job.start_process` hands the work: report / publish / check, recorded."""

    def __init__(self) -> None:
        self.live: dict = {}
        self.published: list[dict] = []
        self.progress: list[float] = []

    def report(self, fraction: float, message: str = "") -> None:
        self.progress.append(fraction)

    def publish(self, **values) -> None:
        self.live.update(values)
        self.published.append(values)

    def check(self) -> None:
        pass


def test_live_run_publishes_loads_while_serving_and_loses_nothing():
    job = RecordingJob()
    out = run_live(LivePlan(workers=2, tasks=8, load=0.6, seconds=1.5, balancer="migrate"), job)
    s = out["summary"]
    assert s["requests"] > 0 and s["completed"] + s["rejected"] + s["failed"] == s["requests"]
    assert s["backend"] == "ray-live" and s["workers"] == 2
    assert job.published, "nothing was published while serving"
    live = samples_frame(job.published[-1]["samples"])
    assert list(migrations_frame(job.published[-1]["migrations"]).columns) == list(out["migrations"].columns)
    assert set(live.worker) == {0, 1} and (live.time_s >= 0).all()
    assert progress_rises(job.progress)
    assert len(out["loads"]) >= len(live)  # the report holds at least what was shown
    assert not ray.is_initialized()  # the run's own Ray is shut down


def progress_rises(values: list[float]) -> bool:
    return values and all(b >= a for a, b in zip(values, values[1:])) and values[-1] <= 1.0


@pytest.mark.parametrize("kw", [dict(workers=0), dict(model="gpt-2"), dict(seconds=0),
                                dict(balancer="nope"), dict(kill_at=9.0, seconds=2.0)])
def test_bad_live_plans_say_what_to_do(kw):
    with pytest.raises(pets.InvalidSpecError):
        LivePlan(**kw)
