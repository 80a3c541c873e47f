"""Seeded trace generators: arrival processes, task popularity, lengths (registries).

Arrivals: `poisson` (rate) or `gamma` (rate, cv; cv = 1 is Poisson, > 1 burstier).
Popularity: `uniform`, `zipf` (P(rank k) ~ k^-alpha), `powerlaw` (S-LoRA style:
task shares from a power-law draw with exponent alpha). Lengths: `fixed`,
`normal` (mean, std, clipped to [1, max_len]), `lognormal` (mean, std of the length).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pets.errors import InvalidSpecError
from pets.serving.trace import Trace, TraceRow


def _poisson(rng, n, rate, cv):
    return np.cumsum(rng.exponential(1.0 / rate, n))


def _gamma(rng, n, rate, cv):
    shape = 1.0 / (cv * cv)
    return np.cumsum(rng.gamma(shape, 1.0 / (rate * shape), n))


def _uniform(rng, n_tasks, alpha):
    return np.full(n_tasks, 1.0 / n_tasks)


def _zipf(rng, n_tasks, alpha):
    w = 1.0 / np.arange(1, n_tasks + 1) ** alpha
    return w / w.sum()


def _powerlaw(rng, n_tasks, alpha):
    w = np.sort(rng.pareto(alpha, n_tasks) + 1.0)[::-1]
    return w / w.sum()


def _fixed(rng, n, mean, std, max_len):
    return np.full(n, int(round(mean)))


def _normal(rng, n, mean, std, max_len):
    return np.rint(rng.normal(mean, std, n))


def _lognormal(rng, n, mean, std, max_len):
    sigma2 = np.log(1 + (std / mean) ** 2)
    return np.rint(rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), n))


ARRIVALS: dict[str, Callable] = {"poisson": _poisson, "gamma": _gamma}
POPULARITY: dict[str, Callable] = {"uniform": _uniform, "zipf": _zipf, "powerlaw": _powerlaw}
LENGTHS: dict[str, Callable] = {"fixed": _fixed, "normal": _normal, "lognormal": _lognormal}


# Bounds on what one generated trace may hold (the CLI and dashboard pass user numbers).
MAX_REQUESTS = 10_000_000
MAX_TASKS = 100_000
MAX_LEN = 1_000_000


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_in(v: object, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


@dataclass(frozen=True, kw_only=True)
class TraceSpec:
    """What to generate. Tasks are named by `task_names` or `task-<i>`."""

    requests: int = 1000
    rate: float = 50.0
    arrival: str = "gamma"
    cv: float = 1.0
    tasks: int = 32
    popularity: str = "zipf"
    alpha: float = 1.0
    lengths: str = "normal"
    mean_len: float = 32.0
    std_len: float = 8.0
    max_len: int = 128
    seed: int = 0
    task_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for field, table in (("arrival", ARRIVALS), ("popularity", POPULARITY), ("lengths", LENGTHS)):
            if getattr(self, field) not in table:
                raise InvalidSpecError(f"unknown {field} {getattr(self, field)!r}; choose {sorted(table)}")
        checks = {"requests": _int_in(self.requests, 1, MAX_REQUESTS),
                  "rate": _finite(self.rate) and 1e-6 <= self.rate <= 1e7,
                  "cv": _finite(self.cv) and 0 < self.cv <= 100,
                  "tasks": _int_in(self.tasks, 1, MAX_TASKS),
                  "alpha": _finite(self.alpha) and 0 < self.alpha <= 100,
                  "mean_len": _finite(self.mean_len) and 1 <= self.mean_len <= MAX_LEN,
                  "std_len": _finite(self.std_len) and 0 <= self.std_len <= MAX_LEN,
                  "max_len": _int_in(self.max_len, 1, MAX_LEN),
                  "seed": _int_in(self.seed, 0, 2**63 - 1)}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise InvalidSpecError(
                f"trace spec fields out of range: {bad}; requests 1..{MAX_REQUESTS:,}, tasks "
                f"1..{MAX_TASKS:,}, rate 1e-6..1e7 per second, cv and alpha finite in (0, 100], "
                f"mean_len 1..{MAX_LEN}, std_len 0..{MAX_LEN} (finite), max_len 1..{MAX_LEN}, "
                "seed >= 0")
        if self.task_names and len(self.task_names) != self.tasks:
            raise InvalidSpecError("task_names must name every task")


def generate_trace(spec: TraceSpec) -> Trace:
    rng = np.random.default_rng(spec.seed)
    times = ARRIVALS[spec.arrival](rng, spec.requests, spec.rate, spec.cv)
    with np.errstate(all="ignore"):
        probs = POPULARITY[spec.popularity](rng, spec.tasks, spec.alpha)
    if not np.isfinite(probs).all():
        raise InvalidSpecError(f"popularity {spec.popularity!r} with alpha {spec.alpha:g} over "
                               f"{spec.tasks} tasks overflows; use a larger alpha")
    which = rng.choice(spec.tasks, size=spec.requests, p=probs)
    lengths = np.clip(LENGTHS[spec.lengths](rng, spec.requests, spec.mean_len, spec.std_len,
                                            spec.max_len), 1, spec.max_len).astype(int)
    names = spec.task_names or task_names(spec.tasks)
    rows = tuple(TraceRow(round(float(t - times[0]), 6), names[k], int(n))
                 for t, k, n in zip(times, which, lengths))
    return Trace(rows, name=f"{spec.arrival}-{spec.popularity}-{spec.requests}")


def task_names(tasks: int) -> tuple[str, ...]:
    """The names generated traces give their tasks: task-0 .. task-{tasks-1}."""
    return tuple(f"task-{i}" for i in range(tasks))


def every_task(tasks: int) -> Trace:
    """A trace naming each of `task_names(tasks)` once, in order: what an engine built for any
    trace generated over `tasks` tasks must load (`engine_for_trace` gives PET types in
    this order)."""
    return Trace(tuple(TraceRow(0.0, name, 1) for name in task_names(tasks)), name="tasks")
