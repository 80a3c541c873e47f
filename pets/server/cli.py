"""`pets serve` and `pets loadgen`: their options, and what they print and write."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from pets.errors import InvalidSpecError
from pets.serving.loop import DEFAULT_SLO_MS


def serve(args: argparse.Namespace) -> int:
    from pets.server.config import ServerConfig
    from pets.server.run import Listen, serve_forever

    if args.threads is not None and args.threads < 1:
        raise InvalidSpecError(f"--threads {args.threads}: give at least 1 (torch threads "
                               "the engine computes with; leave it out for all cores)")
    threads = args.threads or torch.get_num_threads()
    cfg = ServerConfig(system=args.system, policy=args.policy, max_batch=args.max_batch,
                       max_wait_ms=args.max_wait_ms, queue_limit=args.queue_limit,
                       threads=threads)
    # The engine is built on one thread: this thread then keeps no OpenMP pool beside the
    # scheduler's, whose batches would otherwise run 1.3-1.4x slower (pets.server.scheduler).
    torch.set_num_threads(1)
    engine = build_engine(args)
    make_scheduler = BACKENDS[args.backend](args)
    print(f"pets serve: {engine.model_name} ({str(engine.backbone.dtype).removeprefix('torch.')}) "
          f"on {args.device}, {len(engine.tasks)} tasks, system {cfg.system}, policy {cfg.policy}, "
          f"max_batch {cfg.max_batch}, max_wait_ms {cfg.max_wait_ms:g}, queue_limit "
          f"{cfg.queue_limit}, backend {args.backend} ({args.workers} workers), "
          f"{threads} torch threads; listening on "
          f"{Listen(args.host, args.port).url}", flush=True)
    serve_forever(engine, cfg, Listen(args.host, args.port), log_level=args.log_level,
                  make_scheduler=make_scheduler)
    return 0


def _local(args: argparse.Namespace):
    if args.workers != 1 or args.address:
        raise InvalidSpecError("--workers and --address need --backend ray (the local backend "
                               "serves on one engine in this process)")
    from pets.server.scheduler import Scheduler

    return Scheduler


def _ray(args: argparse.Namespace):
    """Live Ray workers behind the same API (`pets.cluster.live`); needs the cluster extra."""
    from functools import partial

    try:
        from pets.cluster.live.config import LiveConfig
        from pets.server.cluster import LiveScheduler
    except ImportError as e:
        raise InvalidSpecError(f"--backend ray needs Ray ({e}); pip install -e '.[cluster]'") from None
    return partial(LiveScheduler, live=LiveConfig(workers=args.workers, address=args.address))


# --backend -> the scheduler factory `pets serve` runs
BACKENDS = {"local": _local, "ray": _ray}


def build_engine(args: argparse.Namespace):
    """The engine `pets serve` runs: a preset (random weights), MiniLM or a checkpoint folder;
    tasks from task folders / PEFT adapters (--tasks) and random tasks for a trace (--trace-tasks,
    the same tasks `pets replay` makes for it)."""
    import pets
    from pets.config import MINILM_ALIASES, PRESETS
    from pets.dtypes import resolve_dtype
    from pets.serving import engine_for_trace, load_trace

    dtype = resolve_dtype(args.dtype, args.device)
    if args.trace_tasks:
        if args.backbone not in PRESETS:
            raise InvalidSpecError(f"--trace-tasks builds a preset engine like `pets replay`; "
                                   f"pick --backbone from {sorted(PRESETS)}")
        engine = engine_for_trace(load_trace(args.trace_tasks), args.backbone, device=args.device,
                                  dtype=dtype)
    elif args.backbone in PRESETS:
        engine = pets.PetsEngine.from_preset(args.backbone, device=args.device, dtype=dtype)
    elif args.backbone in MINILM_ALIASES or Path(args.backbone).is_dir():
        engine = pets.PetsEngine.from_pretrained(args.backbone, device=args.device, dtype=dtype)
    else:
        raise InvalidSpecError(f"--backbone {args.backbone!r} is neither a preset "
                               f"({', '.join(sorted(PRESETS))}), minilm, nor a checkpoint folder")
    for folder in args.tasks:
        for task_dir in _task_dirs(Path(folder)):
            if (task_dir / "adapter_config.json").is_file():
                engine.import_peft(task_dir, name=task_dir.name)
            else:
                engine.load_task(task_dir)
    return engine


def _task_dirs(folder: Path) -> list[Path]:
    """`folder` itself when it is a task folder or PEFT adapter, else its subfolders that are."""
    markers = ("pet.json", "adapter_config.json")
    if any((folder / m).is_file() for m in markers):
        return [folder]
    found = sorted(d for d in folder.iterdir() if d.is_dir()
                   and any((d / m).is_file() for m in markers)) if folder.is_dir() else []
    if not found:
        raise InvalidSpecError(f"--tasks {folder}: no task folder (pet.json) or PEFT adapter "
                               "(adapter_config.json) there or in its subfolders")
    return found


def loadgen(args: argparse.Namespace) -> int:
    from pets.server.loadgen import LoadgenConfig, run_loadgen
    from pets.serving import load_trace

    trace = load_trace(args.trace)
    cfg = LoadgenConfig(url=args.url, duration_s=args.duration_s, timeout_s=args.timeout_s,
                        slo_ms=args.slo_ms if args.slo_ms and args.slo_ms > 0 else None,
                        seed=args.seed, max_connections=args.max_connections)
    out_dir = Path(args.out or "out/loadgen")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = run_loadgen(trace, cfg)
    out = report.to_csv(out_dir / f"{Path(args.trace).stem}-online.csv")
    print_report(report)
    print(f"per-request CSV {out}")
    return 0


def print_report(report) -> None:
    """The replay summary of an online run, its per-task table and its lifecycle log."""
    s = report.summary()
    sent = s["requests"]
    print(f"{report.system} against the server: sent {sent} = completed {s['completed']} + "
          f"rejected {s['rejected']} + failed {s['failed']}; offered {s['offered_rps']:.1f} req/s")
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(pd.Series(s).to_string())
        print("\nper task:\n" + report.per_task().to_string(index=False))
    reasons = report.frame().query("status != 'completed'").reason.value_counts().head(5)
    for reason, n in reasons.items():
        print(f"{n} x {reason}")
    for line in report.log:
        print(line)


def add_server_parsers(sub) -> None:
    """`pets serve` and `pets loadgen` (`pets serve-bench` is `pets bench serve`)."""
    from pets.dtypes import CHOICES as DTYPE_CHOICES
    from pets.server.config import SERVER_SYSTEMS, ServerConfig

    d = ServerConfig()
    srv = sub.add_parser("serve", help="serve tasks over HTTP (FastAPI + uvicorn)",
                         description="An HTTP server over one engine: /health, /v1/tasks, "
                         "/v1/classify, /v1/embeddings, /v1/models (OpenAI-compatible), /metrics "
                         "(Prometheus). Requests are batched like `pets replay` batches them.")
    srv.add_argument("--backbone", default="bert-tiny",
                     help="a preset (random weights), minilm, or a checkpoint folder "
                          "(default %(default)s)")
    srv.add_argument("--tasks", nargs="*", default=[], metavar="DIR",
                     help="task folders or PEFT adapters (or folders holding them) to load")
    srv.add_argument("--trace-tasks", default=None, metavar="TRACE",
                     help="load random tasks for every task of this trace, as `pets replay` does")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--system", default=d.system, choices=list(SERVER_SYSTEMS),
                     help="pets: one engine; seqs: one dense model copy per task")
    srv.add_argument("--policy", default=d.policy)
    srv.add_argument("--max-batch", type=int, default=d.max_batch)
    srv.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms)
    srv.add_argument("--queue-limit", type=int, default=d.queue_limit,
                     help="queries waiting at most; beyond it requests get 429 (default %(default)s)")
    srv.add_argument("--backend", default="local", choices=sorted(BACKENDS),
                     help="local: one engine in this process; ray: --workers live Ray actors, "
                     "each with the backbone and its share of the tasks")
    srv.add_argument("--workers", type=int, default=1, help="Ray workers (--backend ray)")
    srv.add_argument("--address", default=None,
                     help="an existing Ray cluster to join, e.g. ray://head:10001 or auto "
                     "(--backend ray; default: start a local one)")
    srv.add_argument("--device", default="cpu")
    srv.add_argument("--threads", type=int, default=None,
                     help="torch threads the engine computes with (default: all cores; on a "
                          "small machine that also runs the clients, fewer keep batches from "
                          "stalling behind the HTTP work)")
    srv.add_argument("--dtype", default="auto", choices=list(DTYPE_CHOICES))
    srv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info"])
    srv.set_defaults(fn=serve)

    lg = sub.add_parser("loadgen", help="replay a trace against a running server, open loop",
                        description="Send a trace's requests at their arrival times to a "
                        "`pets serve` server; write the per-request CSV and summary of `pets "
                        "replay`. completed + rejected + failed == sent.")
    lg.add_argument("trace")
    lg.add_argument("--url", default="http://127.0.0.1:8000")
    lg.add_argument("--duration-s", type=float, default=None,
                    help="send only the requests arriving in the first this many seconds")
    lg.add_argument("--timeout-s", type=float, default=30.0,
                    help="per request; a later answer counts as failed (default %(default)s)")
    lg.add_argument("--slo-ms", type=float, default=DEFAULT_SLO_MS,
                    help="p99 latency target; goodput counts requests within it (0: none)")
    lg.add_argument("--max-connections", type=int, default=1024)
    lg.add_argument("--seed", type=int, default=0, help="seed of the random token ids")
    lg.add_argument("--out", default=None, help="folder for the per-request CSV (default out/loadgen)")
    lg.set_defaults(fn=loadgen)
