"""`pets cluster replay`: its options and what it prints and writes."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def cluster_replay(args: argparse.Namespace) -> int:
    from pets.cluster import Catalog, ClusterConfig, replay_cluster
    from pets.serving import ServeConfig, load_trace

    trace = load_trace(args.trace)
    faults = tuple(_fault(f) for f in args.kill)
    cfg = ClusterConfig(workers=args.workers, backend=args.backend, balancer=args.balancer,
                        interval_s=args.interval_s, window_s=args.window_s,
                        threshold=args.threshold, bandwidth_gbs=args.bandwidth_gbs,
                        memory_budget_mb=args.budget_mb, faults=faults, address=args.address,
                        devices=tuple(args.devices.split(",")) if args.devices else None)
    catalog = Catalog.for_trace(trace, args.preset, with_params=args.backend != "sim")
    serve = ServeConfig(policy=args.policy, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                        queue_limit=args.queue_limit, slo_ms=args.slo_ms)
    rep = replay_cluster(trace, catalog, cfg, serve)
    out = Path(args.out or "out/cluster")
    stem = f"{Path(args.trace).stem}-{args.balancer}-{args.backend}-x{args.workers}"
    out.mkdir(parents=True, exist_ok=True)
    rep.report.to_csv(out / f"{stem}-requests.csv")
    rep.loads().to_csv(out / f"{stem}-load.csv", index=False)
    rep.migration_log().to_csv(out / f"{stem}-migrations.csv", index=False)
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(pd.Series(rep.summary()).to_string())
        print("\nper worker:\n" + rep.per_worker().to_string(index=False))
        log = rep.migration_log()
        print(f"\nmigrations: {len(log)} ({', '.join(f'{k} {n}' for k, n in log.kind.value_counts().items())})")
    for line in rep.report.log:
        print(line)
    print(f"wrote {out}/{stem}-{{requests,load,migrations}}.csv")
    return 0


def _fault(text: str):
    from pets.cluster import Fault
    from pets.errors import InvalidSpecError

    try:
        worker, at = text.split("@")
        return Fault(float(at), int(worker))
    except ValueError:
        raise InvalidSpecError(f"--kill takes WORKER@SECONDS, e.g. 1@2.5; got {text!r}") from None


def add_cluster_parser(sub) -> None:
    from pets.cluster import BACKENDS, BALANCERS

    cl = sub.add_parser("cluster", help="replay traces on several workers (sim or Ray)")
    csub = cl.add_subparsers(dest="cluster_command", required=True)
    rep = csub.add_parser("replay", help="replay a trace on a cluster of workers")
    rep.add_argument("trace")
    rep.add_argument("--workers", type=int, default=4)
    rep.add_argument("--backend", default="sim", choices=sorted(BACKENDS))
    rep.add_argument("--balancer", default="migrate", choices=sorted(BALANCERS))
    rep.add_argument("--preset", default="bert-tiny")
    rep.add_argument("--policy", default="cb-pad")
    rep.add_argument("--max-batch", type=int, default=32)
    rep.add_argument("--max-wait-ms", type=float, default=20.0)
    rep.add_argument("--queue-limit", type=int, default=1024, help="per worker")
    rep.add_argument("--slo-ms", type=float, default=None)
    rep.add_argument("--interval-s", type=float, default=0.5, help="balancer period")
    rep.add_argument("--window-s", type=float, default=2.0, help="load window the balancer sees")
    rep.add_argument("--threshold", type=float, default=0.15,
                     help="migrate acts when the hottest worker is this far above the mean")
    rep.add_argument("--bandwidth-gbs", type=float, default=10.0, help="PET migration link, GB/s")
    rep.add_argument("--budget-mb", type=float, default=None, help="PET memory per worker")
    rep.add_argument("--kill", action="append", default=[], metavar="WORKER@SECONDS",
                     help="fault injection: worker dies at that trace time (repeatable)")
    rep.add_argument("--address", default=None, help="ray: address of an existing cluster")
    rep.add_argument("--devices", default=None, help="ray: cpu or cuda per worker, comma-separated")
    rep.add_argument("--out", default=None, help="folder for the CSVs (default out/cluster)")
    rep.set_defaults(fn=cluster_replay)

