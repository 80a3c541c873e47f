"""A two-node Ray cluster on this machine: one worker per node, and a node removed mid-run."""
from __future__ import annotations

import threading

import pytest
import torch

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402

from pets.cluster.live import replay_live  # noqa: E402
from pets.cluster.live.hosts import host_catalog  # noqa: E402
from pets.server.live import live_config  # noqa: E402
from pets.serving import TraceSpec, generate_trace  # noqa: E402

TRACE = generate_trace(TraceSpec(requests=400, rate=400, tasks=6, alpha=1.0, seed=4, max_len=48))


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    ray.init(address=c.address, log_to_driver=False, logging_level="ERROR")
    yield c
    ray.shutdown()
    c.shutdown()


def test_workers_on_two_nodes_survive_a_node_removed(cluster):
    catalog = host_catalog(TRACE.tasks, "bert-tiny", dtype=torch.float32)
    second = cluster.list_all_nodes()[1]
    removal: list[threading.Thread] = []

    def remove_mid_run(core) -> None:  # the trace lasts ~1 s
        if core.now() > 0.4 and not removal:
            removal.append(threading.Thread(target=cluster.remove_node, args=(second,)))
            removal[0].start()

    rep = replay_live(TRACE, catalog, live_config(workers=2, balancer="static"), hook=remove_mid_run)
    removal[0].join()
    s = rep.summary()
    assert s["nodes"] == 2, "one worker per node (each node has one CPU)"
    assert s["completed"] + s["rejected"] + s["failed"] == s["requests"] == 400
    assert s["completed"] == 400, rep.frame().reason.value_counts()
    (death,) = rep.deaths
    assert death.tasks and death.recovered_s >= death.detected_s
