"""A `pets serve` the dashboard starts for the user: a child process of the Streamlit server
on the host and port of the page's URL, with its output in a log file. The processes live in a
registry of this module (one per URL), so a rerun or another browser tab finds and stops the
same process; they all end when the dashboard does."""
from __future__ import annotations

import atexit
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pets.config import MINILM_NAME
from pets.errors import PetsError
from pets.train.zoo import zoo_dir, zoo_folders

from lib.server_client import ServerError, health

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
BACKBONES = {  # choice -> (--backbone, what it serves)
    "bert-tiny": ("bert-tiny", "bert-tiny preset (random weights): random tasks of a shipped trace"),
    MINILM_NAME: ("minilm", f"{MINILM_NAME} (real weights): the trained task zoo"),
}
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LaunchPlan:
    """The `pets serve` options for a backbone choice, and where its tasks come from."""

    backbone: str
    args: tuple[str, ...]
    tasks_from: str


def zoo_size() -> int:
    """Trained zoo tasks there are to serve on MiniLM (0: none)."""
    try:
        return len(zoo_folders())
    except PetsError:
        return 0


def default_choice() -> str:
    """MiniLM when the trained zoo is there to serve, else bert-tiny."""
    return MINILM_NAME if zoo_size() else "bert-tiny"


def plan_launch(choice: str, trace: Path | None) -> LaunchPlan:
    """MiniLM serves the trained zoo (data/tasks/ or $PETS_ZOO_DIR); bert-tiny random tasks
    for every task of `trace` (the zoo was trained on MiniLM and cannot load on a preset)."""
    if choice not in BACKBONES:
        raise ServerError(f"unknown backbone {choice!r}; choose one of {sorted(BACKBONES)}")
    flag = BACKBONES[choice][0]
    if choice == MINILM_NAME:
        if not (n := zoo_size()):
            raise ServerError(f"no trained tasks in {zoo_dir()} for {MINILM_NAME}: train them "
                              "with `pets zoo`, or pick bert-tiny (random tasks of a shipped "
                              "trace)")
        return LaunchPlan(choice, ("--backbone", flag, "--tasks", str(zoo_dir())),
                          f"the trained zoo ({n} tasks in {zoo_dir()})")
    if trace is None:
        raise ServerError("pick a shipped trace: bert-tiny serves random tasks for its tasks")
    return LaunchPlan(choice, ("--backbone", flag, "--trace-tasks", str(trace)),
                      f"random tasks for every task of {trace.name}")


@dataclass(eq=False)
class LocalServer:
    """One `pets serve` child process."""

    url: str
    plan: LaunchPlan
    proc: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self.proc.poll()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.running:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)


_SERVERS: dict[str, LocalServer] = {}
_LOCK = threading.Lock()


def local_server(url: str) -> LocalServer | None:
    """The server this dashboard started at `url` (running or ended), if any."""
    with _LOCK:
        return _SERVERS.get(url)


def start_local(url: str, plan: LaunchPlan) -> LocalServer:
    """Start `pets serve` on `url`'s local host and port; returns at once (the page polls
    /health while it loads and warms up)."""
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)
    if parsed.scheme != "http" or host not in LOCAL_HOSTS:
        raise ServerError(f"the dashboard starts servers on this machine only (a URL like "
                          f"http://127.0.0.1:{port}); on {host} run `pets serve` there")
    with _LOCK:
        old = _SERVERS.get(url)
        if old is not None and old.running:
            raise ServerError(f"this dashboard already runs a server at {url} (pid {old.pid}); "
                              "stop it first")
        if health(url).ok:
            raise ServerError(f"a server already answers at {url}; use it, or pick another port "
                              "in the URL to start a new one")
        _check_port_free(host, port)
        log_path = Path(tempfile.gettempdir()) / f"pets-dashboard-serve-{port}.log"
        cmd = [sys.executable, "-m", "pets.cli", "serve", "--host", host, "--port", str(port),
               "--log-level", "warning", *plan.args]
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        server = LocalServer(url, plan, proc, log_path)
        _SERVERS[url] = server
        return server


def stop_local(url: str) -> bool:
    """Stop the server this dashboard started at `url`; False when there is none running."""
    server = local_server(url)
    if server is None or not server.running:
        return False
    server.stop()
    return True


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        try:
            s.bind((host, port))
        except OSError:
            raise ServerError(f"port {port} on {host} is taken by another program (it does not "
                              "answer as a pets server); pick another port in the URL") from None


@atexit.register
def _stop_all() -> None:
    for server in list(_SERVERS.values()):
        try:
            server.stop()
        except OSError:
            pass
