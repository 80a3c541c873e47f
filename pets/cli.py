"""The `pets` command: demo, profile and benchmarks."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import pandas as pd

import pets


def _demo(args: argparse.Namespace) -> int:
    from pets.demo import run_demo

    run_demo(padding=args.padding)
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    import subprocess

    home = Path(__file__).resolve().parents[1] / "app" / "Home.py"
    if not home.is_file():
        raise pets.PetsError(f"{home} not found: run `pets dashboard` from a source checkout")
    cmd = [sys.executable, "-m", "streamlit", "run", str(home), f"--server.port={args.port}",
           f"--server.headless={str(args.headless).lower()}"]
    return subprocess.call(cmd)


def _profile(args: argparse.Namespace) -> int:
    import torch

    from pets.batching.cost import profile_path
    from pets.batching.profiler import calibrate, profile_engine, with_scale
    from pets.timing import device_slug

    eng = pets.PetsEngine.from_preset(args.preset, device=args.device, dtype=getattr(torch, args.dtype))
    out = Path(args.out or profile_path(device_slug(args.device), args.preset, args.dtype))
    if args.calibrate_only:
        df = pd.read_csv(out)
    else:
        df = profile_engine(eng, repeats=args.repeats)
    factor = calibrate(eng, df)
    df = with_scale(df, factor)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.assign(preset=args.preset, device=device_slug(args.device), dtype=args.dtype).to_csv(out, index=False)
    print(f"calibration: measured / predicted on mixed batches = {factor:.3f}")
    print(df[df.op != "scale"].pivot_table(index="batch", columns=["op", "pet"],
                                            values="median_s").to_string(float_format="{:.5f}".format))
    print(f"wrote {out}")
    return 0


def _show(df: pd.DataFrame) -> None:
    with pd.option_context("display.width", 220, "display.max_columns", 30,
                           "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))


def _save(df: pd.DataFrame, args: argparse.Namespace, stem: str) -> None:
    from pets.timing import device_slug

    out = Path(args.out or f"docs/results/{device_slug(args.device)}/{stem}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"wrote {out}")


def _bench_overhead(args: argparse.Namespace) -> int:
    from pets.bench.overhead import OverheadConfig, run_overhead, summary_lines

    preset = args.preset or "bert-base"
    df = run_overhead(OverheadConfig(
        preset=preset, tasks=args.tasks or 64, seq_len=args.seq_len, repeats=args.repeats,
        device=args.device, dtype=args.dtype, padding=args.padding,
        systems=tuple(args.systems.split(","))))
    _show(df.drop(columns=["preset", "device", "dtype", "seq_len"]))
    _save(df, args, f"overhead-{preset}-{args.dtype}")
    print("\n".join(summary_lines(df)))
    return 0


def _bench_padding(args: argparse.Namespace) -> int:
    from pets.bench.padding import PaddingConfig, run_padding

    preset = args.preset or "distilbert"
    df = run_padding(PaddingConfig(preset=preset, tasks=args.tasks or 32, repeats=args.repeats,
                                   device=args.device, dtype=args.dtype))
    _show(df)
    _save(df, args, f"padding-{preset}")
    return 0


def _bench_costmodel(args: argparse.Namespace) -> int:
    from pets.bench.costmodel import CostModelBenchConfig, error_summary, run_costmodel

    preset = args.preset or "distilbert"
    df = run_costmodel(CostModelBenchConfig(
        preset=preset, tasks=args.tasks or 64, batches=args.batches, repeats=args.repeats,
        device=args.device, dtype=args.dtype, padding=args.padding or "none"))
    _save(df, args, f"costmodel-{preset}")
    s = error_summary(df)
    print(f"cost model {df.source.iloc[0]}: {s['batches']} random batches, "
          f"median |rel error| {s['median_abs_rel_error']:.1%}, p90 {s['p90_abs_rel_error']:.1%}")
    return 0


def _bench_batching(args: argparse.Namespace) -> int:
    from pets.bench.batching import SCALES, BatchingConfig, headline, run_batching

    scale = dict(SCALES[args.scale])
    if args.preset:
        scale["preset"] = args.preset
    if args.queries:
        scale["queries"] = args.queries
    df = run_batching(BatchingConfig(**scale, repeats=args.repeats, device=args.device,
                                     dtype=args.dtype, padding=args.padding,
                                     max_batch=args.max_batch))
    _save(df, args, f"batching-{scale['preset']}-{args.scale}")
    print(f"{scale['preset']}, {scale['queries']} queries per cell, max_batch {args.max_batch}, "
          f"padding {df.padding.iloc[0]}: throughput vs fixed")
    with pd.option_context("display.width", 220, "display.float_format", "{:.3f}".format):
        print(headline(df).to_string())
    plan_ms = df.groupby("policy").plan_ms.median()
    print("median planning time (ms): " + ", ".join(f"{p} {v:.1f}" for p, v in plan_ms.items()))
    return 0


def _trace_gen(args: argparse.Namespace) -> int:
    from pets.serving import TraceSpec, generate_trace, save_trace

    spec = TraceSpec(requests=args.requests, rate=args.rate, arrival=args.arrival, cv=args.cv,
                     tasks=args.tasks, popularity=args.popularity, alpha=args.alpha,
                     lengths=args.lengths, mean_len=args.mean_len, std_len=args.std_len,
                     max_len=args.max_len, seed=args.seed)
    trace = generate_trace(spec)
    print(f"wrote {save_trace(trace, args.out)}: {len(trace.rows)} requests over "
          f"{trace.duration_s:.1f} s, {len(trace.tasks)} tasks")
    return 0


def _trace_azure(args: argparse.Namespace) -> int:
    from pets.serving import save_trace
    from pets.serving.azure import import_azure

    trace = import_azure(args.file, top=args.top, minutes=args.minutes,
                         start_minute=args.start_minute, seq_len=args.seq_len, scale=args.scale,
                         seed=args.seed)
    print(f"wrote {save_trace(trace, args.out)}: {len(trace.rows)} requests, {len(trace.tasks)} tasks")
    return 0


def _replay(args: argparse.Namespace) -> int:
    import torch

    from pets.serving import ServeConfig, engine_for_trace, load_trace, replay

    trace = load_trace(args.trace)
    eng = engine_for_trace(trace, args.preset, device=args.device, dtype=getattr(torch, args.dtype))
    cfg = ServeConfig(policy=args.policy, executor=args.executor, max_batch=args.max_batch,
                      max_wait_ms=args.max_wait_ms, queue_limit=args.queue_limit, slo_ms=args.slo_ms)
    rows = []
    for system in args.system.split(","):
        report = replay(trace, eng, system=system, config=cfg)
        out = Path(args.out or "out/replay") / f"{Path(args.trace).stem}-{system}-{args.executor}.csv"
        report.to_csv(out)
        rows.append(report.summary())
        print(f"{system}: per-request CSV {out}")
    _show(pd.DataFrame(rows))
    return 0


def _bench_replay(args: argparse.Namespace) -> int:
    from pets.bench.replay import ReplayBenchConfig, replay_ratios, run_replay_bench

    preset = args.preset or "distilbert"
    df, rate = run_replay_bench(ReplayBenchConfig(
        preset=preset, requests=args.queries or 1000, tasks=args.tasks or 32,
        max_batch=args.max_batch, device=args.device, dtype=args.dtype))
    print(f"trace: gamma cv=2, zipf 1.0, {args.tasks or 32} tasks, rate {rate:.1f} req/s "
          f"(1.5 x the simulated seqs capacity)")
    _show(df.drop(columns=["preset"]))
    _save(df, args, f"replay-{preset}")
    print("\n".join(replay_ratios(df)))
    return 0


def _bench_cluster(args: argparse.Namespace) -> int:
    from pets.bench.cluster import cluster_config, headline, run_cluster_bench

    kw = {"preset": args.preset} if args.preset else {}
    if args.tasks:
        kw["task_counts"] = (args.tasks,)
    df = run_cluster_bench(cluster_config(args.scale, **kw))
    print(df.pivot_table(index=["budget", "tasks", "workers", "alpha"], columns="balancer",
                         values="vs_static").round(2).to_string())
    print("\n".join(headline(df)))
    _save(df, args, "cluster")
    return 0


def _bench_cluster_ray(args: argparse.Namespace) -> int:
    from pets.bench.cluster_ray import run_ray_check

    df = run_ray_check(preset_name=args.preset or "bert-tiny", tasks=args.tasks or 16)
    print(df.round(3).to_string(index=False))
    _save(df, args, "cluster-ray")
    return 0


def _bench_paper(name: str) -> Callable[[argparse.Namespace], int]:
    """`pets bench NAME --scale quick|paper` for the paper-figure benches (pets/bench/paper.py)."""
    def run(args: argparse.Namespace) -> int:
        from pets.bench.paper import run_bench

        df, shown, lines = run_bench(name, args)
        _show(shown)
        _save(df, args, name)
        print("\n".join(lines))
        return 0
    return run


BENCHES: dict[str, Callable[[argparse.Namespace], int]] = {
    **{n: _bench_paper(n) for n in ("capacity", "throughput", "systems", "breakdown", "streams")},
    "cluster": _bench_cluster, "cluster-ray": _bench_cluster_ray,
    "overhead": _bench_overhead, "padding": _bench_padding,
    "costmodel": _bench_costmodel, "batching": _bench_batching, "replay": _bench_replay,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pets", description=pets.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="five PET tasks on the real MiniLM backbone, one mixed batch")
    demo.add_argument("--padding", default=None, choices=["macro", "mini", "none"])
    demo.set_defaults(fn=_demo)

    dash = sub.add_parser("dashboard", help="the Streamlit dashboard (app/Home.py)")
    dash.add_argument("--port", type=int, default=8501)
    dash.add_argument("--headless", action="store_true", help="do not open a browser")
    dash.set_defaults(fn=_dashboard)

    prof = sub.add_parser("profile", help="measure the alpha/beta cost-model grid on a device")
    prof.add_argument("--preset", default="bert-tiny")
    prof.add_argument("--device", default="cpu")
    prof.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    prof.add_argument("--repeats", type=int, default=3)
    prof.add_argument("--calibrate-only", action="store_true",
                      help="keep the measured grid, only re-fit the calibration factor")
    prof.add_argument("--out", default=None, help="CSV path (default data/profiles/<device>/<preset>.csv)")
    prof.set_defaults(fn=_profile)

    trace = sub.add_parser("trace", help="generate or import request traces")
    tsub = trace.add_subparsers(dest="trace_command", required=True)
    gen = tsub.add_parser("gen", help="a seeded synthetic trace")
    gen.add_argument("--out", required=True)
    gen.add_argument("--requests", type=int, default=1000)
    gen.add_argument("--rate", type=float, default=50.0, help="requests per second")
    gen.add_argument("--arrival", default="gamma", choices=["poisson", "gamma"])
    gen.add_argument("--cv", type=float, default=1.0, help="coefficient of variation (gamma)")
    gen.add_argument("--tasks", type=int, default=32)
    gen.add_argument("--popularity", default="zipf", choices=["uniform", "zipf", "powerlaw"])
    gen.add_argument("--alpha", type=float, default=1.0)
    gen.add_argument("--lengths", default="normal", choices=["fixed", "normal", "lognormal"])
    gen.add_argument("--mean-len", type=float, default=32.0)
    gen.add_argument("--std-len", type=float, default=8.0)
    gen.add_argument("--max-len", type=int, default=128)
    gen.add_argument("--seed", type=int, default=0)
    gen.set_defaults(fn=_trace_gen)
    az = tsub.add_parser("import-azure", help="Azure Functions 2019 per-minute invocations")
    az.add_argument("file")
    az.add_argument("--out", required=True)
    az.add_argument("--top", type=int, default=32)
    az.add_argument("--minutes", type=int, default=60)
    az.add_argument("--start-minute", type=int, default=1)
    az.add_argument("--seq-len", type=int, default=32)
    az.add_argument("--scale", type=float, default=1.0)
    az.add_argument("--seed", type=int, default=0)
    az.set_defaults(fn=_trace_azure)

    rep = sub.add_parser("replay", help="replay a trace against one or more systems")
    rep.add_argument("trace")
    rep.add_argument("--system", default="pets", help="pets, seqs, peft, base (comma-separated)")
    rep.add_argument("--executor", default="sim", choices=["sim", "real"])
    rep.add_argument("--policy", default="best")
    rep.add_argument("--preset", default="bert-tiny")
    rep.add_argument("--max-batch", type=int, default=32)
    rep.add_argument("--max-wait-ms", type=float, default=20.0)
    rep.add_argument("--queue-limit", type=int, default=1024)
    rep.add_argument("--slo-ms", type=float, default=None)
    rep.add_argument("--device", default="cpu")
    rep.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    rep.add_argument("--out", default=None, help="folder for per-request CSVs (default out/replay)")
    rep.set_defaults(fn=_replay)

    from pets.cluster.cli import add_cluster_parser

    add_cluster_parser(sub)

    bench = sub.add_parser("bench", help="run a benchmark, print it, write its CSV")
    bench.add_argument("name", choices=sorted(BENCHES))
    bench.add_argument("--preset", default=None, help="model preset (default per benchmark)")
    bench.add_argument("--scale", default="quick", choices=["quick", "paper"])
    bench.add_argument("--tasks", type=int, default=None)
    bench.add_argument("--queries", type=int, default=None)
    bench.add_argument("--batches", type=int, default=200)
    bench.add_argument("--max-batch", type=int, default=32)
    bench.add_argument("--seq-len", type=int, default=64)
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    bench.add_argument("--padding", default=None, choices=["macro", "mini", "none"])
    bench.add_argument("--systems", default="base,pets,seqs,seqs-hf,peft",
                       help="comma-separated systems (overhead)")
    bench.add_argument("--out", default=None, help="CSV path (default docs/results/<device>/...)")
    bench.set_defaults(fn=lambda a: BENCHES[a.name](a))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except pets.PetsError as e:
        print(f"pets: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
