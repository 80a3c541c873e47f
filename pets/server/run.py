"""Running the app under uvicorn: in the foreground (`pets serve`) or in a background thread
on a free local port (tests, `pets bench serve`)."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

import uvicorn

import pets
from pets.errors import PetsError
from pets.server.app import create_app
from pets.server.config import ServerConfig
from pets.server.scheduler import Scheduler


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def uvicorn_server(engine: pets.PetsEngine, config: ServerConfig, listen: Listen,
                   *, log_level: str = "warning",
                   make_scheduler: Callable[..., Scheduler] = Scheduler) -> tuple[uvicorn.Server, Scheduler]:
    """`make_scheduler(engine, config)`: the one engine's `Scheduler`, or one with its
    interface over other workers (`pets.cluster.live.frontend.LiveScheduler`)."""
    scheduler = make_scheduler(engine, config)
    app = create_app(scheduler)
    ucfg = uvicorn.Config(app, host=listen.host, port=listen.port, log_level=log_level,
                          access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    return uvicorn.Server(ucfg), scheduler


def serve_forever(engine: pets.PetsEngine, config: ServerConfig, listen: Listen,
                  *, log_level: str = "info", make_scheduler: Callable[..., Scheduler] = Scheduler) -> None:
    """Serve until interrupted (Ctrl-C)."""
    server, _ = uvicorn_server(engine, config, listen, log_level=log_level,
                               make_scheduler=make_scheduler)
    server.run()
    if not server.started:
        raise PetsError(f"the server did not start on {listen.url}: is the port in use? "
                        "pick another with --port")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerThread:
    """A server on a free local port in a daemon thread: `with ServerThread(engine) as s:`
    then call `s.url`. Startup (warm-up included) is awaited; stop() shuts it down."""

    def __init__(self, engine: pets.PetsEngine, config: ServerConfig = ServerConfig(),
                 host: str = "127.0.0.1", port: int | None = None, *,
                 make_scheduler: Callable[..., Scheduler] = Scheduler) -> None:
        self.listen = Listen(host, port or free_port(host))
        self.server, self.scheduler = uvicorn_server(engine, config, self.listen,
                                                     make_scheduler=make_scheduler)
        self._thread = threading.Thread(target=self.server.run, name="pets-uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return self.listen.url

    def start(self, timeout_s: float = 120.0) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise PetsError(f"the server did not start on {self.url} within {timeout_s:g} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ServerProcess:
    """`pets serve ARGS...` in a child process on a free local port (its own interpreter, so a
    load generator in this process does not share its GIL). `with ServerProcess([...]) as url:`"""

    def __init__(self, args: list[str], host: str = "127.0.0.1", startup_s: float = 300.0) -> None:
        self.listen = Listen(host, free_port(host))
        self.args, self.startup_s = args, startup_s
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        import httpx

        cmd = [sys.executable, "-m", "pets.cli", "serve", "--host", self.listen.host,
               "--port", str(self.listen.port), "--log-level", "warning", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.listen.url}/health", timeout=2).status_code == 200:
                    return self.listen.url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        code = self.proc.poll()
        out = self._end()
        raise PetsError(f"`pets serve {' '.join(self.args)}` {_why_not_up(code, self.startup_s)}: "
                        f"{out[-500:]}")

    def __exit__(self, *exc) -> None:
        self._end()

    def _end(self) -> str:
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.proc = None
        return out or ""


def _why_not_up(code: int | None, startup_s: float) -> str:
    """Why a child server never answered /health: still starting, killed (an out-of-memory
    kill is SIGKILL) or exited."""
    if code is None:
        return f"did not start within {startup_s:g} s"
    if code == -signal.SIGKILL:
        return ("was killed (SIGKILL) before it started, most likely out of memory: serve fewer "
                "tasks or a smaller preset")
    return f"exited with code {code} before it started"
