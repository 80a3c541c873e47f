"""The event core and the loops' public hook: order, seeding, watching and stopping."""
from __future__ import annotations

from enum import IntEnum

import pytest

from pets.cluster import Catalog, ClusterConfig, ClusterLoop
from pets.serving import ServeConfig, ServingLoop, TraceSpec, engine_for_trace, generate_trace, make_system
from pets.serving.events import EventCore

TRACE = generate_trace(TraceSpec(requests=120, rate=300, cv=2.0, tasks=4, seed=1))


class K(IntEnum):
    FIRST = 0
    SECOND = 1


def test_core_orders_by_time_then_kind_then_push_order_and_handlers_chain():
    seen = []
    core = EventCore({K.FIRST: lambda p: seen.append(("first", p)) or [],
                      K.SECOND: lambda p: seen.append(("second", p)) or ([(2.0, K.FIRST, "chained")]
                                                                         if p == "b" else [])},
                     seed=0)
    for t, k, p in [(1.0, K.SECOND, "b"), (1.0, K.FIRST, "a"), (1.0, K.SECOND, "c"), (0.5, K.SECOND, "z")]:
        core.push(t, k, p)
    assert core.run() is False and not core.pending
    assert seen == [("second", "z"), ("first", "a"), ("second", "b"), ("second", "c"), ("first", "chained")]
    assert core.now == 2.0


def test_core_stops_when_asked_and_keeps_what_was_left():
    core = EventCore({K.FIRST: lambda p: []}, seed=0)
    for t in (1.0, 2.0, 3.0):
        core.push(t, K.FIRST, t)
    assert core.run(before=lambda t: t > 1.5) is True
    assert core.now == 1.0 and [e[0] for e in core.left] == [2.0, 3.0]


@pytest.fixture(scope="module")
def engine():
    return engine_for_trace(TRACE, "bert-tiny")


def test_hook_watches_without_changing_the_replay(engine):
    plain = ServingLoop(make_system("pets", engine)).run(TRACE, progress=False)
    seen = []
    watched = ServingLoop(make_system("pets", engine)).run(
        TRACE, progress=False, hook=lambda p: seen.append((p.now, p.settled)))
    assert watched.frame().equals(plain.frame())
    assert [t for t, _ in seen] == sorted(t for t, _ in seen)
    assert [s for _, s in seen] == sorted(s for _, s in seen) and seen[-1][1] <= len(TRACE.requests)


def test_hook_stops_a_replay_and_every_request_is_still_accounted_for(engine):
    records = []

    def hook(p):
        records[:] = p.records()
        return p.now > 0.1
    rep = ServingLoop(make_system("pets", engine), ServeConfig()).run(TRACE, progress=False, hook=hook)
    s = rep.summary()
    assert s["requests"] == len(TRACE.requests) == s["completed"] + s["rejected"] + s["failed"]
    stopped = [r for r in rep.records if r.reason.startswith("replay stopped")]
    assert stopped and all(r.status == "failed" for r in stopped)
    assert 0 < len(records) < len(TRACE.requests)


def test_cluster_loop_takes_the_same_hook():
    catalog = Catalog.for_trace(TRACE, "bert-tiny")
    rep = ClusterLoop(catalog, ClusterConfig(workers=2)).run(TRACE, progress=False,
                                                              hook=lambda p: p.settled >= 30)
    s = rep.summary()
    assert s["requests"] == len(TRACE.requests) == s["completed"] + s["rejected"] + s["failed"]
    assert s["completed"] >= 30 and s["failed"] > 0
