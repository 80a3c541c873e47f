"""Live actors killed mid-run (ray.kill from the driver, or the process exiting from inside):
nothing is lost, the dead actor's tasks are re-placed from the host copy."""
from __future__ import annotations

import pytest
import torch

ray = pytest.importorskip("ray")

from pets.cluster import Fault  # noqa: E402
from pets.cluster.live import replay_live  # noqa: E402
from pets.cluster.live.hosts import host_catalog  # noqa: E402
from pets.server.live import live_config  # noqa: E402
from tests.cluster.test_live import TRACE, queries_of, same_as_host  # noqa: E402


@pytest.fixture(scope="module")
def catalog():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield host_catalog(TRACE.tasks, "bert-tiny", dtype=torch.float32)
    ray.shutdown()


def test_killed_actor_loses_nothing(catalog):
    rep = replay_live(TRACE, catalog, live_config(workers=2, balancer="static", keep_outputs=True,
                                                 faults=(Fault(0.05, 1),)))
    s = rep.summary()
    assert s["completed"] + s["rejected"] + s["failed"] == s["requests"] == 300
    assert s["completed"] == 300, rep.frame().reason.value_counts()
    (death,) = rep.deaths
    assert death.worker == 1 and death.tasks, "the tasks only worker 1 held were re-placed"
    assert 0 <= s["recovery_s"] < 5 and s["recoveries"] == len(death.tasks)
    df = rep.frame()
    assert (df[df.finish > death.detected_s + 0.01].worker == 0).all()
    assert s["rerouted"] >= death.rerouted > 0  # its own requests, and those parked meanwhile
    same_as_host(rep, catalog, queries_of(catalog))


def test_a_worker_crashing_from_inside_loses_nothing(catalog):
    rep = replay_live(TRACE, catalog, live_config(workers=2, balancer="static",
                                                  crashes=(Fault(0.05, 0),)))
    s = rep.summary()
    assert (s["completed"], s["rejected"], s["failed"], s["stale"]) == (300, 0, 0, 0)
    (death,) = rep.deaths
    assert death.worker == 0 and s["recovery_s"] >= 0 and "lost" in rep.report.log[0]
