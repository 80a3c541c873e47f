"""What the balancer sees: work routed per (task, worker) over a trailing window, and how
busy each worker was, sampled every period into a per-worker load table."""
from __future__ import annotations

from collections import defaultdict, deque
from typing import Sequence

from pets.cluster.balancers import LoadView
from pets.cluster.placement import Placement


class LoadMonitor:
    def __init__(self, workers: int, *, interval_s: float, window_s: float) -> None:
        self.interval_s, self.window_s = interval_s, window_s
        self._routed: deque = deque()  # (time, task, worker, tokens) of fresh arrivals
        self._ran: list[deque] = [deque() for _ in range(workers)]  # (start, end) of batches
        self.samples: list[dict] = []

    def routed(self, now: float, task: str, w: int, tokens: int) -> None:
        self._routed.append((now, task, w, tokens))

    def ran(self, w: int, start: float, end: float) -> None:
        self._ran[w].append((start, end))

    def moved(self, task: str, src: int, dst: int) -> None:
        """A task left `src` for `dst`: its recent work counts at its new home."""
        self._routed = deque((t, k, dst if (k == task and w == src) else w, n)
                             for t, k, w, n in self._routed)

    def busy(self, w: int, now: float) -> float:
        """Share of the last period worker `w` spent running batches."""
        since = now - self.interval_s
        ran = self._ran[w]
        while ran and ran[0][1] <= since:
            ran.popleft()
        return sum(max(0.0, min(end, now) - max(start, since)) for start, end in ran) / self.interval_s

    def view(self, now: float, workers: Sequence, placement: Placement) -> LoadView:
        """The balancer's view at `now`, and one load sample per worker recorded."""
        while self._routed and self._routed[0][0] < now - self.window_s:
            self._routed.popleft()
        work: dict[tuple[str, int], float] = defaultdict(float)
        for _, task, w, tokens in self._routed:
            work[task, w] += tokens
        for w, wk in enumerate(workers):
            for q in wk.queue:
                work[q.task, w] += q.length
        per_worker: dict[int, float] = defaultdict(float)
        for (_, w), x in work.items():
            per_worker[w] += x
        busy = {w: self.busy(w, now) for w in range(len(workers))}
        for w, wk in enumerate(workers):
            self.samples.append(dict(
                time_s=now, worker=w, alive=wk.alive, queued=len(wk.queue),
                outstanding_tokens=wk.outstanding, window_tokens=per_worker[w], busy=busy[w],
                tasks=len(placement.on(w)), pet_mb=placement.used[w] / 2**20))
        alive = tuple(w for w, wk in enumerate(workers) if wk.alive)
        running = {w: float(sum(wk.running.lengths)) if wk.running else 0.0
                   for w, wk in enumerate(workers)}
        return LoadView(now, alive, dict(work), running, busy)
