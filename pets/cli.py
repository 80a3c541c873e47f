"""The `pets` command: demo, dashboard, profile, traces, replay, cluster and benchmarks.

`pets bench NAME` is generated from the bench registry (`pets.bench.registry`): one
sub-command per bench, one option per field of its config, the help giving each
scale's default."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Callable

import pandas as pd

import pets
from pets.dtypes import CHOICES as DTYPE_CHOICES, dtype_name, resolve_dtype
from pets.bench.registry import BENCHES, Bench, config
from pets.serving.compare import DEFAULT_REPEATS
from pets.serving.loop import DEFAULT_SLO_MS
from pets.timing import device_slug


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

    eng = pets.PetsEngine.from_preset(args.preset, device=args.device, dtype=args.dtype)
    dtype = dtype_name(eng.backbone.dtype)
    committed = profile_path(device_slug(args.device), args.preset, dtype)
    default = committed if args.refresh_committed else Path("out/profiles") / committed.parent.name / committed.name
    out = Path(args.out or default)
    if args.calibrate_only:
        df = pd.read_csv(out)
    else:
        df = profile_engine(eng, repeats=args.repeats)
    factor = calibrate(eng, df)
    df = with_scale(df, factor)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.assign(preset=args.preset, device=device_slug(args.device), dtype=dtype).to_csv(out, index=False)
    print(f"calibration: measured / predicted on mixed batches = {factor:.3f}")
    print(df[df.op != "scale"].pivot_table(index="batch", columns=["op", "pet"],
                                            values="median_s").to_string(float_format="{:.5f}".format))
    print(f"wrote {out}")
    return 0


def _show(df: pd.DataFrame) -> None:
    with pd.option_context("display.width", 220, "display.max_columns", 30,
                           "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))


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
    from pets.serving import ServeConfig, engine_for_trace, load_trace
    from pets.serving.compare import aggregate, compare

    trace = load_trace(args.trace)
    dtype = resolve_dtype(args.dtype, args.device)
    cfg = ServeConfig(policy=args.policy, executor=args.executor, max_batch=args.max_batch,
                      max_wait_ms=args.max_wait_ms, queue_limit=args.queue_limit,
                      slo_ms=args.slo_ms if args.slo_ms and args.slo_ms > 0 else None)
    systems = [s for s in args.system.split(",") if s]
    out_dir = Path(args.out or "out/replay")
    out_dir.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails before the replays
    engine = engine_for_trace(trace, args.preset, device=args.device, dtype=dtype)
    lifecycle = any(not r.is_request for r in trace.rows)
    make_engine = ((lambda: engine_for_trace(trace, args.preset, device=args.device, dtype=dtype))
                   if lifecycle else (lambda: engine))
    runs, reports = compare(trace, systems, cfg, make_engine=make_engine, repeats=args.repeats,
                            progress=True)
    for system, report in reports.items():
        out = out_dir / f"{Path(args.trace).stem}-{system}-{args.executor}.csv"
        report.to_csv(out)
        print(f"{system}: per-request CSV {out} (last run)")
    agg = aggregate(runs)
    print(replay_header(agg, args.preset, dtype_name(engine.backbone.dtype), cfg))
    _show(replay_table(agg))
    for line in replay_notes(agg):
        print(line)
    return 0


def replay_header(agg: pd.DataFrame, preset: str, dtype: str, cfg) -> str:
    first = agg.iloc[0]
    slo = f"p99 <= {cfg.slo_ms:g} ms" if cfg.slo_ms else "none (goodput = throughput)"
    runs = int(agg.repeats.max())
    how = ("1 run (sim: deterministic)" if cfg.executor == "sim" else
           f"median [min-max] of {runs} run(s), systems interleaved, warmed up before timing")
    return (f"{preset} ({dtype}), {cfg.executor} executor; offered {first.offered_rps:.1f} req/s; "
            f"SLO {slo}; {how}")


def replay_table(agg: pd.DataFrame) -> pd.DataFrame:
    """The replay summary in plain units: req/s and ms, spreads as [min-max]."""
    from pets.serving.compare import spread_text

    spread = int(agg.repeats.max()) > 1
    out = pd.DataFrame({"system": agg.system, "runs": agg.repeats,
                        "completed": agg.completed.astype(int),
                        "rejected": agg.rejected.astype(int), "failed": agg.failed.astype(int),
                        "offered req/s": agg.offered_rps.map("{:.1f}".format),
                        "capacity req/s": agg.capacity_rps.map("{:.1f}".format)})
    for col, m in (("throughput req/s", "throughput_rps"), ("goodput req/s", "goodput_rps"),
                   ("mean ms", "mean_ms"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms")):
        out[col] = ([spread_text(r, m) for _, r in agg.iterrows()] if spread
                    else agg[m].map("{:.1f}".format))
    return out


def replay_notes(agg: pd.DataFrame) -> list[str]:
    """What the table means: load against capacity, impossible orderings."""
    from pets.serving.compare import ordering_flags

    lines = []
    offered = float(agg.offered_rps.iloc[0])
    light = agg[agg.capacity_rps > 2 * offered]
    if len(light) == len(agg) and len(agg) > 1:
        lines.append(f"note: the offered load ({offered:.1f} req/s) is under half of every system's "
                     "capacity, so all keep up and tie on throughput; compare latency, or raise the "
                     "load (pets trace gen --rate, pets bench sweep) to see them differ")
    lines += [f"warning: {f}" for f in ordering_flags(agg)]
    return lines


def _items(parse: Callable[[str], Any]) -> Callable[[str], tuple]:
    return lambda text: tuple(parse(t) for t in text.split(",") if t)


def _shape(text: str) -> tuple[int, int]:
    b, _, n = text.partition("x")
    return int(b), int(n)


def _maybe_float(text: str) -> float | None:
    return None if text.lower() in ("none", "") else float(text)


# Config field annotation -> how its command-line text is read (fields of other types have no option).
PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str, "str | None": str, "int": int, "int | None": int, "float": float,
    "float | None": float, "tuple[str, ...]": _items(str), "tuple[int, ...]": _items(int),
    "tuple[float, ...]": _items(float), "tuple[float | None, ...]": _items(_maybe_float),
    "tuple[int, int]": _shape, "tuple[tuple[int, int], ...]": _items(_shape),
}
METAVAR = {"tuple[int, int]": "BxL", "tuple[tuple[int, int], ...]": "BxL,BxL"}


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_text(v) if not isinstance(v, tuple) else "x".join(map(str, v)) for v in value)
    return str(value)


def _defaults(bench: Bench, name: str) -> str:
    values = {s: getattr(cfg, name) for s, cfg in bench.scales.items()}
    if len(set(map(_text, values.values()))) == 1:
        return f"default {_text(next(iter(values.values())))}"
    return "default " + ", ".join(f"{_text(v)} ({s})" for s, v in values.items())


def add_bench_parser(sub) -> None:
    """`pets bench NAME` for every registered bench, and `pets serve-bench`."""
    bench_p = sub.add_parser("bench", help="run a benchmark, print it, write its CSV")
    names = bench_p.add_subparsers(dest="bench", required=True, metavar="NAME")
    for bench in BENCHES.values():
        _bench_options(names.add_parser(bench.name, help=bench.about, description=bench.about),
                       bench)
    # the online server's bench under the server's commands too: the same options and code
    serve = BENCHES["serve"]
    _bench_options(sub.add_parser("serve-bench", help=f"{serve.about} (= pets bench serve)",
                                  description=serve.about), serve)


def _bench_options(p: argparse.ArgumentParser, bench: Bench) -> None:
    """A bench's command line: --scale, one option per config field, --out."""
    p.add_argument("--scale", default="quick", choices=list(bench.scales))
    for f in fields(bench.config_class):
        parse = PARSERS.get(str(f.type))
        if parse is None or f.default is MISSING and f.default_factory is MISSING:
            continue
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=parse, default=None,
                       metavar=METAVAR.get(str(f.type)), help=_defaults(bench, f.name))
    p.add_argument("--out", default=None, help="CSV path (default out/results/<device>/<stem>.csv)")
    p.add_argument("--refresh-committed", action="store_true",
                   help="write to docs/results/<device>/ instead, replacing the committed result")
    p.set_defaults(fn=lambda args, b=bench: run_bench(b, args))


def run_bench(bench: Bench, args: argparse.Namespace) -> int:
    overrides = {f.name: getattr(args, f.name, None) for f in fields(bench.config_class)}
    cfg = config(bench.name, args.scale, **overrides)
    df = bench.execute(cfg).assign(scale=args.scale)
    _show(df[[c for c in bench.columns if c in df]] if bench.columns else df)
    device = getattr(cfg, "device", "cpu")
    root = "docs/results" if args.refresh_committed else "out/results"
    out = Path(args.out or f"{root}/{device_slug(device)}/{bench.file_stem(cfg, args.scale)}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"wrote {out}")
    print("\n".join(bench.summary(df)))
    return 0


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
    prof.add_argument("--device", default="cpu", type=device_arg)
    prof.add_argument("--dtype", default="auto", choices=list(DTYPE_CHOICES))
    prof.add_argument("--repeats", type=int, default=3)
    prof.add_argument("--calibrate-only", action="store_true",
                      help="keep the measured grid, only re-fit the calibration factor")
    prof.add_argument("--out", default=None, help="CSV path (default out/profiles/<device>/<preset>.csv)")
    prof.add_argument("--refresh-committed", action="store_true",
                      help="write to data/profiles/, replacing the profile the simulator uses")
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
    rep.add_argument("--slo-ms", type=float, default=DEFAULT_SLO_MS,
                     help="p99 latency target; goodput counts requests within it (0: none; "
                          "default %(default)s)")
    rep.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                     help="real executor: runs per system, systems interleaved; the table shows "
                          "median [min-max] (default %(default)s; sim runs once)")
    rep.add_argument("--device", default="cpu", type=device_arg)
    rep.add_argument("--dtype", default="auto", choices=list(DTYPE_CHOICES))
    rep.add_argument("--out", default=None, help="folder for per-request CSVs (default out/replay)")
    rep.set_defaults(fn=_replay)

    from pets.cluster.cli import add_cluster_parser

    add_cluster_parser(sub)

    from pets.server.cli import add_server_parsers

    add_server_parsers(sub)

    from pets.train.cli import add_train_parsers

    add_train_parsers(sub)

    add_bench_parser(sub)
    return p


# Errors a command can meet outside the library's checks (a file that cannot be written,
# a device torch does not know) -> what to tell the user. Anything else is a bug: traceback.
USER_ERRORS: dict[type[BaseException], str] = {
    pets.PetsError: "",
    OSError: "check the path and its permissions (--out, the trace, the task folder)",
    RuntimeError: "check --device, --dtype and the machine's memory",
    ValueError: "check the option values",
}
DEBUG_ENV = "PETS_DEBUG"  # set to 1 to see the traceback of a user error


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except tuple(USER_ERRORS) as e:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"pets: error: {one_line(e)}", file=sys.stderr)
        return 2


def one_line(e: BaseException) -> str:
    """A user error as one line: its message, and for non-PetsErrors its type and a hint."""
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, pets.PetsError):
        return text
    hint = next(h for cls, h in USER_ERRORS.items() if isinstance(e, cls))
    return f"{type(e).__name__}: {text[:300]}; {hint}"


def device_arg(text: str) -> str:
    """An argparse type: a torch device this machine has (cpu, cuda, cuda:1, mps)."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has no CUDA device; use cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(
            f"{text!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r}: PetS runs on cpu or cuda")
    return text


if __name__ == "__main__":
    sys.exit(main())
