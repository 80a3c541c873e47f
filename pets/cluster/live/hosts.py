"""Host copies for live runs: an engine holding every task of a trace, on a preset or on
MiniLM (the real checkpoint shipped by a package), from which the catalog loads workers."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import ray
import torch

import pets
from pets.cluster.catalog import Catalog
from pets.cluster.live.config import LiveConfig
from pets.cluster.live.pool import spawn
from pets.config import MINILM_ALIASES
from pets.pet.mixes import PAPER_MIX
from pets.serving.dispatch import query_of
from pets.serving.trace import Trace


def host_catalog(tasks: Iterable[str], model: str = "bert-tiny", *, mix=PAPER_MIX,
                 num_labels: int = 2, dtype: str | torch.dtype = "auto") -> Catalog:
    """A catalog of `tasks` (PET types round-robin over `mix`) with their parameters, on
    `model`: a preset name or 'minilm'; workers serve in the host's dtype."""
    make = pets.PetsEngine.from_pretrained if model in MINILM_ALIASES else pets.PetsEngine.from_preset
    engine = make(model, dtype=dtype)
    for i, task in enumerate(tasks):
        engine.add_task(pets.TaskSpec(name=task, num_labels=num_labels, **mix[i % len(mix)]))
    return Catalog.from_engine(engine)


def service_rates(catalog: Catalog, trace: Trace, cfg: LiveConfig, *,
                  requests: int = 256, workers: int = 1) -> list[float]:
    """Requests/s each of `workers` live actors serves of the first `requests` requests of
    `trace` queued at once, inside its actor (no driver, no Ray calls in the way), all of
    them at once (on one host, actors that serve together slow each other down). Needs Ray
    initialised."""
    states = spawn(catalog, LiveConfig(workers=workers, queue=cfg.queue, threads=cfg.threads))
    try:
        ray.get([s.actor.add.remote(catalog.specs[t], catalog.params(t))
                 for s in states for t in catalog.tasks])
        ray.get([s.actor.start.remote() for s in states])
        rng, model = np.random.default_rng(0), catalog.config
        items = [(rid, row.task, query_of(rid, row, model.vocab_size, rng).input_ids)
                 for rid, row in enumerate(trace.requests[:requests])]
        ray.get([s.actor.service_rate.remote(items[: len(items) // 4]) for s in states])  # warm-up
        return ray.get([s.actor.service_rate.remote(items) for s in states])
    finally:
        for s in states:
            ray.kill(s.actor, no_restart=True)


def service_rate(catalog: Catalog, trace: Trace, cfg: LiveConfig, *,
                 requests: int = 256, workers: int = 1) -> float:
    """The median of `service_rates`: one actor's rate while `workers` serve at once."""
    return float(np.median(service_rates(catalog, trace, cfg, requests=requests, workers=workers)))
