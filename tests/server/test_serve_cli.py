"""`pets serve` as a user starts it: a subprocess on a free port, with tasks for a trace and
from a task folder; and the layer rule (only front ends import pets.server)."""
from __future__ import annotations

import ast
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import pets
from pets.cli import build_parser
from pets.errors import InvalidSpecError
from pets.server.cli import build_engine, serve
from pets.server.run import free_port
from pets.serving import TraceSpec, generate_trace, save_trace

ROOT = Path(pets.__file__).resolve().parent


@pytest.mark.slow
def test_pets_serve_subprocess_answers_and_stops(tmp_path):
    gen = generate_trace(TraceSpec(requests=30, tasks=3, popularity="uniform", seed=1))
    trace = save_trace(gen, tmp_path / "t.csv")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pets.cli", "serve", "--port", str(port),
                             "--trace-tasks", str(trace), "--dtype", "float32", "--threads", "1",
                             "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, health = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert health and health["status"] == "ok" and health["tasks"] == len(gen.tasks), proc.poll()
        r = httpx.post(f"http://127.0.0.1:{port}/v1/classify",
                       json={"task": gen.tasks[0], "text": "hello there"}, timeout=30)
        assert r.status_code == 200 and len(r.json()["results"][0]["probs"]) == 2
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM), out  # uvicorn re-raises SIGTERM after shutdown
    assert "1 torch threads; listening on http://127.0.0.1" in out


def _args(*argv):
    return build_parser().parse_args(["serve", *argv])


def test_serve_engine_from_task_folders(tmp_path):
    src = pets.PetsEngine.from_preset("bert-tiny", dtype="float32")
    src.add_task(pets.TaskSpec(name="a", pet="lora", num_labels=2))
    src.add_task(pets.TaskSpec(name="b", pet="bitfit"))
    src.save_task("a", tmp_path / "tasks" / "a")
    src.save_task("b", tmp_path / "tasks" / "b")
    eng = build_engine(_args("--tasks", str(tmp_path / "tasks"), "--dtype", "float32"))
    assert sorted(eng.tasks) == ["a", "b"]
    eng = build_engine(_args("--tasks", str(tmp_path / "tasks" / "a"), "--dtype", "float32"))
    assert list(eng.tasks) == ["a"]


@pytest.mark.parametrize("argv,match", [
    (["--backbone", "no-such-model"], "neither a preset"),
    (["--tasks", "/nonexistent/folder"], "no task folder"),
    (["--backbone", "minilm", "--trace-tasks", "t.csv"], "preset"),
])
def test_serve_engine_errors_say_what_to_do(argv, match):
    with pytest.raises(InvalidSpecError, match=match):
        build_engine(_args(*argv))


def test_serve_threads_must_be_at_least_one():
    with pytest.raises(InvalidSpecError, match="--threads 0: give at least 1"):
        serve(_args("--threads", "0"))


def test_server_options_are_checked_like_a_replay():
    from pets.server.config import ServerConfig

    with pytest.raises(InvalidSpecError, match="queue_limit"):
        ServerConfig(queue_limit=0)
    with pytest.raises(InvalidSpecError, match="system"):
        ServerConfig(system="peft")
    with pytest.raises(InvalidSpecError, match="policy"):
        ServerConfig(policy="nope")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_only_layers_above_import_pets_server():
    """pets.server sits beside pets.cluster, above pets.serving: only the benchmarks and front
    ends import it, and it imports no front end (pets.cli, the dashboard's app/ and lib)."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "server":
            offenders += [f"{rel}: {n}" for n in _imports(path)
                          if n in ("pets.cli", "pets.viz", "pets.demo") or n.split(".")[0] in ("app", "lib")]
        elif str(rel) != "cli.py" and rel.parts[0] != "bench":
            offenders += [f"{rel}: {n}" for n in _imports(path) if n.startswith("pets.server")]
    assert not offenders


def test_a_child_server_that_dies_says_how():
    from pets.errors import PetsError
    from pets.server.run import ServerProcess, _why_not_up

    with pytest.raises(PetsError, match="exited with code 2 before it started"):
        with ServerProcess(["--backbone", "bert-tiny", "--max-batch", "0"], startup_s=60):
            pass
    assert "out of memory" in _why_not_up(-9, 300)
    assert _why_not_up(None, 300) == "did not start within 300 s"
