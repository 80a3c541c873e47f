"""The `pets` command: demo and benchmarks (more subcommands land with their issues)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import pets


def _demo(args: argparse.Namespace) -> int:
    from pets.demo import run_demo

    run_demo(padding=args.padding)
    return 0


def _bench_overhead(args: argparse.Namespace) -> int:
    from pets.bench.overhead import OverheadConfig, run_overhead, summary_lines

    cfg = OverheadConfig(preset=args.preset, tasks=args.tasks, seq_len=args.seq_len,
                         repeats=args.repeats, device=args.device, dtype=args.dtype,
                         padding=args.padding, systems=tuple(args.systems.split(",")))
    df = run_overhead(cfg)
    code = _print_and_save(df.drop(columns=["preset", "device", "dtype", "seq_len"]), args,
                           f"overhead-{args.preset}-{args.dtype}")
    print("\n".join(summary_lines(df)))
    return code


def _bench_padding(args: argparse.Namespace) -> int:
    from pets.bench.padding import PaddingConfig, run_padding

    df = run_padding(PaddingConfig(preset=args.preset, tasks=args.tasks, repeats=args.repeats,
                                   device=args.device, dtype=args.dtype))
    return _print_and_save(df, args, f"padding-{args.preset}")


def _print_and_save(df, args: argparse.Namespace, stem: str) -> int:
    import pandas as pd

    from pets.bench.timing import device_slug

    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))
    out = Path(args.out or f"docs/results/{device_slug(args.device)}/{stem}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"wrote {out}")
    return 0


BENCHES: dict[str, Callable[[argparse.Namespace], int]] = {
    "overhead": _bench_overhead, "padding": _bench_padding}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pets", description=pets.__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="five PET tasks on the real MiniLM backbone, one mixed batch")
    demo.add_argument("--padding", default=None, choices=["macro", "mini", "none"])
    demo.set_defaults(fn=_demo)

    bench = sub.add_parser("bench", help="run a benchmark and write its CSV")
    bench.add_argument("name", choices=sorted(BENCHES))
    bench.add_argument("--preset", default="bert-base")
    bench.add_argument("--tasks", type=int, default=64)
    bench.add_argument("--seq-len", type=int, default=64)
    bench.add_argument("--repeats", type=int, default=5)
    bench.add_argument("--device", default="cpu")
    bench.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    bench.add_argument("--padding", default=None, choices=["macro", "mini", "none"])
    bench.add_argument("--systems", default="base,pets,seqs,seqs-hf,peft",
                       help="comma-separated systems to run (overhead)")
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
