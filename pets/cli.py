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


def _profile(args: argparse.Namespace) -> int:
    import torch

    from pets.batching.cost import profile_path
    from pets.batching.profiler import profile_engine
    from pets.bench.timing import device_slug

    eng = pets.PetsEngine.from_preset(args.preset, device=args.device, dtype=getattr(torch, args.dtype))
    df = profile_engine(eng, repeats=args.repeats)
    out = Path(args.out or profile_path(device_slug(args.device), args.preset, args.dtype))
    out.parent.mkdir(parents=True, exist_ok=True)
    df.assign(preset=args.preset, device=device_slug(args.device), dtype=args.dtype).to_csv(out, index=False)
    print(df.pivot_table(index="batch", columns=["op", "pet"], values="median_s").to_string(
        float_format="{:.5f}".format))
    print(f"wrote {out}")
    return 0


def _show(df: pd.DataFrame) -> None:
    with pd.option_context("display.width", 220, "display.max_columns", 30,
                           "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))


def _save(df: pd.DataFrame, args: argparse.Namespace, stem: str) -> None:
    from pets.bench.timing import device_slug

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


BENCHES: dict[str, Callable[[argparse.Namespace], int]] = {
    "overhead": _bench_overhead, "padding": _bench_padding,
    "costmodel": _bench_costmodel, "batching": _bench_batching,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pets", description=pets.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="five PET tasks on the real MiniLM backbone, one mixed batch")
    demo.add_argument("--padding", default=None, choices=["macro", "mini", "none"])
    demo.set_defaults(fn=_demo)

    prof = sub.add_parser("profile", help="measure the alpha/beta cost-model grid on a device")
    prof.add_argument("--preset", default="bert-tiny")
    prof.add_argument("--device", default="cpu")
    prof.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    prof.add_argument("--repeats", type=int, default=3)
    prof.add_argument("--out", default=None, help="CSV path (default data/profiles/<device>/<preset>.csv)")
    prof.set_defaults(fn=_profile)

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
