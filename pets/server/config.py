"""What one server is configured with: its system, batching policy and queue bounds.

The batching fields mean what they mean in a replay (`pets.serving.loop.ServeConfig`) and are
checked by it, so a server and a replay with the same options batch the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

from pets.errors import InvalidSpecError
from pets.serving.loop import DEFAULT_SLO_MS, ServeConfig

# Systems a server can run: each returns one `Result` per query (peft returns a model output).
SERVER_SYSTEMS = ("pets", "seqs", "base")


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Options of `pets serve` that shape batching and admission."""

    system: str = "pets"
    policy: str = "best"
    max_batch: int = 32
    max_wait_ms: float = 5.0
    queue_limit: int = 1024
    window: int = 4
    warm_up: bool = True  # run every task's operators once before /health says ok
    threads: int = 0  # torch threads of the scheduler's thread, which runs every batch (0: as is)

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise InvalidSpecError(f"threads {self.threads!r}: give the torch threads batches run "
                                   "with (>= 1), or 0 to keep the process's setting")
        if self.system not in SERVER_SYSTEMS:
            raise InvalidSpecError(
                f"unknown server system {self.system!r}; choose one of {list(SERVER_SYSTEMS)}")
        self.serve_config()  # the replay's checks of the shared batching fields

    def serve_config(self, slo_ms: float | None = DEFAULT_SLO_MS) -> ServeConfig:
        """The replay configuration that batches exactly like this server (real executor)."""
        return ServeConfig(policy=self.policy, executor="real", max_batch=self.max_batch,
                           max_wait_ms=self.max_wait_ms, queue_limit=self.queue_limit,
                           window=self.window, slo_ms=slo_ms, warm_up=self.warm_up)
