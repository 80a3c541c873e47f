"""The online server (`pets serve`): an HTTP API over one engine, whose scheduler thread batches
concurrent requests with the replay's policies, cost model and dispatch code; and its client
(`pets loadgen`), which replays a trace against it open-loop and reports like `pets replay`.

Layer: beside `pets.cluster`, above `pets.serving`; only front ends (`pets.cli`, `app/`)
import it.
"""
from pets.server.config import SERVER_SYSTEMS, ServerConfig
from pets.server.scheduler import Output, Scheduler

__all__ = ["SERVER_SYSTEMS", "Output", "Scheduler", "ServerConfig"]
